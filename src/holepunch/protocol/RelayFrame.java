package holepunch.protocol;

import java.nio.ByteBuffer;

/**
 * The binary relay: datagrams between the two workers of a pair in WebSocket binary messages,
 * for sessions that negotiated the subprotocol {@value #SUBPROTOCOL} at the upgrade (RFC 6455
 * §1.9). Clients that did not keep the JSON {@code relay_data}. One message carries one or more
 * records, each naming its pair:
 *
 * <pre>
 *  message = version (1 byte, {@value #VERSION}) record+
 *  record  = pair id (8 bytes, big-endian: the 16 hex digits of pair_id) | length (2 bytes) | datagram (length bytes)
 * </pre>
 *
 * The same shape goes both ways: a worker names the pair it sends on, the rendezvous the pair the
 * datagram came on (the pair says who sent it). Byte syntax only; who may use a pair is
 * {@code PeerBroker}'s rule.
 */
public final class RelayFrame {
    /** Offered by a worker in Sec-WebSocket-Protocol; selected by a rendezvous that speaks the binary relay. */
    public static final String SUBPROTOCOL = "holepunch.relay.1";
    public static final byte VERSION = 1;
    public static final int RECORD_HEADER = 10;
    /** The largest datagram a record carries (as {@code relay_data}'s limit). */
    public static final int MAX_DATAGRAM = 1500;

    private RelayFrame() {
    }

    /** What a reader is handed: one record's pair and its datagram, {@code data[off, off + len)} (valid during the call only). */
    public interface Visitor {
        void record(long pairId, ByteBuffer message, int off, int len);
    }

    /**
     * Walks the records of {@code message[pos, limit)}; the buffer's position is left as it was.
     * Throws {@link ProtocolException} naming what is wrong (the records before it were visited).
     */
    public static int read(ByteBuffer message, Visitor visitor) throws ProtocolException {
        int p = message.position();
        int end = message.limit();
        if (p == end) throw new ProtocolException("relay", "empty relay frame");
        if (message.get(p) != VERSION) throw new ProtocolException("relay", "relay frame version " + (message.get(p) & 0xFF) + "; this end speaks " + VERSION);
        p++;
        if (p == end) throw new ProtocolException("relay", "relay frame without a record");
        int records = 0;
        while (p < end) {
            if (end - p < RECORD_HEADER) throw new ProtocolException("relay", "relay record header cut short (" + (end - p) + " of 10 bytes)");
            long pair = message.getLong(p);
            int len = message.getShort(p + 8) & 0xFFFF;
            p += RECORD_HEADER;
            if (len > MAX_DATAGRAM) throw new ProtocolException("relay", "relay record of " + len + " bytes; at most " + MAX_DATAGRAM);
            if (len > end - p) throw new ProtocolException("relay", "relay record announces " + len + " bytes, " + (end - p) + " follow");
            visitor.record(pair, message, p, len);
            p += len;
            records++;
        }
        return records;
    }

    /** Starts a message in {@code out}: the version byte. */
    public static void begin(ByteBuffer out) {
        out.put(VERSION);
    }

    /** Appends a record to {@code out}; false (nothing written) when it does not fit. */
    public static boolean append(ByteBuffer out, long pairId, byte[] data, int off, int len) {
        if (len > MAX_DATAGRAM) throw new IllegalArgumentException("datagram of " + len + " bytes; at most " + MAX_DATAGRAM);
        if (out.remaining() < RECORD_HEADER + len) return false;
        out.putLong(pairId).putShort((short) len).put(data, off, len);
        return true;
    }

    /** As {@link #append(ByteBuffer, long, byte[], int, int)}, from {@code src[off, off + len)}. */
    public static boolean append(ByteBuffer out, long pairId, ByteBuffer src, int off, int len) {
        if (len > MAX_DATAGRAM) throw new IllegalArgumentException("datagram of " + len + " bytes; at most " + MAX_DATAGRAM);
        if (out.remaining() < RECORD_HEADER + len) return false;
        out.putLong(pairId).putShort((short) len).put(out.position(), src, off, len);
        out.position(out.position() + len);
        return true;
    }

    /** One record as a whole message (tests, single datagrams). */
    public static byte[] single(long pairId, byte[] data) {
        ByteBuffer out = ByteBuffer.allocate(1 + RECORD_HEADER + data.length);
        begin(out);
        append(out, pairId, data, 0, data.length);
        return out.array();
    }
}
