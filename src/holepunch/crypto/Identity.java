package holepunch.crypto;

import holepunch.config.ConfigException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;

/**
 * A worker's identity key pair: Ed25519 for signatures (the upgrade proof) and X25519 for Noise,
 * the X25519 public key signed by the Ed25519 one. Kept in {@code WORKER_KEY_FILE} (created with
 * mode 0600) across restarts; without a file, a fresh one per process. Never printed: only its
 * public half's fingerprint is.
 *
 * <pre>
 * holepunch-worker-key-v1
 * ed25519=&lt;PKCS#8, base64&gt;
 * x25519=&lt;32-byte private key, base64&gt;
 * </pre>
 */
public final class Identity {
    static final String HEADER = "holepunch-worker-key-v1";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final PrivateKey signing;
    private final X25519.Pair statik;
    private final PublicIdentity publicIdentity;

    private Identity(PrivateKey signing, byte[] signingPublic, X25519.Pair statik) {
        this.signing = signing;
        this.statik = statik;
        byte[] sig = sign(PublicIdentity.concat(PublicIdentity.STATIC_LABEL.getBytes(StandardCharsets.US_ASCII), statik.publicKey()));
        this.publicIdentity = new PublicIdentity(signingPublic, statik.publicKey(), sig);
    }

    public static Identity generate() {
        try {
            KeyPair kp = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
            return new Identity(kp.getPrivate(), rawPublic(kp.getPublic().getEncoded()), X25519.generate(RANDOM));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Ed25519 is required of every JDK", e);
        }
    }

    private static byte[] rawPublic(byte[] x509) {
        return Arrays.copyOfRange(x509, x509.length - 32, x509.length);
    }

    /**
     * The key in {@code file}, made there first when there is none. It is written whole or not at
     * all: to a temporary file of mode 0600 beside it, forced to disk, then linked in under its name,
     * which fails when another process made it meanwhile (that one's key is then read). A crash
     * leaves no empty or half-written key, and a concurrent start never reads half of one.
     */
    public static Identity loadOrCreate(Path file) {
        if (!Files.exists(file)) {
            Identity id = generate();
            Path tmp = null;
            try {
                Path dir = file.toAbsolutePath().getParent();
                tmp = Files.createTempFile(dir, ".holepunch-key-", ".tmp",
                        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    ch.write(java.nio.ByteBuffer.wrap(id.encode().getBytes(StandardCharsets.US_ASCII)));
                    ch.force(true);
                }
                Files.createLink(file, tmp);             // no replace: the first start's key wins
                return id;
            } catch (FileAlreadyExistsException e) {
                // made meanwhile by another start: read it below
            } catch (IOException | UnsupportedOperationException e) {
                throw new ConfigException("WORKER_KEY_FILE " + file + " cannot be created: " + e.getMessage());
            } finally {
                if (tmp != null) {
                    try {
                        Files.deleteIfExists(tmp);
                    } catch (IOException ignored) {
                        // a stray temporary file; the key is whole either way
                    }
                }
            }
        }
        return load(file);
    }

    /** A key readable or writable by anyone but its owner is refused, as ssh refuses such a private key. */
    private static void checkPrivate(Path file) {
        try {
            java.util.Set<java.nio.file.attribute.PosixFilePermission> p = Files.getPosixFilePermissions(file);
            String mode = PosixFilePermissions.toString(p);
            if (!mode.substring(3).equals("------")) {
                throw new ConfigException("WORKER_KEY_FILE " + file + " is open to others (" + mode + "): a worker key must be"
                        + " its owner's alone; chmod 600 it");
            }
        } catch (UnsupportedOperationException | IOException e) {
            // no POSIX permissions here (or unreadable: load says so)
        }
    }

    static Identity load(Path file) {
        checkPrivate(file);
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.US_ASCII);
        } catch (IOException | RuntimeException e) {
            throw new ConfigException("WORKER_KEY_FILE " + file + " cannot be read: " + e.getMessage());
        }
        String ed = null, x = null;
        boolean headed = false;
        for (String line : lines) {
            String l = line.strip();
            if (l.equals(HEADER)) headed = true;
            else if (l.startsWith("ed25519=")) ed = l.substring(8);
            else if (l.startsWith("x25519=")) x = l.substring(7);
        }
        if (!headed || ed == null || x == null) {
            throw new ConfigException("WORKER_KEY_FILE " + file + " is not a holepunch worker key (expected '" + HEADER
                    + "', 'ed25519=' and 'x25519=' lines); move it away to have a new key made");
        }
        try {
            PrivateKey priv = KeyFactory.getInstance("Ed25519").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(ed)));
            byte[] xPriv = Base64.getDecoder().decode(x);
            if (xPriv.length != 32) throw new IllegalArgumentException("x25519 key is not 32 bytes");
            byte[] pub = publicOf(priv);
            return new Identity(priv, pub, X25519.fromPrivate(xPriv));
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new ConfigException("WORKER_KEY_FILE " + file + " holds a malformed key (" + e.getMessage() + ")");
        }
    }

    /** The Ed25519 public key of a private key: the JDK derives it when a key pair is made from the same seed. */
    private static byte[] publicOf(PrivateKey priv) throws GeneralSecurityException {
        byte[] pkcs8 = priv.getEncoded();
        byte[] seed = Arrays.copyOfRange(pkcs8, pkcs8.length - 32, pkcs8.length);
        KeyPairGenerator g = KeyPairGenerator.getInstance("Ed25519");
        g.initialize(java.security.spec.NamedParameterSpec.ED25519, new SecureRandom() {
            @Override
            public void nextBytes(byte[] bytes) {
                System.arraycopy(seed, 0, bytes, 0, bytes.length);
            }
        });
        return rawPublic(g.generateKeyPair().getPublic().getEncoded());
    }

    String encode() {
        return HEADER + "\n# keep this file secret: it is this worker's identity\n"
                + "ed25519=" + Base64.getEncoder().encodeToString(signing.getEncoded()) + "\n"
                + "x25519=" + Base64.getEncoder().encodeToString(statik.privateKey()) + "\n";
    }

    public byte[] sign(byte[] message) {
        try {
            Signature s = Signature.getInstance("Ed25519");
            s.initSign(signing);
            s.update(message);
            return s.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Ed25519 is required of every JDK", e);
        }
    }

    public PublicIdentity publicIdentity() {
        return publicIdentity;
    }

    /** The Noise static key pair. */
    public X25519.Pair staticKey() {
        return statik;
    }

    @Override
    public String toString() {
        return "Identity[" + publicIdentity.shortFingerprint() + "]";
    }
}
