package holepunch.websocket;

import java.nio.ByteBuffer;

/**
 * Incremental UTF-8 validation (RFC 3629 §4), so a text message split across frames or reads is
 * checked as it arrives (RFC 6455 §8.1: fail with 1007 on invalid data).
 */
public final class Utf8Validator {
    private int need;
    private int lower = 0x80;
    private int upper = 0xBF;

    /** Feeds the bytes; false as soon as they cannot be UTF-8. Does not move {@code data}'s position. */
    public boolean feed(ByteBuffer data) {
        for (int i = data.position(), end = data.limit(); i < end; i++) {
            if (!feed(data.get(i) & 0xFF)) return false;
        }
        return true;
    }

    boolean feed(int b) {
        if (need == 0) {
            if (b < 0x80) return true;
            if (b >= 0xC2 && b <= 0xDF) {
                need = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                need = 2;
                if (b == 0xE0) lower = 0xA0;          // no overlong 3-byte forms
                if (b == 0xED) upper = 0x9F;          // no UTF-16 surrogates
            } else if (b >= 0xF0 && b <= 0xF4) {
                need = 3;
                if (b == 0xF0) lower = 0x90;          // no overlong 4-byte forms
                if (b == 0xF4) upper = 0x8F;          // nothing above U+10FFFF
            } else {
                return false;
            }
            return true;
        }
        if (b < lower || b > upper) return false;
        lower = 0x80;
        upper = 0xBF;
        need--;
        return true;
    }

    /** True when no multi-byte sequence is left open. */
    public boolean isComplete() {
        return need == 0;
    }

    public void reset() {
        need = 0;
        lower = 0x80;
        upper = 0xBF;
    }

    public static boolean isValid(byte[] bytes) {
        Utf8Validator v = new Utf8Validator();
        return v.feed(ByteBuffer.wrap(bytes)) && v.isComplete();
    }
}
