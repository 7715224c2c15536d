package holepunch.websocket;

import holepunch.limits.ByteBudget;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The protocol rules for frames sent by a client (RFC 6455 §5): masking, reserved bits and
 * opcodes, minimal length encoding, control frame limits, fragmentation, UTF-8 of text and close
 * reasons, and the message size limit. Each violation throws a {@link WebSocketException} with the
 * close code to fail the connection with. Whole messages go to the {@link Listener}.
 *
 * <p>Memory follows the bytes that arrived, not the length a header announces: a message buffer
 * starts small and grows as payload comes in, and every byte it holds is taken from a
 * {@link ByteBudget} shared by all sessions (a session that cannot get more fails with 1013).
 */
public final class MessageDecoder implements FrameReader.Consumer {

    public interface Listener {
        void onText(String text) throws WebSocketException;

        /** A whole binary message, {@code data[0, length)} (the array is the listener's from then on). */
        default void onBinary(byte[] data, int length) throws WebSocketException {
            throw new WebSocketException(CloseCode.UNSUPPORTED_DATA, "binary messages are not accepted; send JSON text");
        }

        void onPing(byte[] payload);

        void onPong(byte[] payload);

        /** {@code code} is {@link CloseCode#NO_STATUS} for a Close frame without a body. */
        void onClose(int code, String reason);
    }

    private static final int MAX_CONTROL_PAYLOAD = 125;   // §5.5
    /** The first buffer of a message; it doubles as payload arrives, up to the announced size. */
    static final int INITIAL_BUFFER = 512;

    private final Listener listener;
    private final int maxMessageBytes;
    private final ByteBudget budget;

    // the frame being read
    private boolean fin;
    private Opcode opcode;
    private int maskKey;
    private long maskOffset;

    // the message being assembled (binary only when accepted: see acceptBinary)
    private boolean inMessage;
    private boolean binary;
    private volatile boolean binaryAccepted;
    private byte[] message;
    private int messageLength;
    /** The message's size as announced so far (all its frames' headers). */
    private long announced;
    private final Utf8Validator utf8 = new Utf8Validator();

    // the control frame being read
    private byte[] control;
    private int controlLength;

    public MessageDecoder(Listener listener, int maxMessageBytes, ByteBudget budget) {
        this.listener = listener;
        this.maxMessageBytes = maxMessageBytes;
        this.budget = budget;
    }

    /** A decoder with a budget of its own (tests, tools). */
    public MessageDecoder(Listener listener, int maxMessageBytes) {
        this(listener, maxMessageBytes, new ByteBudget(Long.MAX_VALUE));
    }

    /** From now on binary messages go to {@link Listener#onBinary} instead of failing the connection with 1003. */
    public void acceptBinary() {
        binaryAccepted = true;
    }

    /** Bytes this decoder holds from its budget now. */
    public int buffered() {
        return message == null ? 0 : message.length;
    }

    /** Gives back what the decoder holds; for a session that ends in the middle of a message. */
    public void release() {
        if (message != null) budget.give(message.length);
        message = null;
        inMessage = false;
        messageLength = 0;
    }

    @Override
    public void fin(boolean value) {
        fin = value;
    }

    @Override
    public void rsv(int bits) throws WebSocketException {
        if (bits != 0) throw WebSocketException.protocol("reserved bits set without a negotiated extension");
    }

    @Override
    public void opcode(Opcode value) throws WebSocketException {
        if (value.isReserved()) throw WebSocketException.protocol("reserved opcode " + value.code);
        if (value.isControl()) {
            if (!fin) throw WebSocketException.protocol("fragmented control frame");
        } else if (value == Opcode.CONTINUATION) {
            if (!inMessage) throw WebSocketException.protocol("continuation frame without a message to continue");
        } else {
            if (inMessage) throw WebSocketException.protocol("new data frame inside a fragmented message");
            if (value == Opcode.BINARY && !binaryAccepted) {
                throw new WebSocketException(CloseCode.UNSUPPORTED_DATA, "binary messages are not accepted; send JSON text");
            }
            binary = value == Opcode.BINARY;
        }
        opcode = value;
    }

    @Override
    public void mask(boolean masked) throws WebSocketException {
        if (!masked) throw WebSocketException.protocol("client frame is not masked");
    }

    @Override
    public void payloadLen(long length, int extendedBytes) throws WebSocketException {
        if (length < 0) throw WebSocketException.protocol("64-bit payload length with its most significant bit set");
        if ((extendedBytes == 2 && length < 126) || (extendedBytes == 8 && length <= 0xFFFF)) {
            throw WebSocketException.protocol("payload length not in its minimal encoding");   // §5.2
        }
        if (opcode.isControl()) {
            if (length > MAX_CONTROL_PAYLOAD) throw WebSocketException.protocol("control frame payload over 125 bytes");
            control = new byte[(int) length];
            controlLength = 0;
        } else {
            long total = (opcode == Opcode.CONTINUATION ? messageLength : 0) + length;
            if (total > maxMessageBytes) {
                throw new WebSocketException(CloseCode.MESSAGE_TOO_BIG,
                        "message of at least " + total + " bytes exceeds the limit of " + maxMessageBytes);
            }
            if (opcode != Opcode.CONTINUATION) {
                inMessage = true;
                messageLength = 0;
                utf8.reset();
            }
            announced = total;
        }
        maskOffset = 0;
    }

