package holepunch.turn;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;

/**
 * A TURN username and password. {@link #forWorker} makes short-lived ones by the TURN REST scheme
 * that coturn implements ({@code use-auth-secret}, {@code static-auth-secret}): the username is
 * {@code <expiry unix seconds>:<worker id>} and the password base64(HMAC-SHA1(secret, username)), so
 * the TURN server checks them with the shared secret alone. Never printed: {@link #toString} hides
 * the password.
 */
public record TurnCredentials(String username, String password, long expiresAtSeconds) {
    public static TurnCredentials forWorker(String secret, String workerId, long ttlSeconds, long nowSeconds) {
        String username = (nowSeconds + ttlSeconds) + ":" + workerId;
        try {
            javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA1");
            mac.init(new javax.crypto.spec.SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA1"));
            String password = Base64.getEncoder().encodeToString(mac.doFinal(username.getBytes(StandardCharsets.UTF_8)));
            return new TurnCredentials(username, password, nowSeconds + ttlSeconds);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA1 is required of every JDK", e);
        }
    }

    @Override
    public String toString() {
        return "TurnCredentials[username=" + username + ", password=(hidden), expires=" + expiresAtSeconds + "]";
    }
}
