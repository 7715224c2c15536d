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
        List<byte[]> seeds = List.of(
                StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(true),
                holepunch.stun.StunServer.respond(StunMessage.bindingRequest(new byte[12]).encode(true), 28,
                        new java.net.InetSocketAddress("192.0.2.1", 1234)),
                holepunch.stun.StunServer.respond(StunMessage.bindingRequest(new byte[12]).encode(true), 28,
                        new java.net.InetSocketAddress("2001:db8::1", 1234)));
        Random r = new Random(8489);
        long start = System.nanoTime();
        int parsed = 0;
        for (int i = 0; i < ROUNDS; i++) {
            byte[] input = mutate(r, seeds);
            try {
                StunMessage m = StunMessage.parse(input);
                m.mappedAddress();
                parsed++;
            } catch (StunException expected) {
                // refused: fine
            }
            if ((i & 0xFFFF) == 0) checkTime(start, i);
        }
        assertTrue(parsed > 0, "some mutations must still parse, or the seeds are wrong");
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
                assertTrue(e.closeCode() == 1002 || e.closeCode() == 1003 || e.closeCode() == 1007 || e.closeCode() == 1009,
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
        assertEquals(32, Json.MAX_DEPTH);
    }
}
