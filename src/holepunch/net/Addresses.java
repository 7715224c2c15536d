package holepunch.net;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.NetworkChannel;

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

    /** The port a bound channel listens on, or -1 once it is closed. */
    public static int localPort(NetworkChannel channel) {
        try {
            return channel.getLocalAddress() instanceof InetSocketAddress a ? a.getPort() : -1;
        } catch (IOException e) {
            return -1;
        }
    }
}
