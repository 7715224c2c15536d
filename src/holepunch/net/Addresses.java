package holepunch.net;

import java.net.InetAddress;

/** Address helpers that never touch DNS. */
public final class Addresses {
    private Addresses() {
    }

    /** Whether {@code s} is an IPv4 or IPv6 address literal (IPv6 optionally in brackets). */
    public static boolean isIpLiteral(String s) {
        return literal(s) != null;
    }

    /** The address of an IP literal, or null; never a DNS lookup. */
    public static InetAddress literal(String s) {
        if (s == null || s.isEmpty() || s.length() > 64) return null;
        String t = s.startsWith("[") && s.endsWith("]") ? s.substring(1, s.length() - 1) : s;
        try {
            return InetAddress.ofLiteral(t);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
