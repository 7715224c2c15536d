package holepunch.websocket;

import holepunch.testing.RawWebSocket;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class MessageDecoderTest {
    static final int MAX = 1000;

    static final class Events implements MessageDecoder.Listener {
        final List<String> list = new ArrayList<>();

        @Override public void onText(String text) { list.add("text:" + text); }
        @Override public void onPing(byte[] payload) { list.add("ping:" + payload.length); }
        @Override public void onPong(byte[] payload) { list.add("pong:" + payload.length); }
        @Override public void onClose(int code, String reason) { list.add("close:" + code + ":" + reason); }
        @Override public void onBinary(byte[] data, int length) {
            list.add("binary:" + java.util.HexFormat.of().formatHex(data, 0, length));
        }
    }

    private static List<String> decode(byte[]... frames) throws WebSocketException {
        Events events = new Events();
        MessageDecoder decoder = new MessageDecoder(events, MAX);
        FrameReader reader = new FrameReader();
        for (byte[] f : frames) reader.read(ByteBuffer.wrap(f), decoder);
        return events.list;
    }

    private static int failure(byte[]... frames) {
        return assertThrows(WebSocketException.class, () -> decode(frames)).closeCode();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void decode_textMessage() throws WebSocketException {
        assertEquals(List.of("text:hello"), decode(RawWebSocket.text("hello")));
    }

    @Test
    void decode_emptyTextMessage() throws WebSocketException {
        assertEquals(List.of("text:"), decode(RawWebSocket.text("")));
    }

    @Test
    void decode_fragmentsWithInterleavedPingAreAssembled() throws WebSocketException {
        assertEquals(List.of("ping:3", "text:héllo"), decode(
                RawWebSocket.frame(0x1, false, utf8("h\u00e9")),
                RawWebSocket.frame(0x9, true, new byte[3]),
                RawWebSocket.frame(0x0, false, utf8("ll")),
                RawWebSocket.frame(0x0, true, utf8("o"))));
    }

    @Test
    void decode_codePointSplitAcrossFragmentsIsValid() throws WebSocketException {
        byte[] euro = utf8("€");
        assertEquals(List.of("text:€"), decode(
                RawWebSocket.frame(0x1, false, new byte[] {euro[0]}),
                RawWebSocket.frame(0x0, true, new byte[] {euro[1], euro[2]})));
    }

    @Test
    void decode_unmaskedFrameFailsWith1002() {
        assertEquals(1002, failure(RawWebSocket.frame(0x1, true, utf8("x"), false, -1, 0)));
    }

    @Test
    void decode_reservedBitsFailWith1002() {
        assertEquals(1002, failure(RawWebSocket.frame(0x1, true, utf8("x"), true, -1, 4)));
    }

    @Test
    void decode_reservedOpcodesFailWith1002() {
        for (int op : new int[] {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
            assertEquals(1002, failure(RawWebSocket.frame(op, true, new byte[0])), "opcode " + op);
        }
    }

    /** The eight-bytes-at-a-time unmasking against §5.3's byte rule, at every offset and length around the word size. */
    @Test
    void unmask_matchesTheRfcByteRule() {
        java.util.Random random = new java.util.Random(5);
        for (int n = 0; n <= 40; n++) {
            for (long offset = 0; offset < 8; offset++) {
                int key = random.nextInt();
                byte[] b = new byte[n + 3];
                random.nextBytes(b);
                byte[] expected = b.clone();
                for (int j = 0; j < n; j++) expected[1 + j] ^= (byte) (key >>> (24 - 8 * (int) ((offset + j) & 3)));
                MessageDecoder.unmask(b, 1, n, key, offset);
                assertArrayEquals(expected, b, "n=" + n + " offset=" + offset);
            }
        }
    }

    @Test
    void decode_binaryFailsWith1003() {
        assertEquals(1003, failure(RawWebSocket.frame(0x2, true, new byte[4])));
    }

    @Test
    void decode_binaryOnceAccepted_fragmentsJoinAndBytesNeedNoUtf8() throws WebSocketException {
        Events events = new Events();
        MessageDecoder decoder = new MessageDecoder(events, MAX);
        decoder.acceptBinary();
        FrameReader reader = new FrameReader();
        byte[] notUtf8 = {(byte) 0xFF, (byte) 0xC0, 0x00};
        reader.read(ByteBuffer.wrap(RawWebSocket.frame(0x2, false, notUtf8)), decoder);
        reader.read(ByteBuffer.wrap(RawWebSocket.frame(0x9, true, new byte[1])), decoder);      // a ping between fragments (§5.4)
        reader.read(ByteBuffer.wrap(RawWebSocket.frame(0x0, true, new byte[] {7})), decoder);
        reader.read(ByteBuffer.wrap(RawWebSocket.text("after")), decoder);
        assertEquals(List.of("ping:1", "binary:ffc00007", "text:after"), events.list);
        assertEquals(0, decoder.buffered(), "a delivered binary message leaves no buffer behind");
        WebSocketException big = assertThrows(WebSocketException.class,
                () -> reader.read(ByteBuffer.wrap(RawWebSocket.frame(0x2, true, new byte[MAX + 1])), decoder));
        assertEquals(1009, big.closeCode(), "binary messages keep the size limit");
    }

    @Test
    void decode_controlFrameOver125BytesFailsWith1002() {
        assertEquals(1002, failure(RawWebSocket.frame(0x9, true, new byte[126])));
    }

    @Test
    void decode_fragmentedControlFrameFailsWith1002() {
        assertEquals(1002, failure(RawWebSocket.frame(0x9, false, new byte[1])));
    }

    @Test
    void decode_nonMinimalLengthsFailWith1002() {
        assertEquals(1002, failure(RawWebSocket.frame(0x1, true, utf8("abc"), true, 2, 0)));
        assertEquals(1002, failure(RawWebSocket.frame(0x1, true, new byte[200], true, 8, 0)));
    }

    @Test
    void decode_64BitLengthWithHighBitFailsWith1002() {
        byte[] header = {(byte) 0x81, (byte) (0x80 | 127), (byte) 0x80, 0, 0, 0, 0, 0, 0, 1};
        assertEquals(1002, failure(header));
    }

    @Test
    void decode_continuationWithoutMessageFailsWith1002() {
        assertEquals(1002, failure(RawWebSocket.frame(0x0, true, utf8("x"))));
    }

    @Test
    void decode_newMessageInsideFragmentedMessageFailsWith1002() {
        assertEquals(1002, failure(RawWebSocket.frame(0x1, false, utf8("a")), RawWebSocket.text("b")));
    }

    @Test
    void decode_oversizeFailsWith1009FromTheHeaderAlone() {
        // Only the 2+8+4 header bytes of a 1 GB frame: the limit is enforced before any body arrives.
        byte[] header = {(byte) 0x81, (byte) (0x80 | 127), 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4};
        assertEquals(1009, failure(header));
    }

    @Test
    void decode_oversizeAcrossFragmentsFailsWith1009() {
        assertEquals(1009, failure(RawWebSocket.frame(0x1, false, new byte[600]), RawWebSocket.frame(0x0, true, new byte[600])));
    }

    @Test
    void decode_invalidUtf8FailsWith1007() {
        assertEquals(1007, failure(RawWebSocket.frame(0x1, true, new byte[] {(byte) 0xC0, (byte) 0xAF})));
    }

    @Test
    void decode_textEndingInsideCodePointFailsWith1007() {
        byte[] euro = utf8("€");
        assertEquals(1007, failure(RawWebSocket.frame(0x1, false, new byte[] {euro[0]}),
                RawWebSocket.frame(0x0, true, new byte[] {euro[1]})));
    }

    @Test
    void decode_closeFrames() throws WebSocketException {
        assertEquals(List.of("close:1005:"), decode(RawWebSocket.frame(0x8, true, new byte[0])));
        assertEquals(List.of("close:1000:bye"), decode(RawWebSocket.close(1000, utf8("bye"))));
        assertEquals(List.of("close:4001:"), decode(RawWebSocket.close(4001, new byte[0])));
    }

    @Test
    void decode_oneByteClosePayloadFailsWith1002() {
        assertEquals(1002, failure(RawWebSocket.frame(0x8, true, new byte[] {3})));
    }

    @Test
    void decode_invalidCloseCodesFailWith1002() {
        for (int code : new int[] {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000}) {
            assertEquals(1002, failure(RawWebSocket.close(code, new byte[0])), "code " + code);
        }
    }

    @Test
    void decode_invalidUtf8CloseReasonFailsWith1007() {
        assertEquals(1007, failure(RawWebSocket.close(1000, new byte[] {(byte) 0xFF})));
    }

    @Test
    void decode_pingAndPongAreReported() throws WebSocketException {
        assertEquals(List.of("ping:5", "pong:0"), decode(RawWebSocket.frame(0x9, true, new byte[5]), RawWebSocket.frame(0xA, true, new byte[0])));
    }

    @Test
    void frameEncoder_closeReasonIsCutAtACharacterBoundary() throws WebSocketException {
        ByteBuffer frame = FrameEncoder.close(1000, "é".repeat(100));
        byte[] b = new byte[frame.remaining()];
        frame.get(b);
        assertEquals(0x88, b[0] & 0xFF);
        int len = b[1];
        assertEquals(2 + 122, len);    // 61 two-byte characters fit in 123 bytes
        ByteArrayOutputStream masked = new ByteArrayOutputStream();
        masked.writeBytes(RawWebSocket.frame(0x8, true, java.util.Arrays.copyOfRange(b, 2, b.length)));
        assertEquals(List.of("close:1000:" + "é".repeat(61)), decode(masked.toByteArray()));
    }

    /** Issue 9 finding 2: memory follows the bytes that arrived, and all sessions share one cap. */
    @Test
    void buffers_growWithArrivingPayload_andTheSharedBudgetCapsTheTotal() throws WebSocketException {
        holepunch.limits.ByteBudget budget = new holepunch.limits.ByteBudget(100_000);
        Events events = new Events();
        MessageDecoder first = new MessageDecoder(events, 65_535, budget);
        FrameReader reader = new FrameReader();
        byte[] frame = RawWebSocket.text("a".repeat(65_535));
        int headerBytes = 2 + 2 + 4;                          // 126-form length and the masking key
        reader.read(ByteBuffer.wrap(frame, 0, headerBytes), first);
        assertEquals(0, first.buffered(), "a header announcing 65,535 bytes allocates nothing");
        reader.read(ByteBuffer.wrap(frame, headerBytes, 1000), first);
        org.junit.jupiter.api.Assertions.assertTrue(first.buffered() >= 1000 && first.buffered() <= 2048, "grew to " + first.buffered());
        assertEquals(first.buffered(), budget.used());
        reader.read(ByteBuffer.wrap(frame, headerBytes + 1000, frame.length - headerBytes - 1000), first);
        assertEquals(List.of("text:" + "a".repeat(65_535)), events.list);
        assertEquals(0, budget.used(), "a finished message gives its bytes back");

        MessageDecoder second = new MessageDecoder(events, 65_535, budget);
        FrameReader reader2 = new FrameReader();
        reader.read(ByteBuffer.wrap(frame, 0, 60_000), first);       // holds ~64 KB of the 100 KB
        WebSocketException e = assertThrows(WebSocketException.class, () -> reader2.read(ByteBuffer.wrap(frame), second));
        assertEquals(CloseCode.TRY_AGAIN_LATER, e.closeCode(), "over the shared budget: 1013");
        first.release();
        assertEquals(second.buffered(), budget.used(), "a released session gives back all it held");
    }
}
