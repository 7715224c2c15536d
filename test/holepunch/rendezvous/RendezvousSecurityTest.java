package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The attacks of issue 9 on the rendezvous, replayed in-process with plain WebSocket clients. */
class RendezvousSecurityTest {

    private static Map<String, Object> next(RawWebSocket ws) throws Exception {
        return Json.parseObject(ws.readSkippingPings().text());
    }

    private static RawWebSocket registered(TestRendezvous rv, String id) throws Exception {
        RawWebSocket ws = RawWebSocket.connect(rv.port, id);
        ws.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "198.51.100.9", "udp_port", 40000)));
        assertEquals("success", next(ws).get("status"));
        return ws;
    }

    private static void request(RawWebSocket ws, String target) throws IOException {
        ws.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", target)));
    }

    private static String upgrade(String id, String... headers) {
        return "GET /ws/register/" + id + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + String.join("", headers) + "\r\n";
    }

    /** Finding 7: a flood of introductions among strangers never evicts a live pair's relay. */
    @Test
    void requestFlood_neverEvictsALivePair() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_MESSAGES_PER_SEC", "100000", "P2P_OFFERS_PER_MIN", "1000000",
                "MAX_PAIRS_PER_WORKER", "100000"));
             RawWebSocket a = registered(rv, "live-a"); RawWebSocket b = registered(rv, "live-b")) {
            request(a, "live-b");
            String pairId = (String) next(a).get("pair_id");
            next(b);
            List<RawWebSocket> flooders = new ArrayList<>();
            try {
                for (int i = 0; i < 11; i++) flooders.add(registered(rv, "flood-" + i));
                for (int round = 0; round < 100; round++) {
                    for (int i = 0; i < 11; i++) request(flooders.get(i), "flood-" + ((i + 1) % 11));
                }
                // Each flooder sends 100 requests and receives 100 offers as initiator and 100 as responder.
                for (RawWebSocket f : flooders) for (int n = 0; n < 200; n++) assertEquals("p2p_connection_offer", next(f).get("type"));
                String data = Base64.getEncoder().encodeToString("still here".getBytes());
                a.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pairId, "data", data)));
                Map<String, Object> got = next(b);
                assertEquals("relay_data", got.get("type"), "1,100 newer pairs did not push the live pair out: " + got);
                assertEquals(data, got.get("data"));
            } finally {
                for (RawWebSocket f : flooders) f.close();
            }
        }
    }

    /** Finding 7: pairs per worker are capped; a pair ends with either of its sessions. */
    @Test
    void pairsPerWorkerAreCapped_andAPairEndsWithItsSession() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_PAIRS_PER_WORKER", "2"));
             RawWebSocket a = registered(rv, "cap-a"); RawWebSocket b = registered(rv, "cap-b"); RawWebSocket c = registered(rv, "cap-c")) {
            request(a, "cap-b");
            String pairId = (String) next(a).get("pair_id");
            next(b);
            request(a, "cap-c");
            next(a);
            next(c);
            request(b, "cap-c");                  // b and c have one pair each: allowed
            next(b);
            next(c);
            request(a, "cap-b");                  // a has two
            Map<String, Object> refused = next(a);
            assertEquals("p2p_connection_error", refused.get("type"));
            assertTrue(((String) refused.get("detail")).contains("MAX_PAIRS_PER_WORKER"), refused.toString());
            // b reconnects: a new session, so the old pair is gone with the old one.
            try (RawWebSocket b2 = registered(rv, "cap-b")) {
                assertEquals(1000, b.readClose().closeCode());
                a.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pairId, "data", "aGk=")));
                Map<String, Object> error = next(a);
                assertEquals("relay_error", error.get("type"), "the pair died with b's first session: " + error);
                request(a, "cap-b");
                assertEquals("p2p_connection_offer", next(a).get("type"), "a's slot was freed with the pair");
                assertEquals("p2p_connection_offer", next(b2).get("type"));
            }
        }
    }

    /** Finding 5: introductions to one worker are rate-limited, whoever asks. */
    @Test
    void offersToOneTarget_areRateLimitedAcrossRequesters() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("P2P_OFFERS_PER_MIN", "6"));
             RawWebSocket target = registered(rv, "rate-t"); RawWebSocket x = registered(rv, "rate-x"); RawWebSocket y = registered(rv, "rate-y")) {
            int offers = 0;
            String lastError = null;
            for (int i = 0; i < 5; i++) {
                for (RawWebSocket r : List.of(x, y)) {
                    request(r, "rate-t");
                    Map<String, Object> m = next(r);
                    if ("p2p_connection_offer".equals(m.get("type"))) {
                        offers++;
                        next(target);
                    } else {
                        lastError = (String) m.get("detail");
                    }
                }
            }
            assertEquals(2, offers, "a burst of a third of P2P_OFFERS_PER_MIN, shared by every requester");
            assertTrue(lastError != null && lastError.contains("P2P_OFFERS_PER_MIN"), lastError);
        }
    }

    /** Finding 5: a worker that declines an introduction: the requester hears why, and the pair is gone. */
    @Test
    void decline_endsThePairAndTellsTheRequester() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(); RawWebSocket a = registered(rv, "dec-a"); RawWebSocket b = registered(rv, "dec-b")) {
            request(a, "dec-b");
            String pairId = (String) next(a).get("pair_id");
            next(b);
            b.sendText(Json.write(Json.obj("type", "p2p_connection_decline", "pair_id", pairId, "detail", "not in this worker's P2P_ALLOW")));
            Map<String, Object> error = next(a);
            assertEquals("p2p_connection_error", error.get("type"));
            assertEquals("dec-b", error.get("target_worker_id"));
            assertEquals(pairId, error.get("pair_id"));
            assertTrue(((String) error.get("detail")).contains("declined"));
            a.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pairId, "data", "aGk=")));
            assertEquals("relay_error", next(a).get("type"), "a declined pair relays nothing");
        }
    }

    /** Finding 10: a number Java cannot represent is a parse error for its message only. */
    @Test
    void unrepresentableNumber_costsOnlyItsOwnMessage() throws Exception {
        try (TestRendezvous rv = new TestRendezvous()) {
            byte[] bad = RawWebSocket.text("{\"type\":\"echo_request\",\"payload\":1e-2147483649}");
            byte[] good = RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", "after")));
            byte[] both = new byte[bad.length + good.length];
            System.arraycopy(bad, 0, both, 0, bad.length);
            System.arraycopy(good, 0, both, bad.length, good.length);
            try (RawWebSocket ws = RawWebSocket.connect(rv.port, "numbers", both)) {
                Map<String, Object> reply = next(ws);
                assertEquals("echo_response", reply.get("type"));
                assertEquals("after", reply.get("original_payload"), "the echo sent in the same write is answered");
            }
            assertTrue(rv.get("/metrics").body().contains("holepunch_messages_total{type=\"invalid_json\"} 1"));
        }
    }

    /** Finding 9: control characters and huge strings from clients never reach the log raw. */
    @Test
    void logs_escapeControlsAndShortenClientStrings() throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        Log.setOutput(captured);
        try (TestRendezvous rv = new TestRendezvous(Map.of("RENDEZVOUS_TOKEN", "tok"))) {
            try (Socket s = new Socket("127.0.0.1", rv.port)) {
                s.getOutputStream().write("GET /debug/%1b%5b2J%0aFAKE-LINE%E2%80%A8x HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                assertTrue(new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII).startsWith("HTTP/1.1 401"));
            }
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade("logs", "Authorization: Bearer tok\r\n"))) {
                ws.sendText(Json.write(Json.obj("type", "x".repeat(60_000))));
                ws.sendText(Json.write(Json.obj("type", "echo_request", "payload", "sync")));
                next(ws);
            }
            Log.flush(5000);
        } finally {
            Log.setOutput(new FileOutputStream(FileDescriptor.out));
        }
        String logs = captured.toString(StandardCharsets.UTF_8);
        assertFalse(logs.contains("\u001b"), "a raw ESC reached the log");
        assertFalse(logs.contains("\u2028"), "a raw U+2028 reached the log");
        assertFalse(logs.lines().anyMatch(l -> l.startsWith("FAKE-LINE")), "a client forged a log line");
        assertTrue(logs.contains("\\x1b[2J FAKE-LINE\\u2028x"), logs);
        String unhandled = logs.lines().filter(l -> l.contains("unhandled message type")).findFirst().orElseThrow();
        assertTrue(unhandled.length() < 600, "line of " + unhandled.length() + " characters");
        assertTrue(unhandled.contains("(60000 chars)"), unhandled);
    }

    /** Finding 12: no token on a public address is said once, at start. */
    @Test
    void noTokenOnAPublicAddress_isWarnedAtStart() throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        Log.setOutput(captured);
        try (TestRendezvous open = new TestRendezvous(Map.of("BIND_ADDRESS", "0.0.0.0"));
             TestRendezvous loopback = new TestRendezvous(Map.of("BIND_ADDRESS", "127.0.0.1"));
             TestRendezvous tokened = new TestRendezvous(Map.of("BIND_ADDRESS", "0.0.0.0", "RENDEZVOUS_TOKEN", "t"))) {
            Log.flush(5000);
        } finally {
            Log.setOutput(new FileOutputStream(FileDescriptor.out));
        }
        long warnings = captured.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains("no RENDEZVOUS_TOKEN is set")).count();
        assertEquals(1, warnings, "only the open, non-loopback instance warns");
    }

    /** Finding 13: browsers present the token as a subprotocol, which is echoed; Origin is checked when configured. */
    @Test
    void browsers_useTheTokenAsASubprotocol_andOriginsAreChecked() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("RENDEZVOUS_TOKEN", "tok-9", "ALLOWED_ORIGINS", "https://app.example.com"))) {
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade("br-ok", "Origin: https://app.example.com\r\n",
                    "Sec-WebSocket-Protocol: chat, holepunch.bearer.tok-9\r\n"))) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 101"), ws.responseHead);
                assertTrue(ws.responseHead.contains("Sec-WebSocket-Protocol: holepunch.bearer.tok-9\r\n"), ws.responseHead);
            }
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade("br-wrong", "Sec-WebSocket-Protocol: holepunch.bearer.nope\r\n"))) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 401"), ws.responseHead);
            }
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade("br-evil", "Origin: https://evil.example\r\n",
                    "Sec-WebSocket-Protocol: holepunch.bearer.tok-9\r\n"))) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 403"), ws.responseHead);
            }
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade("br-header", "Authorization: Bearer tok-9\r\n"))) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 101"), "a client without Origin (a worker) is not a browser: " + ws.responseHead);
                assertFalse(ws.responseHead.contains("Sec-WebSocket-Protocol"), "nothing offered, nothing selected");
            }
        }
        try (TestRendezvous open = new TestRendezvous(Map.of("ALLOWED_ORIGINS", "https://app.example.com"))) {
            try (RawWebSocket ws = RawWebSocket.raw(open.port, upgrade("br-open", "Origin: https://evil.example\r\n"))) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 403"), "any web page could register ids: " + ws.responseHead);
            }
            Await.until(Duration.ofSeconds(5), "refusal counted", () -> open.get("/metrics").body().contains("holepunch_refused_total{reason=\"origin\"} 1"));
        }
    }

    /**
     * A replacement that arrives while the previous session's 101 is still going out: its close
     * waits for that session's loop instead of failing the new upgrade.
     */
    @Test
    void rapidReplacements_eachUpgradeSucceeds_andEachPreviousSessionClosesWith1000() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_MESSAGES_PER_SEC", "100000"));
             java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (int round = 0; round < 40; round++) {
                String id = "rapid-" + round;
                // Two upgrades for one id at once: one replaces the other, perhaps while its 101 is going out.
                List<java.util.concurrent.Future<RawWebSocket>> both = List.of(
                        pool.submit(() -> RawWebSocket.connect(rv.port, id)), pool.submit(() -> RawWebSocket.connect(rv.port, id)));
                List<RawWebSocket> sessions = new ArrayList<>();
                try {
                    for (java.util.concurrent.Future<RawWebSocket> f : both) sessions.add(f.get(10, java.util.concurrent.TimeUnit.SECONDS));
                    int closed = 0;
                    for (RawWebSocket s : sessions) {
                        s.sendText(Json.write(Json.obj("type", "echo_request", "payload", "who")));
                        RawWebSocket.Frame f = s.readSkippingPings();
                        if (f.opcode() == 0x8) {
                            assertEquals(1000, f.closeCode());
                            closed++;
                        }
                    }
                    assertEquals(1, closed, "round " + round + ": exactly the older session is closed");
                } finally {
                    for (RawWebSocket s : sessions) s.close();
                }
            }
        }
    }
}
