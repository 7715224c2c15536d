package holepunch.rendezvous;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;

/**
 * The challenges a worker signs in its upgrade proof ({@code GET /challenge}, then the
 * {@code challenge} field of a v2 {@link holepunch.crypto.UpgradeProof}). A challenge is made here,
 * so a proof made for another server, or for this one before a restart, carries a challenge this
 * server did not make and is refused; it ages by this server's clock alone, so a worker needs no
 * clock; and it is taken once ({@link IdentityBindings}, and {@code SET NX} across a cluster).
 *
 * <pre>
 * challenge = base64url( issued (8 bytes, unix seconds, big-endian) | random (16) | mac (16) )
 * mac       = HMAC-SHA256(key, "holepunch-challenge-v1" | issued | random), its first 16 bytes
 * </pre>
 * Nothing is stored per challenge. The key is random per process, or, in a cluster, the same on
 * every instance (a balancer may send the request and the upgrade to two of them): derived from
 * CLUSTER_SECRET, or else kept in Redis ({@link ClusterIds#challengeKey}).
 */
final class Challenges {
    static final int BYTES = 40;
    static final long LIFETIME_SECONDS = holepunch.crypto.UpgradeProof.WINDOW_SECONDS;
    /** A challenge from up to this far in this server's future is still taken (instances' clocks differ a little). */
    static final long SKEW_SECONDS = 5;
    /** A key kept in Redis is read again this often: after Redis came back empty, the instances agree again within it. */
    static final long REREAD_NANOS = 10_000_000_000L;
    private static final byte[] LABEL = "holepunch-challenge-v1".getBytes(StandardCharsets.US_ASCII);
    private static final SecureRandom RANDOM = new SecureRandom();

    /** Where the key comes from; {@code fresh} asks again (the cluster's key may have been made anew). */
    interface KeySource {
        byte[] key(boolean fresh) throws IOException;
    }

    private final KeySource source;
    private final boolean refreshable;
    private volatile byte[] key;
    private volatile long refreshedNanos;

    private final java.util.function.LongSupplier nanoClock;

    private Challenges(KeySource source, boolean refreshable, java.util.function.LongSupplier nanoClock) {
        this.source = source;
        this.refreshable = refreshable;
        this.nanoClock = nanoClock;
    }

    /** A key made here, for this process only: a restart ends every challenge it made. */
    static Challenges perProcess() {
        byte[] k = new byte[32];
        RANDOM.nextBytes(k);
        return new Challenges(fresh -> k, false, System::nanoTime);
    }

    /** The key every instance of a cluster derives from CLUSTER_SECRET. */
    static Challenges fromSecret(String secret) {
        byte[] k = holepunch.crypto.Keys.hmacSha256(secret.getBytes(StandardCharsets.UTF_8), "holepunch-challenge-key-v1".getBytes(StandardCharsets.US_ASCII));
        return new Challenges(fresh -> k, false, System::nanoTime);
    }

    /** A key read from {@code source} (Redis), read again when a challenge does not check out with it. */
    static Challenges shared(KeySource source) {
        return shared(source, System::nanoTime);
    }

    /** As above, with the clock that paces reading the key again (tests). */
    static Challenges shared(KeySource source, java.util.function.LongSupplier nanoClock) {
        return new Challenges(source, true, nanoClock);
    }

    /** A new challenge, issued now. */
    String issue(long nowSeconds) throws IOException {
        byte[] c = new byte[BYTES];
        ByteBuffer.wrap(c).putLong(nowSeconds);
        byte[] random = new byte[16];
        RANDOM.nextBytes(random);
        System.arraycopy(random, 0, c, 8, 16);
        System.arraycopy(mac(key(false), c), 0, c, 24, 16);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(c);
    }

    /** A checked challenge: when it was issued, or why it is refused. */
    record Checked(long issuedSeconds, String refusal) {
    }

    Checked check(String challenge, long nowSeconds) throws IOException {
        byte[] c;
        try {
            c = challenge == null ? null : Base64.getUrlDecoder().decode(challenge);
        } catch (IllegalArgumentException e) {
            c = null;
        }
        if (c == null || c.length != BYTES) return new Checked(0, "the challenge is not " + BYTES + " bytes of base64url");
        byte[] got = java.util.Arrays.copyOfRange(c, 24, 40);
        boolean made = MessageDigest.isEqual(got, mac(key(false), c));
        if (!made && refreshable && nanoClock.getAsLong() - refreshedNanos > 1_000_000_000L) {
            made = MessageDigest.isEqual(got, mac(key(true), c));       // the cluster's key was made anew (an emptied Redis)
        }
        if (!made) return new Checked(0, "the challenge was not made by this rendezvous (another server's, or from before a restart)");
        long issued = ByteBuffer.wrap(c).getLong();
        if (nowSeconds - issued > LIFETIME_SECONDS) {
            return new Checked(issued, "the challenge is " + (nowSeconds - issued) + " s old (a challenge is good for " + LIFETIME_SECONDS + " s)");
        }
        if (issued - nowSeconds > SKEW_SECONDS) return new Checked(issued, "the challenge was issued " + (issued - nowSeconds) + " s in the future");
        return new Checked(issued, null);
    }

    private byte[] key(boolean fresh) throws IOException {
        byte[] k = key;
        if (k == null || fresh || refreshable && nanoClock.getAsLong() - refreshedNanos > REREAD_NANOS) {
            k = source.key(fresh);
            key = k;
            refreshedNanos = nanoClock.getAsLong();
        }
        return k;
    }

    private static byte[] mac(byte[] key, byte[] challenge) {
        byte[] m = holepunch.crypto.Keys.hmacSha256(key, LABEL, java.util.Arrays.copyOfRange(challenge, 0, 24));
        return java.util.Arrays.copyOf(m, 16);
    }

}
