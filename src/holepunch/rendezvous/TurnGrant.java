package holepunch.rendezvous;

import holepunch.config.ConfigException;
import holepunch.protocol.TurnCredentialsMessage;
import holepunch.turn.TurnCredentials;
import holepunch.turn.TurnUri;

import java.util.Arrays;
import java.util.List;

/**
 * TURN for the workers (TURN_URLS, TURN_SECRET, TURN_CREDENTIAL_TTL_SEC): each holepunch worker gets
 * the servers' URIs and credentials of its own by the TURN REST scheme ({@link TurnCredentials}),
 * good for the TTL; the TURN server (coturn with {@code use-auth-secret} and the same
 * {@code static-auth-secret}) checks them with the secret alone. The secret is never logged.
 */
final class TurnGrant {
    private final List<String> urls;
    private final String secret;
    private final long ttlSeconds;

    private TurnGrant(List<String> urls, String secret, long ttlSeconds) {
        this.urls = urls;
        this.secret = secret;
        this.ttlSeconds = ttlSeconds;
    }

    /** From the settings; null when TURN is not configured. Both or neither of TURN_URLS and TURN_SECRET. */
    static TurnGrant of(String urlList, String secret, int ttlSeconds) {
        List<String> urls = Arrays.stream(urlList.split(",")).map(String::strip).filter(u -> !u.isEmpty()).toList();
        if (urls.isEmpty() && secret.isEmpty()) return null;
        if (urls.isEmpty()) throw new ConfigException("TURN_SECRET is set but TURN_URLS is empty: name the TURN servers (turn:host:port, comma-separated)");
        if (secret.isEmpty()) {
            throw new ConfigException("TURN_URLS is set but TURN_SECRET is empty: set it to the TURN server's static-auth-secret (coturn: use-auth-secret)");
        }
        if (urls.size() > 8) throw new ConfigException("TURN_URLS names " + urls.size() + " servers; at most 8");
        for (String u : urls) {
            try {
                TurnUri.parse(u);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("TURN_URLS: " + e.getMessage());
            }
        }
        return new TurnGrant(urls, secret, ttlSeconds);
    }

    /** Credentials for {@code workerId}, good for the TTL from now. */
    TurnCredentialsMessage credentialsFor(String workerId) {
        TurnCredentials c = TurnCredentials.forWorker(secret, workerId, ttlSeconds, System.currentTimeMillis() / 1000);
        return new TurnCredentialsMessage(urls, c.username(), c.password(), ttlSeconds);
    }

    List<String> urls() {
        return urls;
    }
}
