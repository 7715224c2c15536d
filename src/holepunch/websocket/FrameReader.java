package holepunch.websocket;

import java.nio.ByteBuffer;

/**
 * Reads the byte syntax of WebSocket frames (RFC 6455 §5.2) and reports each part to a
 * {@link Consumer}; it enforces no rule. It keeps its position between calls, so input may be
 * cut anywhere: {@link #read} consumes everything it is given and returns.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-------+-+-------------+-------------------------------+
 * |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 * |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 * |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 * | |1|2|3|       |K|             |                               |
 * +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 * |     Extended payload length continued, if payload len == 127  |
 * + - - - - - - - - - - - - - - - +-------------------------------+
 * |                               |Masking-key, if MASK set to 1  |
 * +-------------------------------+-------------------------------+
 * | Masking-key (continued)       |          Payload Data         |
 * +-------------------------------- - - - - - - - - - - - - - - - +
 * </pre>
 */
public final class FrameReader {

    /** Receives the parts of each frame in order: header fields, then payload chunks, then the end. */
    public interface Consumer {
        void fin(boolean fin) throws WebSocketException;

        /** The three RSV bits, RSV1 as bit 2. */
        void rsv(int bits) throws WebSocketException;

        void opcode(Opcode opcode) throws WebSocketException;

        void mask(boolean masked) throws WebSocketException;

        /** The payload length and the size of its encoding: 0 (7-bit field), 2 or 8 extra bytes. */
        void payloadLen(long length, int extendedBytes) throws WebSocketException;

        void maskingKey(int key) throws WebSocketException;

        /** A chunk of (still masked) payload; the consumer must take all of it. */
        void payloadData(ByteBuffer data) throws WebSocketException;

        void endFrame() throws WebSocketException;
    }

    private static final int FIRST_BYTE = 0, SECOND_BYTE = 1, EXTENDED_LEN = 2, MASK_KEY = 3, PAYLOAD = 4;

    private int state = FIRST_BYTE;
    private boolean masked;
    private int extendedBytes;
    private int needed;
    private long acc;
    private long remaining;

    public void read(ByteBuffer input, Consumer consumer) throws WebSocketException {
        while (true) {
            switch (state) {
                case FIRST_BYTE -> {
                    if (!input.hasRemaining()) return;
                    int b = input.get();
                    consumer.fin((b & 0x80) != 0);
                    consumer.rsv((b >> 4) & 0x7);
                    consumer.opcode(Opcode.ofCode(b));
                    state = SECOND_BYTE;
                }
                case SECOND_BYTE -> {
                    if (!input.hasRemaining()) return;
                    int b = input.get();
                    masked = (b & 0x80) != 0;
                    consumer.mask(masked);
                    int len = b & 0x7F;
                    if (len < 126) {
                        afterLength(len, 0, consumer);
                    } else {
                        extendedBytes = needed = (len == 126) ? 2 : 8;
                        acc = 0;
                        state = EXTENDED_LEN;
                    }
                }
                case EXTENDED_LEN -> {
                    while (needed > 0 && input.hasRemaining()) {
                        acc = (acc << 8) | (input.get() & 0xFF);
                        needed--;
                    }
                    if (needed > 0) return;
                    afterLength(acc, extendedBytes, consumer);
                }
                case MASK_KEY -> {
                    while (needed > 0 && input.hasRemaining()) {
                        acc = (acc << 8) | (input.get() & 0xFF);
                        needed--;
                    }
                    if (needed > 0) return;
                    consumer.maskingKey((int) acc);
                    state = PAYLOAD;
                }
                case PAYLOAD -> {
                    if (remaining > 0) {
                        if (!input.hasRemaining()) return;
                        int n = (int) Math.min(remaining, input.remaining());
                        ByteBuffer chunk = input.slice(input.position(), n);
                        input.position(input.position() + n);
                        remaining -= n;
                        consumer.payloadData(chunk);
                        if (remaining > 0) return;
                    }
                    state = FIRST_BYTE;
                    consumer.endFrame();
                }
                default -> throw new IllegalStateException("state " + state);
            }
        }
    }

    private void afterLength(long length, int encodedBytes, Consumer consumer) throws WebSocketException {
        consumer.payloadLen(length, encodedBytes);
        remaining = length;
        if (masked) {
            needed = 4;
            acc = 0;
            state = MASK_KEY;
        } else {
            state = PAYLOAD;
        }
    }
}
