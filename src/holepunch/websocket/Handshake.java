package holepunch.websocket;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The server side of the opening handshake (RFC 6455 §4.2): checks the client's request and
 * computes {@code Sec-WebSocket-Accept}. A refusal names the HTTP status, the headers to add and
 * a message saying what was wrong.
 */
public final class Handshake {
    /** §1.3: appended to the client's key before hashing. */
    static final String GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /** The outcome: an accept value, or a refusal. */
    public record Result(String accept, int status, String message, Map<String, String> headers) {
        public boolean accepted() {
            return accept != null;
        }

        static Result refuse(int status, String message) {
            return new Result(null, status, message, Map.of());
        }
    }

    private Handshake() {
    }

    /** {@code header} looks up a request header by name, all values of it (any case of the name). */
    public static Result check(String method, java.util.function.Function<String, List<String>> header) {
        if (!"GET".equals(method)) {
            return new Result(null, 405, "a WebSocket upgrade must be a GET request", Map.of("Allow", "GET"));
        }
        if (joined(header.apply("Host")) == null) return Result.refuse(400, "missing Host header");
        if (!hasToken(header.apply("Upgrade"), "websocket")) {
            return new Result(null, 426, "this endpoint needs a WebSocket upgrade (Upgrade: websocket)",
                    Map.of("Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13"));
        }
        if (!hasToken(header.apply("Connection"), "upgrade")) {
            return Result.refuse(400, "the Connection header must contain the token Upgrade");
        }
        String version = joined(header.apply("Sec-WebSocket-Version"));
        if (version == null || !version.trim().equals("13")) {
            return new Result(null, 426, "unsupported Sec-WebSocket-Version " + (version == null ? "(missing)" : "'" + version + "'")
                    + "; this server speaks version 13", Map.of("Sec-WebSocket-Version", "13"));
        }
        String key = joined(header.apply("Sec-WebSocket-Key"));
        if (key == null) return Result.refuse(400, "missing Sec-WebSocket-Key header");
        key = key.trim();
        if (!isValidKey(key)) return Result.refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64 (§4.1)");
        return new Result(acceptFor(key), 101, "Switching Protocols", Map.of());
    }

    private static final MessageDigest SHA1 = sha1();

    private static MessageDigest sha1() {
        try {
            return MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-1 is required of every JDK", e);
        }
    }

    /** §4.2.2 step 5.4: base64(SHA-1(key + GUID)). */
    public static String acceptFor(String key) {
        MessageDigest md;
        try {
            md = (MessageDigest) SHA1.clone();       // cheaper than a provider lookup per handshake
        } catch (CloneNotSupportedException e) {
            md = sha1();
        }
        return Base64.getEncoder().encodeToString(md.digest((key + GUID).getBytes(StandardCharsets.US_ASCII)));
    }

    static boolean isValidKey(String key) {
        if (key.length() != 24) return false;
        try {
            return Base64.getDecoder().decode(key).length == 16;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** Whether a comma-separated header holds {@code token}, compared case-insensitively (§4.2.1). */
    static boolean hasToken(List<String> values, String token) {
        if (values == null) return false;
        for (String value : values) {
            for (String part : value.split(",")) {
                if (part.trim().toLowerCase(Locale.ROOT).equals(token)) return true;
            }
        }
        return false;
    }

    private static String joined(List<String> values) {
        if (values == null || values.isEmpty()) return null;
        return String.join(",", values);
    }
}
