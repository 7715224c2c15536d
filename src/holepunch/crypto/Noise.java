package holepunch.crypto;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.List;

/**
 * The Noise Protocol Framework (revision 34, noiseprotocol.org/noise.html) with 25519, ChaChaPoly
 * and SHA256: {@link CipherState} (§5.1), {@link SymmetricState} (§5.2) and {@link Handshake}
 * (§5.3) for the patterns holepunch uses, IK (§7.5), and XX and NN, which the tests run against the
 * published cacophony vectors. The DH, cipher and hash functions are the JDK's (X25519, ChaCha20-Poly1305,
 * SHA-256); nothing here is invented, only transcribed.
 */
public final class Noise {
    public static final int DHLEN = 32, HASHLEN = 32, TAGLEN = 16;

    private Noise() {
    }

    /** Thrown when a message fails to decrypt or does not fit the pattern. */
    public static final class NoiseException extends Exception {
        public NoiseException(String message) {
            super(message, null, false, false);
        }
    }

    /** A handshake pattern: pre-messages (§7.1) and message patterns, as tokens. */
    public record Pattern(String name, List<String> initiatorPre, List<String> responderPre, List<List<String>> messages) {
        /** §7.5: {@code <- s ... -> e, es, s, ss; <- e, ee, se}. */
        public static final Pattern IK = new Pattern("IK", List.of(), List.of("s"),
                List.of(List.of("e", "es", "s", "ss"), List.of("e", "ee", "se")));
        /** §7.5: {@code -> e; <- e, ee, s, es; -> s, se}. */
        public static final Pattern XX = new Pattern("XX", List.of(), List.of(),
                List.of(List.of("e"), List.of("e", "ee", "s", "es"), List.of("s", "se")));
        public static final Pattern NN = new Pattern("NN", List.of(), List.of(), List.of(List.of("e"), List.of("e", "ee")));

        public String protocolName() {
            return "Noise_" + name + "_25519_ChaChaPoly_SHA256";
        }
    }

    /** §5.1: a key and a nonce; ENCRYPT with ChaCha20-Poly1305, the nonce as 32 zero bits and 64 bits little-endian (§12.3). */
    public static final class CipherState {
        private byte[] k;
        private long n;

        CipherState() {
        }

        public CipherState(byte[] key) {
            k = key.clone();
        }

        boolean hasKey() {
            return k != null;
        }

        void initializeKey(byte[] key) {
            k = key;
            n = 0;
        }

        byte[] encryptWithAd(byte[] ad, byte[] plaintext) {
            if (k == null) return plaintext.clone();
            byte[] out = seal(k, n, ad, plaintext, 0, plaintext.length);
            n++;
            return out;
        }

        byte[] decryptWithAd(byte[] ad, byte[] ciphertext) throws NoiseException {
            if (k == null) return ciphertext.clone();
            byte[] out = open(k, n, ad, ciphertext, 0, ciphertext.length);
            n++;
            return out;
        }

        /** The key, for transport with explicit nonces (counters carried on the wire, as WireGuard). */
        public byte[] key() {
            return k.clone();
        }
    }

    /**
     * ChaCha20-Poly1305 with one key, for many messages: the cipher and key are made once, and only
     * the nonce changes per message (a provider lookup per datagram costs more than the cipher).
     * Not thread-safe.
     */
    public static final class Aead {
        private final Cipher cipher;
        private final SecretKeySpec key;

        public Aead(byte[] key) {
            this.key = new SecretKeySpec(key, "ChaCha20");
            try {
                this.cipher = Cipher.getInstance("ChaCha20-Poly1305");
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("ChaCha20-Poly1305 is required of every JDK", e);
            }
        }

        /** Seals into {@code out} at {@code outOffset}; returns the bytes written. */
        public int seal(long nonce, byte[] ad, byte[] plaintext, int offset, int length, byte[] out, int outOffset) {
            try {
                cipher.init(Cipher.ENCRYPT_MODE, key, new IvParameterSpec(nonceBytes(nonce)));
                if (ad != null && ad.length > 0) cipher.updateAAD(ad);
                return cipher.doFinal(plaintext, offset, length, out, outOffset);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("ChaCha20-Poly1305 failed: " + e.getMessage(), e);
            }
        }

        /**
         * Seals {@code in[off, off + len)} into {@code out} at {@code outOff}, with the additional data
         * {@code ad[adOff, adOff + adLen)}; returns the bytes written ({@code len} + {@value #TAGLEN}).
         * Nothing is allocated here but what the JDK's cipher allocates per nonce.
         */
        public int seal(long nonce, byte[] ad, int adOff, int adLen, byte[] in, int off, int len, byte[] out, int outOff) {
            try {
                cipher.init(Cipher.ENCRYPT_MODE, key, new IvParameterSpec(nonceBytes(nonce)));
                if (adLen > 0) cipher.updateAAD(ad, adOff, adLen);
                return cipher.doFinal(in, off, len, out, outOff);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("ChaCha20-Poly1305 failed: " + e.getMessage(), e);
            }
        }

