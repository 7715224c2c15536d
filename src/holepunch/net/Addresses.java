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

    /**
     * {@code ip:port} or {@code [v6]:port} as an address, or null when it is not one; never a DNS
     * lookup. The one parser of host:port text (configuration, candidates, forwarding targets).
     */
    public static InetSocketAddress hostPort(String s) {
        if (s == null) return null;
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1) return null;
        String host = s.substring(0, colon);
        if (host.indexOf(':') >= 0 && !(host.startsWith("[") && host.endsWith("]"))) return null;   // v6 needs brackets
        InetAddress ip = literal(host);
        String p = s.substring(colon + 1);
        if (ip == null || p.length() > 5 || !p.chars().allMatch(c -> c >= '0' && c <= '9')) return null;
        int port = Integer.parseInt(p);
        return port >= 1 && port <= 65535 ? new InetSocketAddress(ip, port) : null;
    }

    /** An address as text: IPv4 dotted, IPv6 in RFC 5952 form ({@code ::1}, not {@code 0:0:0:0:0:0:0:1}). */
    public static String text(InetAddress a) {
        if (!(a instanceof java.net.Inet6Address v6)) return a.getHostAddress();
        byte[] b = v6.getAddress();
        int[] g = new int[8];
        for (int i = 0; i < 8; i++) g[i] = ((b[2 * i] & 0xFF) << 8) | (b[2 * i + 1] & 0xFF);
        // RFC 5952 §4.2: the longest run of two or more zero groups becomes "::" (the first, on a tie).
        int bestStart = -1, bestLen = 1;
        for (int i = 0; i < 8; ) {
            if (g[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && g[j] == 0) j++;
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') sb.append(':');
            sb.append(Integer.toHexString(g[i]));     // §4.3: lowercase, §4.1: no leading zeros
        }
        return sb.toString();
    }

    /** {@code ip:port}, with the IPv6 form bracketed (RFC 5952 §6). */
    public static String text(InetSocketAddress a) {
        String ip = text(a.getAddress());
        return (a.getAddress() instanceof java.net.Inet6Address ? "[" + ip + "]" : ip) + ":" + a.getPort();
    }
}
