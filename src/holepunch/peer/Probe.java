package holepunch.peer;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * A peer datagram on the worker's UDP socket, authenticated with the sender's direction key.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   'H' 0x48    |   'P' 0x50    |  version (2)  |     kind      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     pair id (64 bits)                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           counter (64 bits; in an answer, the one answered)   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     payload (kind DATA only)                ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   HMAC-SHA256(sender's direction key, all bytes above), 128 bits |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * The first byte's top bits are 01, so these never pass for STUN (00) on the shared socket
 * (RFC 7983 §7). Each direction has its own key, derived from the pair key and the sender's role
 * ({@link #directionKey}), so a datagram bounced back to its sender never verifies. PROBE,
 * KEEPALIVE and DATA carry the sender's counter, which increases with every datagram and is
 * checked against a {@link ReplayWindow}; an answer (PROBE_ACK, KEEPALIVE_ACK) repeats the counter
 * of what it answers, so it proves the path both ways, and is accepted once.
 */
public record Probe(Kind kind, long pairId, long counter, byte[] payload) {
    public enum Kind {
        PROBE(1), PROBE_ACK(2), KEEPALIVE(3), KEEPALIVE_ACK(4), DATA(5);

        final int code;

        Kind(int code) {
            this.code = code;
        }

        static Kind ofCode(int code) {
            for (Kind k : values()) if (k.code == code) return k;
            return null;
        }
    }

    static final int HEADER = 4 + 8 + 8;
    static final int MAC_BYTES = 16;
    static final int VERSION = 2;

    public Probe {
        payload = payload == null ? new byte[0] : payload.clone();
    }

    /** Quick test for demultiplexing: our magic and version. */
    public static boolean looksLikeProbe(ByteBuffer d) {
        int p = d.position();
        return d.remaining() >= HEADER + MAC_BYTES && d.get(p) == 'H' && d.get(p + 1) == 'P' && d.get(p + 2) == VERSION;
    }

    /** The pair id of a datagram that looks like a probe (to find its key before checking it). */
    public static long pairIdOf(byte[] data, int length) {
        return ByteBuffer.wrap(data, 0, length).getLong(4);
    }

    public byte[] encode(byte[] key) {
        ByteBuffer b = ByteBuffer.allocate(HEADER + payload.length + MAC_BYTES);
        b.put((byte) 'H').put((byte) 'P').put((byte) VERSION).put((byte) kind.code).putLong(pairId).putLong(counter).put(payload);
        b.put(mac(key, b.array(), HEADER + payload.length));
        return b.array();
    }

    /** Parses and authenticates; null for anything malformed or not made with {@code key}. */
    public static Probe parse(byte[] data, int length, byte[] key) {
        if (length < HEADER + MAC_BYTES || data[0] != 'H' || data[1] != 'P' || data[2] != VERSION) return null;
        Kind kind = Kind.ofCode(data[3]);
        if (kind == null) return null;
        int body = length - MAC_BYTES;
        if (kind != Kind.DATA && body != HEADER) return null;
        byte[] expected = mac(key, data, body);
        if (!MessageDigest.isEqual(expected, Arrays.copyOfRange(data, body, length))) return null;
        ByteBuffer b = ByteBuffer.wrap(data, 0, length);
        return new Probe(kind, b.getLong(4), b.getLong(12), Arrays.copyOfRange(data, HEADER, body));
    }

    /** The key {@code senderRole}'s datagrams are authenticated with: HMAC-SHA256(pair key, label and role). */
    public static byte[] directionKey(byte[] pairKey, String senderRole) {
        byte[] label = ("holepunch probe v2 from " + senderRole).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        return mac(pairKey, label, label.length, 32);
    }

    private static byte[] mac(byte[] key, byte[] data, int length) {
        return mac(key, data, length, MAC_BYTES);
    }

    private static byte[] mac(byte[] key, byte[] data, int length, int size) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update(data, 0, length);
            return Arrays.copyOf(mac.doFinal(), size);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is required of every JDK", e);
        }
    }
}
