package holepunch.rendezvous;

import holepunch.auth.BearerToken;

import java.util.ArrayList;
import java.util.List;

/**
 * The optional bearer token (RENDEZVOUS_TOKEN), compared in constant time ({@link BearerToken}).
 * The token itself is never logged.
 *
 * <p>A browser cannot set {@code Authorization} on a WebSocket, so the upgrade also takes the
 * token as a subprotocol, {@code Sec-WebSocket-Protocol: holepunch.bearer.<token>} (JavaScript:
 * {@code new WebSocket(url, ["holepunch.bearer." + token])}). That value is echoed back as the
 * selected subprotocol, as RFC 6455 §4.2.2 requires (a browser fails the connection otherwise).
 * Otherwise {@code holepunch.relay.1}, when offered, is selected: the binary relay ({@code RelayFrame}).
 */
final class Auth {
    static final String SUBPROTOCOL_PREFIX = "holepunch.bearer.";

    private final BearerToken token;

    Auth(String token) {
        this.token = new BearerToken(token);
    }

    boolean enabled() {
        return token.enabled();
    }

    /** Whether an Authorization header value grants access (always, when no token is set). */
    boolean allows(String authorization) {
        return token.allows(authorization);
    }

    /** The outcome for an upgrade: whether it may go on, and the subprotocol to echo (or null). */
    record Upgrade(boolean allowed, String subprotocol) {
    }

    /**
     * An upgrade request's credentials: the Authorization header, or a {@code holepunch.bearer.*}
     * subprotocol among those offered (each {@code Sec-WebSocket-Protocol} value is a
     * comma-separated list, §4.1).
     */
    Upgrade upgrade(String authorization, List<String> protocolHeaders) {
        List<String> offered = new ArrayList<>();
        boolean binaryRelay = false;
        if (protocolHeaders != null) {
            for (String header : protocolHeaders) {
                for (String p : header.split(",")) {
                    if (p.trim().startsWith(SUBPROTOCOL_PREFIX)) offered.add(p.trim());
                    if (p.trim().equals(holepunch.protocol.RelayFrame.SUBPROTOCOL)) binaryRelay = true;
                }
            }
        }
        // One subprotocol is selected (§4.2.2): a browser's bearer token must be echoed, so it goes first.
        String relay = binaryRelay ? holepunch.protocol.RelayFrame.SUBPROTOCOL : null;
        if (!token.enabled()) return new Upgrade(true, offered.isEmpty() ? relay : offered.getFirst());
        for (String p : offered) {
            if (token.matches(p.substring(SUBPROTOCOL_PREFIX.length()))) return new Upgrade(true, p);
        }
        return new Upgrade(token.allows(authorization), relay);
    }
}
