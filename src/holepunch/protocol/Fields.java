package holepunch.protocol;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.net.Addresses;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Reading fields of a JSON message: lax on what it does not know, exact on what it uses. */
final class Fields {
    /** Free-text fields (details, remotes) longer than this are cut. */
    static final int MAX_TEXT = 200;
    static final int MAX_HOST_CANDIDATES = 8;

    private Fields() {
    }

    static String string(Map<String, Object> m, String name) {
        return m.get(name) instanceof String s ? s : null;
    }

    static String text(Map<String, Object> m, String name) {
        String s = string(m, name);
        return s == null || s.length() <= MAX_TEXT ? s : s.substring(0, MAX_TEXT);
    }

    /** A probe nonce: 16 bytes in base64url without padding (22 characters). */
    static boolean isProbeNonce(Object v) {
        return v instanceof String s && s.length() == 22 && holepunch.crypto.Keys.unb64(s, 16) != null;
    }

    static String describe(Object v) {
        return v instanceof String s ? "'" + Log.excerpt(s) + "'" : Json.typeName(v) + (v == null ? "" : " " + Log.excerpt(String.valueOf(v)));
    }

    /** A port as the original's int() takes it: an integral number, or a decimal string; 1-65535. */
    static Integer portOf(Object value) {
        long n;
        switch (value) {
            case Long l -> n = l;
            case BigDecimal d -> {
                try {
                    n = d.longValueExact();
                } catch (ArithmeticException e) {
                    return null;
                }
            }
            case String s -> {
                String t = s.strip();
                if (t.startsWith("+")) t = t.substring(1);
                if (t.isEmpty() || t.length() > 5 || !t.chars().allMatch(c -> c >= '0' && c <= '9')) return null;
                n = Long.parseLong(t);
            }
            case null, default -> {
                return null;
            }
        }
        return n >= 1 && n <= 65535 ? (int) n : null;
    }

    /** The valid "ip:port" entries of a list (at most {@value #MAX_HOST_CANDIDATES}); {@code dropped[0]} counts the rest. */
    static List<String> hostPorts(Object value, int[] dropped) {
        List<String> out = new ArrayList<>();
        if (value instanceof List<?> list) {
            for (Object o : list) {
                if (out.size() == MAX_HOST_CANDIDATES) break;
                if (o instanceof String s && Addresses.hostPort(s) != null) out.add(s);
                else dropped[0]++;
            }
        } else if (value != null) {
            dropped[0]++;
        }
        return List.copyOf(out);
    }

    static Long integer(Map<String, Object> m, String name) {
        return m.get(name) instanceof Long l ? l : null;
    }
}
