package holepunch.rendezvous;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The optional bearer token (RENDEZVOUS_TOKEN). Compares SHA-256 digests with
 * {@link MessageDigest#isEqual}, so the time taken depends neither on where the strings differ nor
 * on their lengths. The token itself is never logged.
 */
final class Auth {
    private final byte[] expected;

    Auth(String token) {
        this.expected = token == null ? null : sha256(token);
    }

    boolean enabled() {
        return expected != null;
    }

    /** Whether an Authorization header value grants access (always, when no token is set). */
    boolean allows(String authorization) {
        if (expected == null) return true;
        String presented = authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                ? authorization.substring(7).trim() : "";
        return MessageDigest.isEqual(expected, sha256(presented)) & !presented.isEmpty();
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JDK", e);
        }
    }
}
