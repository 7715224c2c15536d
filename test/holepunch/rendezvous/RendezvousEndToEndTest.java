package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** the original's protocol (README: Protocol) end to end, through the JDK's own java.net.http.WebSocket client. */
class RendezvousEndToEndTest {
    static TestRendezvous rv;
    static final HttpClient CLIENT = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        rv = new TestRendezvous();
    }

    @AfterAll
    static void stop() {
        rv.close();
    }

    /** A JDK WebSocket client that queues what it receives. */
    static final class Client implements WebSocket.Listener {
        final LinkedBlockingQueue<String> texts = new LinkedBlockingQueue<>();
        final CompletableFuture<String> closed = new CompletableFuture<>();
        private final StringBuilder partial = new StringBuilder();
        WebSocket ws;

        static Client connect(String id) throws Exception {
            Client c = new Client();
            c.ws = CLIENT.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(5))
                    .buildAsync(URI.create("ws://127.0.0.1:" + rv.port + "/ws/register/" + id), c)
                    .get(10, TimeUnit.SECONDS);
            return c;
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                texts.add(partial.toString());
                partial.setLength(0);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closed.complete(statusCode + " " + reason);
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            closed.complete("error " + error);
        }

        void send(Object message) throws Exception {
            ws.sendText(Json.write(message), true).get(5, TimeUnit.SECONDS);
        }

        Map<String, Object> next() throws Exception {
            String t = texts.poll(10, TimeUnit.SECONDS);
            assertNotNull(t, "no message from the rendezvous within 10 s");
            return Json.parseObject(t);
        }
    }

    @Test
    void root_answersJsonMessage() throws Exception {
        HttpResponse<String> r = rv.get("/");
        assertEquals(200, r.statusCode());
        assertEquals("application/json", r.headers().firstValue("content-type").orElse(""));
        assertInstanceOf(String.class, Json.parseObject(r.body()).get("message"));
    }

    @Test
    void unknownPath_answers404() throws Exception {
        assertEquals(404, rv.get("/nope").statusCode());
    }

    @Test
    void register_listsWorkerWithObservedAddressAndNullFields() throws Exception {
        Client c = Client.connect("e2e-fresh");
        Map<String, Object> w = rv.worker("e2e-fresh");
        assertEquals("127.0.0.1", w.get("websocket_observed_ip"));
        assertInstanceOf(Long.class, w.get("websocket_observed_port"));
        assertTrue(w.containsKey("http_reported_public_ip"));
        assertNull(w.get("http_reported_public_ip"));
        assertNull(w.get("stun_reported_udp_ip"));
        assertNull(w.get("stun_reported_udp_port"));
        assertEquals(Boolean.TRUE, w.get("websocket_connected"));
        Map<String, Object> list = Json.parseObject(rv.get("/debug/list_workers").body());
        assertEquals(((Map<?, ?>) list.get("workers")).size(), ((Long) list.get("connected_workers_count")).intValue());
        c.ws.sendClose(1000, "bye").get(5, TimeUnit.SECONDS);
        assertEquals("1000 bye", c.closed.get(5, TimeUnit.SECONDS), "the close is echoed with its code and reason");
        Await.until(Duration.ofSeconds(5), "entry removed after close", () -> rv.worker("e2e-fresh") == null);
    }

    @Test
    void registerPublicIp_storesWithoutReply() throws Exception {
        Client c = Client.connect("e2e-ip");
        c.send(Json.obj("type", "register_public_ip", "ip", "203.0.113.7"));
        c.send(Json.obj("type", "echo_request", "payload", "after"));     // replies are in order: the echo comes first
        assertEquals("echo_response", c.next().get("type"));
        assertEquals("203.0.113.7", rv.worker("e2e-ip").get("http_reported_public_ip"));
        c.ws.abort();
    }

    @Test
    void updateUdpEndpoint_storesAndAcksSuccess() throws Exception {
        Client c = Client.connect("e2e-udp");
        c.send(Json.obj("type", "update_udp_endpoint", "udp_ip", "198.51.100.4", "udp_port", 40000));
        assertEquals(Json.obj("type", "udp_endpoint_ack", "status", "success"), c.next());
        Map<String, Object> w = rv.worker("e2e-udp");
        assertEquals("198.51.100.4", w.get("stun_reported_udp_ip"));
        assertEquals(40000L, w.get("stun_reported_udp_port"));
        c.send(Json.obj("type", "update_udp_endpoint", "udp_ip", "2001:db8::1", "udp_port", " 4242 "));
        assertEquals("success", c.next().get("status"));
        assertEquals(4242L, rv.worker("e2e-udp").get("stun_reported_udp_port"));
        c.ws.abort();
    }

    @Test
    void updateUdpEndpoint_missingOrUnusableFieldsAckErrorAndStoreNothing() throws Exception {
        Client c = Client.connect("e2e-udp-bad");
        Object[][] cases = {
            {"udp_port", 5000},                              // no udp_ip
            {"udp_ip", "198.51.100.4"},                      // no udp_port
            {"udp_ip", "", "udp_port", 5000},
            {"udp_ip", "not-an-ip", "udp_port", 5000},
            {"udp_ip", "198.51.100.4", "udp_port", "80x"},
            {"udp_ip", "198.51.100.4", "udp_port", 70000},
            {"udp_ip", "198.51.100.4", "udp_port", 0},
            {"udp_ip", "198.51.100.4", "udp_port", 1.5},
            {"udp_ip", 12, "udp_port", 5000},
            {"udp_ip", "198.51.100.4", "udp_port", true},
        };
        for (Object[] fields : cases) {
            Map<String, Object> m = Json.obj("type", "update_udp_endpoint");
            m.putAll(Json.obj(fields));
            c.send(m);
            Map<String, Object> ack = c.next();
            assertEquals("udp_endpoint_ack", ack.get("type"), m.toString());
            assertEquals("error", ack.get("status"), m.toString());
            assertInstanceOf(String.class, ack.get("detail"));
            assertFalse(((String) ack.get("detail")).isEmpty());
        }
        Map<String, Object> w = rv.worker("e2e-udp-bad");
        assertNull(w.get("stun_reported_udp_ip"));
        assertNull(w.get("stun_reported_udp_port"));
        c.ws.abort();
    }

    @Test
    void echoRequest_repliesWithPayloadAndWorkerId() throws Exception {
        Client c = Client.connect("e2e-echo");
        c.send(Json.obj("type", "echo_request", "payload", "hi there"));
        assertEquals(Json.obj("type", "echo_response", "original_payload", "hi there",
                "processed_by_rendezvous", "Rendezvous processed echo for e2e-echo"), c.next());
        c.send(Json.obj("type", "echo_request"));
        assertEquals("", c.next().get("original_payload"));
        c.send(Json.obj("type", "echo_request", "payload", Json.obj("text", "ümlaut 😀", "n", 7L)));
        assertEquals(Json.obj("text", "ümlaut 😀", "n", 7L), c.next().get("original_payload"));
        // A lone surrogate sent as an escape has no UTF-8: it comes back escaped, as sent.
        c.ws.sendText("{\"type\":\"echo_request\",\"payload\":\"a\\ud800b\"}", true).get(5, TimeUnit.SECONDS);
        assertEquals("a\ud800b", c.next().get("original_payload"));
        c.send(Json.obj("type", "echo_request", "payload", "still open"));
        assertEquals("still open", c.next().get("original_payload"));
        c.ws.abort();
    }

    @Test
    void junkAndUnknownTypes_areIgnoredAndTheSessionStaysOpen() throws Exception {
        Client c = Client.connect("e2e-junk");
        c.ws.sendText("this is not json", true).get(5, TimeUnit.SECONDS);
        c.ws.sendText("[1,2,3]", true).get(5, TimeUnit.SECONDS);
        c.ws.sendText("{\"type\": 7}", true).get(5, TimeUnit.SECONDS);
        c.ws.sendText("{\"no_type\": true}", true).get(5, TimeUnit.SECONDS);
        c.ws.sendText("{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}", true).get(5, TimeUnit.SECONDS);
        c.send(Json.obj("type", "made_up"));
        c.send(Json.obj("type", "echo_request", "payload", "still here"));
        assertEquals("still here", c.next().get("original_payload"));
        assertFalse(c.closed.isDone());
        c.ws.abort();
    }

    @Test
    void sameId_closesOldSessionWith1000AndKeepsTheNewEntry() throws Exception {
        Client first = Client.connect("e2e-dup");
        first.send(Json.obj("type", "update_udp_endpoint", "udp_ip", "198.51.100.1", "udp_port", 1111));
        first.next();
        Client second = Client.connect("e2e-dup");
        assertEquals("1000 New connection from same worker ID", first.closed.get(10, TimeUnit.SECONDS));
        // The old session's end must not remove the new entry, which starts fresh.
        second.send(Json.obj("type", "echo_request", "payload", "x"));
        second.next();
        Map<String, Object> w = rv.worker("e2e-dup");
        assertNotNull(w);
        assertNull(w.get("stun_reported_udp_port"));
        assertEquals(Boolean.TRUE, w.get("websocket_connected"));
        second.ws.abort();
        Await.until(Duration.ofSeconds(5), "entry removed after the new session ends", () -> rv.worker("e2e-dup") == null);
    }
}
