package holepunch.crypto;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * A worker's public identity: its Ed25519 signing key, and the X25519 static key it uses for Noise,
 * bound to the signing key by a signature ({@code static_sig}). The fingerprint (SHA-256 of the
 * signing key, base64url, 43 characters) is what operators pin (PEER_KEYS) and logs show, in
 * its short form ({@link #shortFingerprint}).
 */
public record PublicIdentity(byte[] signingKey, byte[] staticKey, byte[] staticSig) {
    public static final int FINGERPRINT_CHARS = 43;
    /** A pin shorter than this is refused: 16 base64 characters are 96 bits. */
    public static final int MIN_PIN_CHARS = 16;
    static final byte[] ED25519_X509_PREFIX = HexFormat.of().parseHex("302a300506032b6570032100");
    static final String STATIC_LABEL = "holepunch static key v1\n";

    public PublicIdentity {
        signingKey = signingKey.clone();
        staticKey = staticKey.clone();
        staticSig = staticSig.clone();
    }

    /** The identity named by three base64url fields, or null unless they are well formed and the static key is signed. */
    public static PublicIdentity verified(String signingKey, String staticKey, String staticSig) {
        byte[] k = Keys.unb64(signingKey, 32), s = Keys.unb64(staticKey, 32), sig = Keys.unb64(staticSig, 64);
        if (k == null || s == null || sig == null) return null;
        PublicIdentity id = new PublicIdentity(k, s, sig);
        return id.verify(concat(STATIC_LABEL.getBytes(java.nio.charset.StandardCharsets.US_ASCII), s), sig) ? id : null;
    }

    /** Whether {@code signature} is this identity's Ed25519 signature over {@code message} (RFC 8032). */
    public boolean verify(byte[] message, byte[] signature) {
        try {
            PublicKey pub = KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(concat(ED25519_X509_PREFIX, signingKey)));
            Signature v = Signature.getInstance("Ed25519");
            v.initVerify(pub);
            v.update(message);
            return v.verify(signature);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            return false;
        }
    }

    public String fingerprint() {
        return Keys.b64(Keys.sha256(signingKey));
    }

    public String shortFingerprint() {
        return fingerprint().substring(0, 12);
    }

    /** Whether a pinned fingerprint (the whole one, or a prefix of at least {@value #MIN_PIN_CHARS} characters) names this identity. */
    public boolean matchesPin(String pin) {
        return pin.length() >= MIN_PIN_CHARS && fingerprint().startsWith(pin);
    }

    public boolean sameKey(PublicIdentity other) {
        return other != null && Arrays.equals(signingKey, other.signingKey);
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PublicIdentity p && Arrays.equals(signingKey, p.signingKey) && Arrays.equals(staticKey, p.staticKey);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(signingKey);
    }

    @Override
    public String toString() {
        return "PublicIdentity[" + shortFingerprint() + "]";
    }
}
