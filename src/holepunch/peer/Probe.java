package holepunch.peer;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * A control datagram between two workers of a pair (version 3), on the worker's UDP socket or
 * carried over the relay.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   'H' 0x48    |   'P' 0x50    |  version (3)  |     kind      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     pair id (64 bits)                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           counter (64 bits; in an answer, the one answered)   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     body (handshake kinds only)             ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   HMAC-SHA256(sender's probe key, all bytes above), 128 bits  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * The first byte's top bits are 01, so these never pass for STUN (00) on the shared socket
 * (RFC 7983 §7). Each direction has its own probe key, which only the two workers can compute
 * ({@link PathCrypto}), so neither the rendezvous nor a datagram bounced back to its sender
 * verifies. PROBE and KEEPALIVE carry the sender's counter, checked against a
 * {@link ReplayWindow}; an answer (PROBE_ACK, KEEPALIVE_ACK) repeats the counter it answers and
 * is accepted once. HANDSHAKE_INIT and HANDSHAKE_RESP carry a Noise IK message; HARD_NAT (over
 * the relay) tells the peer that the sender's NAT maps per destination and that it has opened
 * extra sockets towards it ({@link HardNat}), its body the number of them (16 bits); RECEIPT,
 * sent back twice a second while data arrives, carries the sender's counter as KEEPALIVE does and
 * its body what has arrived: the epoch of the newest DATA datagram opened (8 bits), the highest
 * counter opened in it (64 bits) and the number of DATA datagrams opened in all (64 bits), from
 * which the other side paces a TURN path ({@link TurnPacer}); it is not answered. DATA datagrams share the
 * header but are sealed by {@link PathCrypto} instead. A worker older than RECEIPT counts one as
 * {@code unauthenticated} and drops it.
 */
public record Probe(Kind kind, long pairId, long counter, byte[] payload) {
    public enum Kind {
        PROBE(1), PROBE_ACK(2), KEEPALIVE(3), KEEPALIVE_ACK(4), DATA(5), HANDSHAKE_INIT(6), HANDSHAKE_RESP(7), HARD_NAT(8), RECEIPT(9);

        final int code;

        Kind(int code) {
            this.code = code;
        }

        static Kind ofCode(int code) {
            for (Kind k : values()) if (k.code == code) return k;
            return null;
        }

        boolean hasBody() {
            return this == HANDSHAKE_INIT || this == HANDSHAKE_RESP || this == HARD_NAT || this == RECEIPT;
        }
    }

    static final int HEADER = 4 + 8 + 8;
    static final int MAC_BYTES = 16;
    static final int VERSION = 3;
    static final int MAX_BODY = 512;
    /** A RECEIPT's body: epoch (1), highest counter (8), datagrams opened (8). */
    static final int RECEIPT_BODY = 17;

    public Probe {
        payload = payload == null ? new byte[0] : payload.clone();
    }

    /** Quick test for demultiplexing: our magic and version. */
    public static boolean looksLikeProbe(ByteBuffer d) {
        int p = d.position();
        return d.remaining() >= HEADER + MAC_BYTES && d.get(p) == 'H' && d.get(p + 1) == 'P' && d.get(p + 2) == VERSION;
    }

    /** The pair id of a datagram that looks like a probe (to find its keys before checking it). */
    public static long pairIdOf(byte[] data, int length) {
        return ByteBuffer.wrap(data, 0, length).getLong(4);
    }

    /** The kind of a datagram that looks like a probe, or null. */
    static Kind kindOf(byte[] data, int length) {
        return length > 3 ? Kind.ofCode(data[3]) : null;
    }

    /** Writes the {@value #HEADER}-byte header at the start of {@code out}. */
    static void writeHeader(byte[] out, Kind kind, long pairId, long counter) {
        out[0] = 'H';
        out[1] = 'P';
        out[2] = (byte) VERSION;
        out[3] = (byte) kind.code;
        LONGS.set(out, 4, pairId);
        LONGS.set(out, 12, counter);
    }

    /** The counter of a datagram at least {@value #HEADER} bytes long. */
    static long counterOf(byte[] data) {
        return (long) LONGS.get(data, 12);
    }

    private static final java.lang.invoke.VarHandle LONGS = java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class,
            java.nio.ByteOrder.BIG_ENDIAN);

    static ByteBuffer header(Kind kind, long pairId, long counter, int extra) {
        return ByteBuffer.allocate(HEADER + extra).put((byte) 'H').put((byte) 'P').put((byte) VERSION).put((byte) kind.code)
                .putLong(pairId).putLong(counter);
    }

    public byte[] encode(byte[] key) {
        ByteBuffer b = header(kind, pairId, counter, payload.length + MAC_BYTES).put(payload);
        b.put(mac(key, b.array(), HEADER + payload.length));
        return b.array();
    }

    /** Parses and authenticates a control datagram; null for anything malformed, sealed (DATA), or not made with {@code key}. */
    public static Probe parse(byte[] data, int length, byte[] key) {
        if (length < HEADER + MAC_BYTES || data[0] != 'H' || data[1] != 'P' || data[2] != VERSION) return null;
        Kind kind = Kind.ofCode(data[3]);
        if (kind == null || kind == Kind.DATA) return null;
        int body = length - MAC_BYTES;
        if ((!kind.hasBody() && body != HEADER) || body - HEADER > MAX_BODY) return null;
        byte[] expected = mac(key, data, body);
        if (!MessageDigest.isEqual(expected, Arrays.copyOfRange(data, body, length))) return null;
        ByteBuffer b = ByteBuffer.wrap(data, 0, length);
        return new Probe(kind, b.getLong(4), b.getLong(12), Arrays.copyOfRange(data, HEADER, body));
    }

    static byte[] mac(byte[] key, byte[] data, int length) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update(data, 0, length);
            return Arrays.copyOf(mac.doFinal(), MAC_BYTES);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is required of every JDK", e);
        }
    }
}