        /** Opens {@code in[off, off + len)} (ciphertext and tag) into {@code out} at {@code outOff}; returns the plaintext's length. */
        public int open(long nonce, byte[] ad, int adOff, int adLen, byte[] in, int off, int len, byte[] out, int outOff) throws NoiseException {
            if (len < TAGLEN) throw new NoiseException("ciphertext shorter than its tag");
            try {
                cipher.init(Cipher.DECRYPT_MODE, key, new IvParameterSpec(nonceBytes(nonce)));
                if (adLen > 0) cipher.updateAAD(ad, adOff, adLen);
                return cipher.doFinal(in, off, len, out, outOff);
            } catch (AEADBadTagException e) {
                throw new NoiseException("authentication failed");
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("ChaCha20-Poly1305 failed: " + e.getMessage(), e);
            }
        }

        public byte[] open(long nonce, byte[] ad, byte[] ciphertext, int offset, int length) throws NoiseException {
            if (length < TAGLEN) throw new NoiseException("ciphertext shorter than its tag");
            try {
                cipher.init(Cipher.DECRYPT_MODE, key, new IvParameterSpec(nonceBytes(nonce)));
                if (ad != null && ad.length > 0) cipher.updateAAD(ad);
                return cipher.doFinal(ciphertext, offset, length);
            } catch (AEADBadTagException e) {
                throw new NoiseException("authentication failed");
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("ChaCha20-Poly1305 failed: " + e.getMessage(), e);
            }
        }
    }

