package holepunch.crypto;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;

/** Text forms of public keys: full (base64url) for the wire, short for log lines. Never for private keys. */
public final class Keys {
    private Keys() {
    }

    public static String b64(byte[] raw) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
    }

    /** The raw bytes of a base64url (or base64) text, or null when it is not one of {@code length} bytes. */
    public static byte[] unb64(String text, int length) {
        if (text == null) return null;
        try {
            byte[] b = text.indexOf('+') >= 0 || text.indexOf('/') >= 0 ? Base64.getDecoder().decode(text) : Base64.getUrlDecoder().decode(text);
            return b.length == length ? b : null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** A public key's first 8 characters, for log lines. */
    public static String shortText(byte[] publicKey) {
        return b64(publicKey).substring(0, 8);
    }

    /** HMAC-SHA256 of {@code parts} in order under {@code key} (RFC 2104). */
    public static byte[] hmacSha256(byte[] key, byte[]... parts) {
        try {
            javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
            mac.init(new javax.crypto.spec.SecretKeySpec(key, "HmacSHA256"));
            for (byte[] p : parts) mac.update(p);
            return mac.doFinal();
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is required of every JDK", e);
        }
    }

    static byte[] sha256(byte[]... parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (byte[] p : parts) md.update(p);
            return md.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JDK", e);
        }
    }
}
