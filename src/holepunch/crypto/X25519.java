package holepunch.crypto;

import javax.crypto.KeyAgreement;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.spec.NamedParameterSpec;
import java.security.spec.XECPrivateKeySpec;
import java.security.spec.XECPublicKeySpec;

/**
 * X25519 (RFC 7748) on raw 32-byte keys, over the JDK's XDH provider. Public keys are the
 * little-endian u-coordinate, as Noise and RFC 7748 §5 write them.
 */
public final class X25519 {
    public static final int KEY_BYTES = 32;
    private static final BigInteger BASE_POINT = BigInteger.valueOf(9);

    private X25519() {
    }

    /** A key pair from raw private bytes (clamped by the JDK as RFC 7748 §5 says). */
    public record Pair(byte[] privateKey, byte[] publicKey) {
        @Override
        public String toString() {
            return "X25519.Pair[public=" + Keys.shortText(publicKey) + "]";
        }
    }

    public static Pair generate(SecureRandom random) {
        byte[] priv = new byte[KEY_BYTES];
        random.nextBytes(priv);
        return fromPrivate(priv);
    }

    public static Pair fromPrivate(byte[] privateKey) {
        return new Pair(privateKey.clone(), dh(privateKey, littleEndian(BASE_POINT)));
    }

    /** X25519(privateKey, publicKey); throws for a low-order public key (an all-zero result, RFC 7748 §6.1). */
    public static byte[] dh(byte[] privateKey, byte[] publicKey) {
        try {
            KeyFactory kf = KeyFactory.getInstance("XDH");
            PrivateKey priv = kf.generatePrivate(new XECPrivateKeySpec(NamedParameterSpec.X25519, privateKey));
            PublicKey pub = kf.generatePublic(new XECPublicKeySpec(NamedParameterSpec.X25519, uOf(publicKey)));
            KeyAgreement ka = KeyAgreement.getInstance("XDH");
            ka.init(priv);
            ka.doPhase(pub, true);
            byte[] shared = ka.generateSecret();
            boolean zero = true;
            for (byte b : shared) zero &= b == 0;
            if (zero) throw new IllegalArgumentException("X25519 with a low-order public key");
            return shared;
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("X25519 failed: " + e.getMessage(), e);
        }
    }

    /** RFC 7748 §5: the u-coordinate is little-endian, its top bit masked. */
    private static BigInteger uOf(byte[] publicKey) {
        if (publicKey.length != KEY_BYTES) throw new IllegalArgumentException("an X25519 public key is 32 bytes");
        byte[] be = new byte[KEY_BYTES];
        for (int i = 0; i < KEY_BYTES; i++) be[i] = publicKey[KEY_BYTES - 1 - i];
        be[0] &= 0x7F;
        return new BigInteger(1, be);
    }

    private static byte[] littleEndian(BigInteger u) {
        byte[] be = u.toByteArray();
        byte[] le = new byte[KEY_BYTES];
        for (int i = 0; i < be.length && i < KEY_BYTES; i++) le[i] = be[be.length - 1 - i];
        return le;
    }


}
