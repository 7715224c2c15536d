package holepunch.websocket;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Utf8ValidatorTest {
    private static byte[] bytes(int... b) {
        byte[] out = new byte[b.length];
        for (int i = 0; i < b.length; i++) out[i] = (byte) b[i];
        return out;
    }

    @Test
    void isValid_acceptsAsciiAndEveryEncodingLength() {
        assertTrue(Utf8Validator.isValid("héllo € 𝄞".getBytes(StandardCharsets.UTF_8)));
        assertTrue(Utf8Validator.isValid(bytes(0xF4, 0x8F, 0xBF, 0xBF)));   // U+10FFFF
    }

    @Test
    void isValid_rejectsOverlongSurrogatesAndOutOfRange() {
        assertFalse(Utf8Validator.isValid(bytes(0xC0, 0xAF)));               // overlong '/'
        assertFalse(Utf8Validator.isValid(bytes(0xE0, 0x80, 0xAF)));         // overlong 3-byte
        assertFalse(Utf8Validator.isValid(bytes(0xED, 0xA0, 0x80)));         // U+D800 surrogate
        assertFalse(Utf8Validator.isValid(bytes(0xF4, 0x90, 0x80, 0x80)));   // above U+10FFFF
        assertFalse(Utf8Validator.isValid(bytes(0xFF)));
        assertFalse(Utf8Validator.isValid(bytes(0x80)));                     // lone continuation
    }

    @Test
    void feed_sequenceSplitAcrossCallsIsValidOnlyWhenComplete() {
        Utf8Validator v = new Utf8Validator();
        assertTrue(v.feed(ByteBuffer.wrap(bytes(0xF0, 0x9D))));
        assertFalse(v.isComplete());
        assertTrue(v.feed(ByteBuffer.wrap(bytes(0x84, 0x9E))));
        assertTrue(v.isComplete());
    }
}