    @Override
    public void maskingKey(int key) {
        maskKey = key;
    }

    @Override
    public void payloadData(ByteBuffer data) throws WebSocketException {
        int n = data.remaining();
        byte[] target;
        int at;
        if (opcode.isControl()) {
            target = control;
            at = controlLength;
            controlLength += n;
        } else {
            ensureCapacity(messageLength + n);
            target = message;
            at = messageLength;
            messageLength += n;
        }
        data.get(data.position(), target, at, n);
        unmask(target, at, n, maskKey, maskOffset);
        maskOffset += n;
        if (!opcode.isControl() && !binary && !utf8.feed(ByteBuffer.wrap(target, at, n))) {
            throw new WebSocketException(CloseCode.INVALID_PAYLOAD, "text message is not valid UTF-8");
        }
    }

    @Override
    public void endFrame() throws WebSocketException {
        switch (opcode) {
            case PING -> listener.onPing(takeControl());
            case PONG -> listener.onPong(takeControl());
            case CLOSE -> endClose(takeControl());
            default -> {
                if (!fin) return;
                if (binary) {
                    byte[] data = message == null ? new byte[0] : message;
                    int length = messageLength;
                    if (message != null) budget.give(message.length);    // the listener's now, off the shared budget
                    message = null;
                    inMessage = false;
                    messageLength = 0;
                    listener.onBinary(data, length);
                    return;
                }
                if (!utf8.isComplete()) {
                    throw new WebSocketException(CloseCode.INVALID_PAYLOAD, "text message ends inside a UTF-8 sequence");
                }
                String text = message == null ? "" : new String(message, 0, messageLength, StandardCharsets.UTF_8);
                release();          // idle sessions keep no buffer
                listener.onText(text);
            }
        }
    }

    private static final java.lang.invoke.VarHandle LONGS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class, java.nio.ByteOrder.BIG_ENDIAN);

    /**
     * XORs {@code b[at, at + n)} with the masking key (§5.3), whose byte {@code j % 4} applies to
     * payload byte {@code j}; {@code offset} is the payload offset of {@code b[at]}. Eight bytes at a time.
     */
    static void unmask(byte[] b, int at, int n, int key, long offset) {
        int rot = Integer.rotateLeft(key, 8 * (int) (offset & 3));
        long key64 = ((long) rot << 32) | (rot & 0xFFFFFFFFL);
        int i = 0;
        for (; i + 8 <= n; i += 8) LONGS.set(b, at + i, (long) LONGS.get(b, at + i) ^ key64);
        for (; i < n; i++) b[at + i] ^= (byte) (rot >>> (24 - 8 * (i & 3)));
    }

    /**
     * Grows the message buffer to hold {@code needed} bytes: a text message doubling, never past the
     * announced size; a binary one (relayed data, from sessions that negotiated it) to the announced
     * size at once, as its bytes come in a stream.
     */
    private void ensureCapacity(int needed) throws WebSocketException {
        int have = message == null ? 0 : message.length;
        if (needed <= have) return;
        int next = binary ? (int) announced : (int) Math.min(announced, Math.max(needed, Math.max(INITIAL_BUFFER, 2L * have)));
        if (!budget.tryTake(next - have)) {
            throw new WebSocketException(CloseCode.TRY_AGAIN_LATER, "the server's buffers are full; try again later");
        }
        message = message == null ? new byte[next] : Arrays.copyOf(message, next);
    }

    private byte[] takeControl() {
        byte[] payload = control;
        control = null;
        return payload;
    }

    /** §5.5.1: an optional 2-byte code, then an optional UTF-8 reason. */
    private void endClose(byte[] payload) throws WebSocketException {
        if (payload.length == 0) {
            listener.onClose(CloseCode.NO_STATUS, "");
            return;
        }
        if (payload.length == 1) throw WebSocketException.protocol("close frame with a 1-byte payload");
        int code = ((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF);
        if (!CloseCode.isValidOnWire(code)) throw WebSocketException.protocol("invalid close code " + code);
        byte[] reason = Arrays.copyOfRange(payload, 2, payload.length);
        if (!Utf8Validator.isValid(reason)) {
            throw new WebSocketException(CloseCode.INVALID_PAYLOAD, "close reason is not valid UTF-8");
        }
        listener.onClose(code, new String(reason, StandardCharsets.UTF_8));
    }
}
