package holepunch.fuzz;

import holepunch.json.Json;
import holepunch.stun.StunException;
import holepunch.stun.StunMessage;
import holepunch.testing.RawWebSocket;
import holepunch.websocket.FrameReader;
import holepunch.websocket.MessageDecoder;
import holepunch.websocket.WebSocketException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each parser takes 10^6 random and mutated inputs (seeded, so a failure reproduces) and may
 * only refuse them with its own exception. Inputs are small, and the decoders allocate from
 * their limits, not from what an input announces, so memory stays bounded.
 */
@org.junit.jupiter.api.Tag("slow")
class FuzzTest {
    static final int ROUNDS = 1_000_000;
    static final long TIME_LIMIT_NANOS = 120_000_000_000L;

    /** Random bytes, or a seed input with a few bytes changed, cut, or repeated. */
    static byte[] mutate(Random r, List<byte[]> seeds) {
        if (r.nextInt(4) == 0) {
            byte[] b = new byte[r.nextInt(96)];
            r.nextBytes(b);
            return b;
        }
        byte[] s = seeds.get(r.nextInt(seeds.size()));
        byte[] b = s.clone();
        switch (r.nextInt(4)) {
            case 0 -> {
                for (int k = 1 + r.nextInt(4); k > 0 && b.length > 0; k--) b[r.nextInt(b.length)] = (byte) r.nextInt(256);
            }
            case 1 -> b = java.util.Arrays.copyOf(b, r.nextInt(b.length + 1));
            case 2 -> {
                byte[] twice = new byte[b.length * 2];
                System.arraycopy(b, 0, twice, 0, b.length);
                System.arraycopy(b, 0, twice, b.length, b.length);
                b = twice;
                if (b.length > 0) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            }
            default -> {
                if (b.length > 0) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            }
        }
        return b;
    }

    private static void checkTime(long start, int round) {
        assertTrue(System.nanoTime() - start < TIME_LIMIT_NANOS, "fuzzing took too long, at round " + round);
    }

    @Test
    void stunParser_millionInputs_onlyStunException() {
        // Seeds with FINGERPRINT and without; half the mutations of fingerprinted seeds get a
        // recomputed FINGERPRINT, so the attribute parser (not the CRC check) meets the mutation.
        byte[] v4 = holepunch.stun.StunServer.respond(StunMessage.bindingRequest(new byte[12]).encode(true), 28,
                new java.net.InetSocketAddress("192.0.2.1", 1234));
        byte[] v6 = holepunch.stun.StunServer.respond(StunMessage.bindingRequest(new byte[12]).encode(true), 28,
                new java.net.InetSocketAddress("2001:db8::1", 1234));
        List<byte[]> seeds = List.of(
                StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(true),
                StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(false),
                v4, v6, withoutFingerprint(v4), withoutFingerprint(v6));
        Random r = new Random(8489);
        long start = System.nanoTime();
        int parsed = 0;
        int pastFingerprint = 0;
        for (int i = 0; i < ROUNDS; i++) {
            byte[] input = mutate(r, seeds);
            if (r.nextBoolean()) input = refingerprint(input);
            try {
                StunMessage m = StunMessage.parse(input);
                m.mappedAddress();
                parsed++;
            } catch (StunException expected) {
                if (!String.valueOf(expected.getMessage()).contains("FINGERPRINT")) pastFingerprint++;
            }
            if ((i & 0xFFFF) == 0) checkTime(start, i);
        }
        assertTrue(parsed > 0, "some mutations must still parse, or the seeds are wrong");
        assertTrue(pastFingerprint > ROUNDS / 10, "most refusals must come from the parser's own rules, not the CRC: " + pastFingerprint);
    }

    /** The message with its FINGERPRINT attribute (the last 8 bytes) removed and the length fixed. */
    static byte[] withoutFingerprint(byte[] m) {
        byte[] out = java.util.Arrays.copyOf(m, m.length - 8);
        ByteBuffer.wrap(out).putShort(2, (short) (out.length - 20));
        return out;
    }

