package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.protocol.ProtocolException;
import holepunch.protocol.RelayFrame;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The binary relay at the rendezvous (issue 22): negotiated with the subprotocol, outside the
 * message rate, translated for JSON-only clients, bounded per pair, in total and per receiver,
 * and never a reason to close the sender's session.
 */
class BinaryRelayTest {
    static final String RELAY = "Sec-WebSocket-Protocol: " + RelayFrame.SUBPROTOCOL + "\r\n";

    private static Map<String, Object> json(RawWebSocket.Frame f) throws Exception {
        assertEquals(0x1, f.opcode(), "a text frame");
        return Json.parseObject(f.text());
    }

    /** A session that selected the binary relay, with its endpoint reported; its relay_budget is checked and consumed. */
    private static RawWebSocket binary(TestRendezvous rv, String id) throws Exception {
        RawWebSocket ws = RawWebSocket.connect(rv.port, id, new byte[0], RELAY);
        assertTrue(ws.responseHead.contains("Sec-WebSocket-Protocol: " + RelayFrame.SUBPROTOCOL), ws.responseHead);
        Map<String, Object> budget = json(ws.readSkippingPings());
        assertEquals("relay_budget", budget.get("type"), "the first message of a binary-relay session");
        return reported(ws);
    }

    private static RawWebSocket reported(RawWebSocket ws) throws Exception {
        ws.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "198.51.100.9", "udp_port", 40000)));
        assertEquals("success", json(ws.readSkippingPings()).get("status"));
        return ws;
    }

    /** Introduces {@code a} to {@code b}; the pair's id. */
    private static String pair(RawWebSocket a, RawWebSocket b, String bId) throws Exception {
        a.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", bId)));
        String pairId = (String) json(a.readSkippingPings()).get("pair_id");
        assertEquals(pairId, json(b.readSkippingPings()).get("pair_id"));
        return pairId;
    }

    private static List<byte[]> records(RawWebSocket.Frame f, long pair) throws ProtocolException {
        assertEquals(0x2, f.opcode(), "a binary frame");
        List<byte[]> out = new ArrayList<>();
        RelayFrame.read(ByteBuffer.wrap(f.payload()), (p, m, off, len) -> {
            assertEquals(pair, p);
            byte[] d = new byte[len];
            m.get(off, d);
            out.add(d);
        });
        return out;
    }

    private static void echo(RawWebSocket ws) throws Exception {
        ws.sendText(Json.write(Json.obj("type", "echo_request", "payload", "alive?")));
        while (true) {
            RawWebSocket.Frame f = ws.readSkippingPings();
            assertTrue(f.opcode() != 0x8, "the session was closed: " + f.closeCode() + " " + f.closeReason());
            if (f.opcode() == 0x1 && "echo_response".equals(Json.parseObject(f.text()).get("type"))) return;
        }
    }

    private static long metric(TestRendezvous rv, String series) throws Exception {
        for (String line : rv.get("/metrics").body().split("\n")) {
            if (line.startsWith(series + " ")) return (long) Double.parseDouble(line.substring(series.length() + 1));
        }
        return 0;
    }

    @Test
    void negotiated_budgetAnnounced_andPlainClientsStayJson() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("RELAY_BYTES_PER_SEC", "123456", "RELAY_TOTAL_BYTES_PER_SEC", "7654321"));
             RawWebSocket plain = RawWebSocket.connect(rv.port, "nb-plain");
             RawWebSocket bin = RawWebSocket.connect(rv.port, "nb-bin", new byte[0], RELAY)) {
            assertFalse(plain.responseHead.toLowerCase().contains("sec-websocket-protocol"), "nothing selected when nothing was offered");
            assertEquals(Json.obj("type", "relay_budget", "pair_bytes_per_sec", 123456L, "total_bytes_per_sec", 7654321L),
                    json(bin.readSkippingPings()));
            plain.send(RawWebSocket.frame(0x2, true, RelayFrame.single(1, new byte[3])));
            assertEquals(1003, plain.readClose().closeCode(), "binary from a session that did not select the relay");
        }
    }

    /** 3,000 datagrams in 1,000 messages, at once, from a session allowed 50 messages a second: all arrive, and it stays open. */
    @Test
    void relayedData_isOutsideTheMessageRate_andArrivesWholeAndInOrder() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_MESSAGES_PER_SEC", "50", "RELAY_BYTES_PER_SEC", "100000000"));
             RawWebSocket a = binary(rv, "br-a");
             RawWebSocket b = binary(rv, "br-b")) {
            long pair = Long.parseUnsignedLong(pair(a, b, "br-b"), 16);
            List<byte[]> got = new ArrayList<>();
            // A window of 150 datagrams (180 kB) in flight: a receiver that keeps up loses nothing.
            java.util.concurrent.Semaphore window = new java.util.concurrent.Semaphore(150);
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    while (got.size() < 3000) {
                        List<byte[]> r = records(b.readSkippingPings(), pair);
                        got.addAll(r);
                        window.release(r.size());
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            for (int i = 0; i < 1000; i++) {
                ByteBuffer m = ByteBuffer.allocate(1 + 3 * (10 + 1200));
                RelayFrame.begin(m);
                for (int k = 0; k < 3; k++) {
                    byte[] d = new byte[1200];
                    ByteBuffer.wrap(d).putInt(i * 3 + k);
                    RelayFrame.append(m, pair, d, 0, d.length);
                }
                assertTrue(window.tryAcquire(3, 10, java.util.concurrent.TimeUnit.SECONDS), "the receiver stopped getting datagrams at " + i * 3);
                a.send(RawWebSocket.frame(0x2, true, m.array()));
            }
            reader.join(20_000);
            assertEquals(3000, got.size(), "every datagram arrived");
            for (int i = 0; i < 3000; i++) assertEquals(i, ByteBuffer.wrap(got.get(i)).getInt(), "in order");
            // JSON relay_data on the pair is outside the rate too: 300 at once.
            String data = Base64.getEncoder().encodeToString(new byte[100]);
            for (int i = 0; i < 300; i++) a.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", holepunch.protocol.P2pConnectionOffer.pairIdText(pair), "data", data)));
            int json = 0;
            while (json < 300) json += records(b.readSkippingPings(), pair).size();
            echo(a);
            assertEquals(3300, metric(rv, "holepunch_relay_datagrams_total"));
        }
    }

    @Test
    void binaryAndJsonClients_understandEachOther() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of());
             RawWebSocket a = binary(rv, "bj-a");
             RawWebSocket c = reported(RawWebSocket.connect(rv.port, "bj-c"))) {
            String pairId = pair(a, c, "bj-c");
            long pair = Long.parseUnsignedLong(pairId, 16);
            a.send(RawWebSocket.frame(0x2, true, RelayFrame.single(pair, "to json".getBytes())));
            assertEquals(Json.obj("type", "relay_data", "pair_id", pairId, "from_worker_id", "bj-a",
                    "data", Base64.getEncoder().encodeToString("to json".getBytes())), json(c.readSkippingPings()));
            c.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pairId, "data", Base64.getEncoder().encodeToString("to binary".getBytes()))));
            List<byte[]> got = records(a.readSkippingPings(), pair);
            assertEquals(1, got.size());
            assertArrayEquals("to binary".getBytes(), got.getFirst());
        }
    }

    /** Ten datagrams on a pair that is not the sender's: ten counted, one relay_error, the session open. */
    @Test
    void strangersPairs_andMalformedFrames_areCountedAndToldOnce() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of());
             RawWebSocket a = binary(rv, "bs-a");
             RawWebSocket b = binary(rv, "bs-b");
             RawWebSocket mallory = binary(rv, "bs-m")) {
            long pair = Long.parseUnsignedLong(pair(a, b, "bs-b"), 16);
            for (int i = 0; i < 10; i++) mallory.send(RawWebSocket.frame(0x2, true, RelayFrame.single(pair, new byte[8])));
            mallory.send(RawWebSocket.frame(0x2, true, new byte[] {1, 0, 0}));
            Map<String, Object> told = json(mallory.readSkippingPings());
            assertEquals("relay_error", told.get("type"));
            assertTrue(((String) told.get("detail")).contains("no pair of this worker"), told.toString());
            Map<String, Object> malformed = json(mallory.readSkippingPings());
            assertTrue(((String) malformed.get("detail")).contains("cut short"), malformed.toString());
            echo(mallory);                                  // nothing else came before the echo: told once each
            assertEquals(10, metric(rv, "holepunch_relay_dropped_total{reason=\"not_pair\"}"));
            assertEquals(1, metric(rv, "holepunch_relay_dropped_total{reason=\"malformed\"}"));
            assertEquals(0, metric(rv, "holepunch_relay_datagrams_total"), "nothing reached the pair");
        }
    }

    /**
     * A receiver that stops reading: datagrams for it are dropped once 512 KiB wait for it (counted),
     * its session and the sender's stay open, and another pair keeps flowing meanwhile.
     */
    @Test
    void aStalledReceiver_costsItsOwnTrafficOnly() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("RELAY_BYTES_PER_SEC", "1000000000"));
             RawWebSocket a = binary(rv, "st-a");
             RawWebSocket stalled = binary(rv, "st-b");
             RawWebSocket c = binary(rv, "st-c");
             RawWebSocket d = binary(rv, "st-d")) {
            long ab = Long.parseUnsignedLong(pair(a, stalled, "st-b"), 16);
            long cd = Long.parseUnsignedLong(pair(c, d, "st-d"), 16);
            byte[] chunk = new byte[1 + 40 * (10 + 1200)];
            ByteBuffer m = ByteBuffer.wrap(chunk);
            RelayFrame.begin(m);
            for (int k = 0; k < 40; k++) RelayFrame.append(m, ab, new byte[1200], 0, 1200);
            byte[] frame = RawWebSocket.frame(0x2, true, chunk);
            for (int i = 0; i < 1000 && metric(rv, "holepunch_relay_dropped_total{reason=\"receiver_slow\"}") == 0; i++) {
                for (int k = 0; k < 25; k++) a.send(frame);           // 1 MB at a time, to a session that reads nothing
            }
            assertTrue(metric(rv, "holepunch_relay_dropped_total{reason=\"receiver_slow\"}") > 0, "the stalled receiver's datagrams were dropped");
            c.send(RawWebSocket.frame(0x2, true, RelayFrame.single(cd, "other pair".getBytes())));
            assertArrayEquals("other pair".getBytes(), records(d.readSkippingPings(), cd).getFirst(), "another pair flows meanwhile");
            Map<String, Object> told = json(a.readSkippingPings());
            assertTrue(((String) told.get("detail")).contains("reads too slowly"), told.toString());
            echo(a);
            int frames = 0;
            try {
                while (true) {                                    // the stalled side reads at last: its session is still there
                    RawWebSocket.Frame f = stalled.readSkippingPings();
                    assertTrue(f.opcode() != 0x8, "the receiver's session was closed: " + f.closeReason());
                    if (f.opcode() == 0x1) break;
                    frames++;
                    if (frames == 1) stalled.sendText(Json.write(Json.obj("type", "echo_request", "payload", "x")));
                }
            } catch (IOException e) {
                throw new AssertionError("the receiver's session ended", e);
            }
            assertTrue(frames > 0);
        }
    }

    /** A sender over RELAY_BYTES_PER_SEC: the excess dropped and counted, told about once a second, never closed. */
    @Test
    void overTheBudget_excessDropped_sessionStaysOpen() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("RELAY_BYTES_PER_SEC", "60000", "MAX_MESSAGES_PER_SEC", "50"));
             RawWebSocket a = binary(rv, "ob-a");
             RawWebSocket b = binary(rv, "ob-b")) {
            long pair = Long.parseUnsignedLong(pair(a, b, "ob-b"), 16);
            long t0 = System.nanoTime();
            for (int i = 0; i < 500; i++) a.send(RawWebSocket.frame(0x2, true, RelayFrame.single(pair, new byte[1200])));   // 600 kB at once
            echo(a);
            double seconds = (System.nanoTime() - t0) / 1e9;
            long passed = metric(rv, "holepunch_relay_datagrams_total");
            long dropped = metric(rv, "holepunch_relay_dropped_total{reason=\"rate\"}");
            assertEquals(500, passed + dropped, "every datagram is either passed or counted: " + rv.get("/metrics").body().lines().filter(l -> l.startsWith("holepunch_relay")).toList());
            assertTrue(passed * 1200 <= 120_000 + 60_000 * seconds + 1200, passed + " passed in " + seconds + " s");
            assertTrue(passed >= 100, "the burst passed: " + passed);
        }
    }
}
