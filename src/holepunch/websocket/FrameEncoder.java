package holepunch.websocket;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Encodes server frames: unmasked (RFC 6455 §5.1), unfragmented, with the minimal length form (§5.2). */
public final class FrameEncoder {
    private FrameEncoder() {
    }

    public static ByteBuffer text(String text) {
        return frame(Opcode.TEXT, text.getBytes(StandardCharsets.UTF_8));
    }

    /** A text frame of a payload that is already UTF-8. */
    public static ByteBuffer text(byte[] utf8) {
        return frame(Opcode.TEXT, utf8);
    }

    public static ByteBuffer frame(Opcode opcode, byte[] payload) {
        return start(opcode, payload.length).put(payload).flip();
    }

    /**
     * A frame whose payload the caller writes in place: the buffer holds the header and room for
     * exactly {@code len} payload bytes; fill them, then {@code flip()}.
     */
    public static ByteBuffer start(Opcode opcode, int len) {
        int header = len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
        ByteBuffer out = ByteBuffer.allocate(header + len);
        out.put((byte) (0x80 | opcode.code));
        if (len < 126) {
            out.put((byte) len);
        } else if (len <= 0xFFFF) {
            out.put((byte) 126).putShort((short) len);
        } else {
            out.put((byte) 127).putLong(len);
        }
        return out;
    }

    /**
     * A Close frame (§5.5.1). {@link CloseCode#NO_STATUS} gives an empty body; the reason is cut
     * to fit the 125-byte control payload without splitting a character.
     */
    public static ByteBuffer close(int code, String reason) {
        if (code == CloseCode.NO_STATUS) return frame(Opcode.CLOSE, new byte[0]);
        byte[] r = truncateUtf8(reason == null ? "" : reason, 123);
        ByteBuffer body = ByteBuffer.allocate(2 + r.length).putShort((short) code).put(r);
        return frame(Opcode.CLOSE, body.array());
    }

    static byte[] truncateUtf8(String s, int maxBytes) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length <= maxBytes) return b;
        int end = maxBytes;
        while (end > 0 && (b[end] & 0xC0) == 0x80) end--;   // back up to a character boundary
        return java.util.Arrays.copyOf(b, end);
    }
}