    /** ChaCha20-Poly1305 (RFC 8439) with the Noise nonce layout; returns ciphertext and tag. */
    public static byte[] seal(byte[] key, long nonce, byte[] ad, byte[] plaintext, int offset, int length) {
        try {
            Cipher c = Cipher.getInstance("ChaCha20-Poly1305");
            c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "ChaCha20"), new IvParameterSpec(nonceBytes(nonce)));
            if (ad != null && ad.length > 0) c.updateAAD(ad);
            return c.doFinal(plaintext, offset, length);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("ChaCha20-Poly1305 is required of every JDK", e);
        }
    }

    /** Opens what {@link #seal} made; a wrong key, nonce, AD or a tampered byte fails. */
    public static byte[] open(byte[] key, long nonce, byte[] ad, byte[] ciphertext, int offset, int length) throws NoiseException {
        if (length < TAGLEN) throw new NoiseException("ciphertext shorter than its tag");
        try {
            Cipher c = Cipher.getInstance("ChaCha20-Poly1305");
            c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "ChaCha20"), new IvParameterSpec(nonceBytes(nonce)));
            if (ad != null && ad.length > 0) c.updateAAD(ad);
            return c.doFinal(ciphertext, offset, length);
        } catch (AEADBadTagException e) {
            throw new NoiseException("authentication failed");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("ChaCha20-Poly1305 is required of every JDK", e);
        }
    }

    private static byte[] nonceBytes(long n) {
        return ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(0).putLong(n).array();
    }

    static byte[] hmac(byte[] key, byte[]... data) {
        return Keys.hmacSha256(key, data);
    }

    /** §4.3 HKDF(chaining_key, input_key_material, num_outputs): RFC 5869 with the chaining key as salt and no info. */
    public static byte[][] hkdf(byte[] chainingKey, byte[] ikm, int outputs) {
        byte[] temp = hmac(chainingKey, ikm);
        byte[] o1 = hmac(temp, new byte[] {1});
        byte[] o2 = hmac(temp, o1, new byte[] {2});
        if (outputs == 2) return new byte[][] {o1, o2};
        return new byte[][] {o1, o2, hmac(temp, o2, new byte[] {3})};
    }

    /** §5.2: the chaining key and handshake hash. */
    static final class SymmetricState {
        final CipherState cs = new CipherState();
        byte[] ck;
        byte[] h;

        SymmetricState(String protocolName) {
            byte[] name = protocolName.getBytes(StandardCharsets.US_ASCII);
            h = name.length <= HASHLEN ? Arrays.copyOf(name, HASHLEN) : Keys.sha256(name);
            ck = h.clone();
        }

        void mixKey(byte[] ikm) {
            byte[][] out = hkdf(ck, ikm, 2);
            ck = out[0];
            cs.initializeKey(out[1]);          // HASHLEN is 32: no truncation
        }

        void mixHash(byte[] data) {
            h = Keys.sha256(h, data);
        }

        byte[] encryptAndHash(byte[] plaintext) {
            byte[] c = cs.encryptWithAd(h, plaintext);
            mixHash(c);
            return c;
        }

        byte[] decryptAndHash(byte[] ciphertext) throws NoiseException {
            byte[] p = cs.decryptWithAd(h, ciphertext);
            mixHash(ciphertext);
            return p;
        }

        CipherState[] split() {
            byte[][] out = hkdf(ck, new byte[0], 2);
            return new CipherState[] {new CipherState(out[0]), new CipherState(out[1])};
        }
    }

    /**
     * §5.3: one side of a handshake. {@code writeMessage} and {@code readMessage} alternate as the
     * pattern says; after the last message {@link #split} gives the two transport cipher states,
     * initiator-to-responder first.
     */
    public static final class Handshake {
        private final Pattern pattern;
        private final boolean initiator;
        private final SymmetricState ss;
        private final X25519.Pair s;
        private X25519.Pair e;
        private byte[] rs;
        private byte[] re;
        private int next;
        private final SecureRandom random;

        /**
         * @param s  our static key pair (null when the pattern sends none)
         * @param rs the peer's static public key when known beforehand (IK's responder key)
         * @param e  a fixed ephemeral key pair, for test vectors only; null makes a fresh one
         */
        public Handshake(Pattern pattern, boolean initiator, byte[] prologue, X25519.Pair s, byte[] rs, X25519.Pair e,
                         SecureRandom random) {
            this.pattern = pattern;
            this.initiator = initiator;
            this.ss = new SymmetricState(pattern.protocolName());
            this.s = s;
            this.rs = rs == null ? null : rs.clone();
            this.e = e;
            this.random = random;
            ss.mixHash(prologue);
            for (String t : pattern.initiatorPre()) if (t.equals("s")) ss.mixHash(initiator ? s.publicKey() : this.rs);
            for (String t : pattern.responderPre()) if (t.equals("s")) ss.mixHash(initiator ? this.rs : s.publicKey());
        }

        public boolean isComplete() {
            return next == pattern.messages().size();
        }

        private boolean myTurn() {
            return (next % 2 == 0) == initiator;
        }

        /** The next message of ours, carrying {@code payload} (encrypted once a key is mixed in). */
        public byte[] writeMessage(byte[] payload) {
            if (isComplete() || !myTurn()) throw new IllegalStateException("not our turn to write");
            ByteBuffer out = ByteBuffer.allocate(3 * DHLEN + 2 * TAGLEN + payload.length + TAGLEN);
            for (String token : pattern.messages().get(next)) {
                switch (token) {
                    case "e" -> {
                        if (e == null) e = X25519.generate(random);
                        out.put(e.publicKey());
                        ss.mixHash(e.publicKey());
                    }
                    case "s" -> out.put(ss.encryptAndHash(s.publicKey()));
                    default -> ss.mixKey(dh(token));
                }
            }
            out.put(ss.encryptAndHash(payload));
            next++;
            return Arrays.copyOf(out.array(), out.position());
        }

        /** Reads the peer's next message; returns its payload. */
        public byte[] readMessage(byte[] message) throws NoiseException {
            if (isComplete() || myTurn()) throw new NoiseException("not the peer's turn");
            ByteBuffer in = ByteBuffer.wrap(message);
            try {
                for (String token : pattern.messages().get(next)) {
                    switch (token) {
                        case "e" -> {
                            re = new byte[DHLEN];
                            in.get(re);
                            ss.mixHash(re);
                        }
                        case "s" -> {
                            byte[] c = new byte[ss.cs.hasKey() ? DHLEN + TAGLEN : DHLEN];
                            in.get(c);
                            rs = ss.decryptAndHash(c);
                        }
                        default -> ss.mixKey(dh(token));
                    }
                }
            } catch (java.nio.BufferUnderflowException | IllegalArgumentException ex) {
                throw new NoiseException("malformed handshake message");
            }
            byte[] rest = new byte[in.remaining()];
            in.get(rest);
            byte[] payload = ss.decryptAndHash(rest);
            next++;
            return payload;
        }

        /** The DH of a token: ee, es, se, ss, from this side's point of view (§7.1). */
        private byte[] dh(String token) {
            return switch (token) {
                case "ee" -> X25519.dh(e.privateKey(), re);
                case "ss" -> X25519.dh(s.privateKey(), rs);
                case "es" -> initiator ? X25519.dh(e.privateKey(), rs) : X25519.dh(s.privateKey(), re);
                case "se" -> initiator ? X25519.dh(s.privateKey(), re) : X25519.dh(e.privateKey(), rs);
                default -> throw new IllegalStateException("unknown token " + token);
            };
        }

        /** The peer's static public key (learnt, or given). */
        public byte[] remoteStatic() {
            return rs == null ? null : rs.clone();
        }

        /** §5.2 GetHandshakeHash: binds everything exchanged; equal on both sides. */
        public byte[] handshakeHash() {
            return ss.h.clone();
        }

        /** The transport states after the last message: [initiator to responder, responder to initiator]. */
        public CipherState[] split() {
            if (!isComplete()) throw new IllegalStateException("handshake not complete");
            return ss.split();
        }
    }

    static boolean equal(byte[] a, byte[] b) {
        return MessageDigest.isEqual(a, b);
    }
}
