package holepunch.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * A shared secret presented as {@code Authorization: Bearer <token>} (RFC 6750 §2.1). Compares
 * SHA-256 digests with {@link MessageDigest#isEqual}, so the time taken depends neither on where the
 * strings differ nor on their lengths. Without a token (null) everything is allowed; an empty
 * presented token never matches. The token itself is
 * never logged nor shown by {@link #toString}.
 */
public final class BearerToken {
    private final byte[] expected;

    public BearerToken(String token) {
        this.expected = token == null ? null : sha256(token);
    }

    public boolean enabled() {
        return expected != null;
    }

    /** Whether an Authorization header value grants access (always, when no token is set). */
    public boolean allows(String authorization) {
        if (expected == null) return true;
        String presented = authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                ? authorization.substring(7).trim() : "";
        return matches(presented);
    }

    /** Whether {@code presented} is the token (false when none is set: nothing to match). */
    public boolean matches(String presented) {
        if (expected == null) return false;
        return MessageDigest.isEqual(expected, sha256(presented)) & !presented.isEmpty();
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JDK", e);
        }
    }

    @Override
    public String toString() {
        return "BearerToken[" + (expected == null ? "unset" : "set") + "]";
    }
}
