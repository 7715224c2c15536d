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
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AuthAndLimitsTest {
    static final String TOKEN = "s3cret-token-value";
    static final HttpClient HTTP = HttpClient.newHttpClient();

    private static String upgrade(String id, String authorization) {
        return "GET /ws/register/" + id + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + (authorization == null ? "" : "Authorization: " + authorization + "\r\n") + "\r\n";
    }

    private static int get(TestRendezvous rv, String path, String authorization) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(rv.base() + path));
        if (authorization != null) b.header("Authorization", authorization);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    @Test
    void auth_unit_onlyTheExactBearerTokenPasses() {
        Auth auth = new Auth(TOKEN);
        assertTrue(auth.allows("Bearer " + TOKEN));
        assertTrue(auth.allows("bearer " + TOKEN));
        assertFalse(auth.allows(null));
        assertFalse(auth.allows("Bearer "));
        assertFalse(auth.allows("Bearer " + TOKEN + "x"));
        assertFalse(auth.allows(TOKEN));
        assertTrue(new Auth(null).allows(null), "no token set: open, as the original");
        assertFalse(new Auth("").allows("Bearer "), "an empty presented token never passes");
    }

    @Test
    void token_guardsUpgradeAndDebugButNotRoot_andNeverReachesTheLog() throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        Log.setOutput(captured);
        try (TestRendezvous rv = new TestRendezvous(Map.of("RENDEZVOUS_TOKEN", TOKEN))) {
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade("auth-none", null))) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 401"), ws.responseHead);
                assertTrue(ws.responseHead.toLowerCase().contains("www-authenticate: bearer"));
                assertTrue(ws.readBody().contains("Authorization: Bearer"));
            }
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade("auth-wrong", "Bearer nope"))) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 401"), ws.responseHead);
            }
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade("auth-ok", "Bearer " + TOKEN))) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 101"), ws.responseHead);
            }
            assertEquals(200, get(rv, "/", null));
            assertEquals(401, get(rv, "/debug/list_workers", null));
            assertEquals(401, get(rv, "/metrics", "Bearer wrong"));
            assertEquals(200, get(rv, "/debug/list_workers", "Bearer " + TOKEN));
            assertEquals(200, get(rv, "/metrics", "Bearer " + TOKEN));
        } finally {
            Log.setOutput(new FileOutputStream(FileDescriptor.out));
        }
        String logs = captured.toString(StandardCharsets.UTF_8);
        assertTrue(logs.contains("no valid bearer token"), logs);
        assertFalse(logs.contains(TOKEN), "the token must never be logged");
    }

    @Test
    void maxSessions_refusesWith503AndAcceptsAgainAfterAClose() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_SESSIONS", "2"))) {
            RawWebSocket a = RawWebSocket.connect(rv.port, "full-a");
            try (RawWebSocket b = RawWebSocket.connect(rv.port, "full-b");
                 RawWebSocket c = RawWebSocket.raw(rv.port, upgrade("full-c", null))) {
                assertTrue(c.responseHead.startsWith("HTTP/1.1 503"), c.responseHead);
                assertTrue(c.readBody().contains("MAX_SESSIONS"));
                a.close();
                Await.until(Duration.ofSeconds(5), "slot freed", () -> rv.worker("full-a") == null);
                try (RawWebSocket d = RawWebSocket.connect(rv.port, "full-d")) {
                    assertTrue(d.responseHead.startsWith("HTTP/1.1 101"));
                }
            }
        }
    }

    @Test
    void maxSessionsPerIp_refusesWith429NamingTheLimit() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_SESSIONS_PER_IP", "2"));
             RawWebSocket a = RawWebSocket.connect(rv.port, "ip-a");
             RawWebSocket b = RawWebSocket.connect(rv.port, "ip-b");
             RawWebSocket c = RawWebSocket.raw(rv.port, upgrade("ip-c", null))) {
            assertTrue(c.responseHead.startsWith("HTTP/1.1 429"), c.responseHead);
            assertTrue(c.readBody().contains("MAX_SESSIONS_PER_IP"));
        }
    }

    @Test
    void messageRate_overTheLimitClosesWith1008() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_MESSAGES_PER_SEC", "5"));
             RawWebSocket ws = RawWebSocket.connect(rv.port, "chatty")) {
            byte[] echo = RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", "x")));
            for (int i = 0; i < 30; i++) ws.send(echo);
            RawWebSocket.Frame close = ws.readClose();
            assertEquals(1008, close.closeCode());
            assertTrue(close.closeReason().contains("rate"));
        }
    }

    /** The next frame that is not the server's own Ping (its keepalive may come at any time). */
    private static RawWebSocket.Frame notAPing(RawWebSocket ws) throws java.io.IOException {
        RawWebSocket.Frame f;
        while ((f = ws.read()).opcode() == 0x9) {
            // not answered: these sessions end within the test
        }
        return f;
    }

    /**
     * Attack: a Ping is an echo the server must write (RFC 6455 §5.5.2), so a flood of them would be
     * an echo outside MAX_MESSAGES_PER_SEC, taking the session loop's time from every session on it.
     * They count against the same budget: a few are answered, a flood is closed with 1008, and the
     * other sessions go on.
     */
    @Test
    void pingFlood_countsAgainstTheMessageRate_andClosesWith1008() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_MESSAGES_PER_SEC", "5"));
             RawWebSocket polite = RawWebSocket.connect(rv.port, "polite");
             RawWebSocket flood = RawWebSocket.connect(rv.port, "flood");
             RawWebSocket other = RawWebSocket.connect(rv.port, "other")) {
            for (int i = 0; i < 3; i++) polite.send(RawWebSocket.frame(0x9, true, ("p" + i).getBytes(StandardCharsets.UTF_8)));
            for (int i = 0; i < 3; i++) {
                RawWebSocket.Frame pong = notAPing(polite);
                assertEquals(0xA, pong.opcode(), "a few Pings are answered");
                assertEquals("p" + i, new String(pong.payload(), StandardCharsets.UTF_8));
            }

            int sent = 200;
            long t0 = System.nanoTime();
            for (int i = 0; i < sent; i++) flood.send(RawWebSocket.frame(0x9, true, ("f" + i).getBytes(StandardCharsets.UTF_8)));
            int pongs = 0;
            RawWebSocket.Frame f;
            while ((f = notAPing(flood)).opcode() == 0xA && pongs < sent) pongs++;
            assertEquals(0x8, f.opcode(), "the flood is closed, not answered (" + pongs + " Pongs before)");
            assertEquals(1008, f.closeCode());
            assertTrue(f.closeReason().contains("rate"), f.closeReason());
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(pongs <= 10 + 5 * seconds + 1, "at most the burst (twice the rate) and what came back meanwhile: " + pongs
                    + " in " + seconds + " s");

            other.sendText(Json.write(Json.obj("type", "echo_request", "payload", "still here")));
            assertEquals("still here", Json.parseObject(other.readSkippingPings().text()).get("original_payload"));
        }
    }

    @Test
    void metrics_countRegistrationsMessagesClosesAndStun() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(holepunch.testing.Ports.freeUdp())))) {
            try (RawWebSocket ws = RawWebSocket.connect(rv.port, "metered")) {
                ws.sendText(Json.write(Json.obj("type", "echo_request", "payload", 1)));
                ws.readSkippingPings();
                ws.sendText("not json");
                ws.send(RawWebSocket.close(1000, new byte[0]));
                ws.readClose();
            }
            try (java.net.DatagramSocket s = new java.net.DatagramSocket()) {
                byte[] req = holepunch.stun.StunMessage.bindingRequest(holepunch.stun.StunMessage.newTransactionId()).encode(true);
                s.setSoTimeout(5000);
                s.send(new java.net.DatagramPacket(req, req.length, new java.net.InetSocketAddress("127.0.0.1", rv.server.stunPort())));
                s.receive(new java.net.DatagramPacket(new byte[1500], 1500));
            }
            Await.until(Duration.ofSeconds(5), "close counted", () -> rv.get("/metrics").body().contains("holepunch_closes_total{code=\"1000\"} 1"));
            HttpResponse<String> r = rv.get("/metrics");
            assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/plain"));
            String text = r.body();
            assertTrue(text.contains("holepunch_registrations_total 1\n"), text);
            assertTrue(text.contains("holepunch_messages_total{type=\"echo_request\"} 1\n"), text);
            assertTrue(text.contains("holepunch_messages_total{type=\"invalid_json\"} 1\n"), text);
            assertTrue(text.contains("holepunch_stun_responses_total 1\n"), text);
            assertTrue(text.contains("# TYPE holepunch_sessions gauge"), text);
            holepunch.metrics.MetricsTest.assertExposition(text);
        }
    }
}