    /** When the input ends in something shaped like FINGERPRINT, computes it anew over what precedes it. */
    static byte[] refingerprint(byte[] m) {
        if (m.length < 28 || ByteBuffer.wrap(m).getShort(m.length - 8) != (short) 0x8028) return m;
        byte[] out = m.clone();
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(out, 0, out.length - 8);
        ByteBuffer.wrap(out).putInt(out.length - 4, (int) crc.getValue() ^ 0x5354554e);
        return out;
    }

    @Test
    void webSocketDecoder_millionInputs_onlyWebSocketException() {
        List<byte[]> seeds = List.of(
                RawWebSocket.text("{\"type\":\"echo_request\",\"payload\":\"x\"}"),
                RawWebSocket.frame(0x1, false, "ab".getBytes()),
                RawWebSocket.frame(0x9, true, new byte[3]),
                RawWebSocket.close(1000, "bye".getBytes()),
                RawWebSocket.frame(0x1, true, new byte[300]));
        MessageDecoder.Listener sink = new MessageDecoder.Listener() {
            @Override public void onText(String text) { }
            @Override public void onPing(byte[] payload) { }
            @Override public void onPong(byte[] payload) { }
            @Override public void onClose(int code, String reason) { }
        };
        Random r = new Random(6455);
        long start = System.nanoTime();
        for (int i = 0; i < ROUNDS; i++) {
            byte[] input = mutate(r, seeds);
            FrameReader reader = new FrameReader();
            MessageDecoder decoder = new MessageDecoder(sink, 4096);
            try {
                // in two pieces, as TCP may deliver it
                int cut = input.length == 0 ? 0 : r.nextInt(input.length + 1);
                reader.read(ByteBuffer.wrap(input, 0, cut), decoder);
                reader.read(ByteBuffer.wrap(input, cut, input.length - cut), decoder);
            } catch (WebSocketException e) {
                assertTrue(e.closeCode() == 1002 || e.closeCode() == 1003 || e.closeCode() == 1007 || e.closeCode() == 1009
                                || e.closeCode() == 1013,
                        "unexpected close code " + e.closeCode());
            }
            if ((i & 0xFFFF) == 0) checkTime(start, i);
        }
    }

    @Test
    void jsonReader_millionInputs_onlyParseException() {
        List<byte[]> seeds = List.of(
                "{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"1.2.3.4\",\"udp_port\":\"4000\"}".getBytes(StandardCharsets.UTF_8),
                "{\"type\":\"echo_request\",\"payload\":[1,2.5e3,{\"a\":null},true,\"\\u00e9\"]}".getBytes(StandardCharsets.UTF_8),
                "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]".getBytes(StandardCharsets.UTF_8));
        Random r = new Random(8259);
        long start = System.nanoTime();
        int parsed = 0;
        for (int i = 0; i < ROUNDS; i++) {
            String input = new String(mutate(r, seeds), StandardCharsets.UTF_8);
            try {
                Json.parse(input);
                parsed++;
            } catch (Json.ParseException expected) {
                // refused: fine
            }
            if ((i & 0xFFFF) == 0) checkTime(start, i);
        }
        assertTrue(parsed > 0);
    }

    @Test
    void jsonReader_deepNestingIsRefusedNotAStackOverflow() {
        String deep = "[".repeat(100_000) + "]".repeat(100_000);
        Json.ParseException e = org.junit.jupiter.api.Assertions.assertThrows(Json.ParseException.class, () -> Json.parse(deep));
        assertTrue(e.getMessage().toLowerCase().contains("depth") || e.getMessage().toLowerCase().contains("nesting"), e.getMessage());
        String allowed = "[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH);
        org.junit.jupiter.api.Assertions.assertDoesNotThrow(() -> Json.parse(allowed), "the limit itself is allowed");
    }
}
