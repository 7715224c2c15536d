package holepunch.turn;

import java.util.Locale;

/**
 * A TURN server's URI (RFC 7065 §3): {@code turn:host[:port][?transport=udp|tcp]} or
 * {@code turns:host[:port][?transport=tcp]}; the port defaults to 3478 ({@code turn}) or 5349
 * ({@code turns}), the transport to UDP ({@code turn}) or TCP ({@code turns}). An IPv6 host is
 * written in brackets. Immutable; {@link #parse} names what is wrong.
 */
public record TurnUri(boolean secure, String host, int port, Transport transport) {
    public enum Transport { UDP, TCP }

    public static TurnUri parse(String text) {
        String t = text.strip();
        int colon = t.indexOf(':');
        if (colon < 0) throw new IllegalArgumentException("'" + text + "' is not a TURN URI (turn:host[:port][?transport=udp|tcp] or turns:host[:port])");
        String scheme = t.substring(0, colon).toLowerCase(Locale.ROOT);
        boolean secure;
        if (scheme.equals("turn")) secure = false;
        else if (scheme.equals("turns")) secure = true;
        else throw new IllegalArgumentException("'" + text + "': the scheme must be turn or turns");
        String rest = t.substring(colon + 1);
        Transport transport = secure ? Transport.TCP : Transport.UDP;
        int q = rest.indexOf('?');
        if (q >= 0) {
            String query = rest.substring(q + 1).toLowerCase(Locale.ROOT);
            rest = rest.substring(0, q);
            if (query.equals("transport=udp")) transport = Transport.UDP;
            else if (query.equals("transport=tcp")) transport = Transport.TCP;
            else throw new IllegalArgumentException("'" + text + "': the only query is transport=udp or transport=tcp");
            if (secure && transport == Transport.UDP) throw new IllegalArgumentException("'" + text + "': turns runs over TCP (TLS), not UDP");
        }
        if (rest.startsWith("//")) rest = rest.substring(2);      // tolerated: turn://host
        String host;
        String portText = null;
        if (rest.startsWith("[")) {
            int end = rest.indexOf(']');
            if (end < 0) throw new IllegalArgumentException("'" + text + "': unclosed [ in the host");
            host = rest.substring(1, end);
            if (end + 1 < rest.length()) {
                if (rest.charAt(end + 1) != ':') throw new IllegalArgumentException("'" + text + "': expected :port after the IPv6 host");
                portText = rest.substring(end + 2);
            }
        } else {
            int c = rest.lastIndexOf(':');
            host = c < 0 ? rest : rest.substring(0, c);
            portText = c < 0 ? null : rest.substring(c + 1);
        }
        if (host.isEmpty()) throw new IllegalArgumentException("'" + text + "': no host");
        int port = secure ? 5349 : 3478;
        if (portText != null) {
            if (!portText.matches("[0-9]{1,5}") || Integer.parseInt(portText) < 1 || Integer.parseInt(portText) > 65535) {
                throw new IllegalArgumentException("'" + text + "': the port must be a number from 1 to 65535");
            }
            port = Integer.parseInt(portText);
        }
        return new TurnUri(secure, host, port, transport);
    }

    @Override
    public String toString() {
        return (secure ? "turns:" : "turn:") + (host.contains(":") ? "[" + host + "]" : host) + ":" + port
                + "?transport=" + transport.name().toLowerCase(Locale.ROOT);
    }
}
