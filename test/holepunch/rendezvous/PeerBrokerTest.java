package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** request_p2p_connection, the offers to both sides, the errors, and the outcome reports. */
class PeerBrokerTest {
    static TestRendezvous rv;

    @BeforeAll
    static void start() throws Exception {
        rv = new TestRendezvous(Map.of("RELAY_BYTES_PER_SEC", "2000"));
    }

    @AfterAll
    static void stop() {
        rv.close();
    }

    private static Map<String, Object> next(RawWebSocket ws) throws Exception {
        return Json.parseObject(ws.readSkippingPings().text());
    }

    private static RawWebSocket registered(String id, String ip, int port, List<String> hosts) throws Exception {
        RawWebSocket ws = RawWebSocket.connect(rv.port, id);
        ws.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", ip, "udp_port", port,
                "nat_mapping", "endpoint-independent", "host_candidates", hosts)));
        assertEquals("success", next(ws).get("status"));
        return ws;
    }

    /** Each worker's probe nonce reaches its peer in the offer; a malformed one is an error ack naming the field, and stores nothing. */
    @Test
    void probeNonces_arePassedToThePeer_andAMalformedOneIsRefused() throws Exception {
        String na = holepunch.crypto.Keys.b64(new byte[16]), nb = holepunch.crypto.Keys.b64(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
        try (RawWebSocket a = RawWebSocket.connect(rv.port, "pn-a");
             RawWebSocket b = RawWebSocket.connect(rv.port, "pn-b")) {
            a.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "198.51.100.1", "udp_port", 40001, "probe_nonce", "short")));
            Map<String, Object> refused = next(a);
            assertEquals("error", refused.get("status"));
            assertTrue(((String) refused.get("detail")).contains("probe_nonce"), String.valueOf(refused));
            a.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "198.51.100.1", "udp_port", 40001, "probe_nonce", na)));
            assertEquals("success", next(a).get("status"));
            b.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "198.51.100.2", "udp_port", 40002, "probe_nonce", nb)));
            assertEquals("success", next(b).get("status"));
            a.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "pn-b")));
            assertEquals(nb, next(a).get("peer_probe_nonce"));
            assertEquals(na, next(b).get("peer_probe_nonce"));
        }
    }

    @Test
    void request_sendsMatchingOffersToBothWorkers() throws Exception {
        try (RawWebSocket a = registered("pb-a", "198.51.100.1", 40001, List.of("10.0.0.5:8081", "bogus"));
             RawWebSocket b = registered("pb-b", "198.51.100.2", 40002, List.of())) {
            a.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "pb-b")));
            Map<String, Object> toA = next(a);
            Map<String, Object> toB = next(b);
            assertEquals("p2p_connection_offer", toA.get("type"));
            assertEquals("p2p_connection_offer", toB.get("type"));
            assertEquals("pb-b", toA.get("peer_worker_id"));
            assertEquals("198.51.100.2", toA.get("peer_udp_ip"));
            assertEquals(40002L, toA.get("peer_udp_port"));
            assertEquals("pb-a", toB.get("peer_worker_id"));
            assertEquals("198.51.100.1", toB.get("peer_udp_ip"));
            assertEquals(40001L, toB.get("peer_udp_port"));
            assertEquals(List.of("10.0.0.5:8081"), toB.get("peer_host_candidates"), "invalid candidates are dropped");
            assertEquals("endpoint-independent", toB.get("peer_nat_mapping"));
            assertEquals(toA.get("pair_id"), toB.get("pair_id"));
            assertEquals(toA.get("pair_key"), toB.get("pair_key"));
            assertEquals(32, Base64.getDecoder().decode((String) toA.get("pair_key")).length);
            assertEquals("initiator", toA.get("role"));
            assertEquals("responder", toB.get("role"));
            assertTrue((Long) toA.get("start_in_ms") >= 0 && (Long) toB.get("start_in_ms") >= 0);

            a.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "pb-b")));
            assertNotEquals(toA.get("pair_key"), next(a).get("pair_key"), "every offer has a fresh key");
            next(b);

            b.sendText(Json.write(Json.obj("type", "p2p_connection_status", "pair_id", toB.get("pair_id"), "state", "direct",
                    "remote", "198.51.100.1:40001", "rtt_ms", 12)));
            b.sendText(Json.write(Json.obj("type", "echo_request", "payload", "sync")));    // in order: the status is recorded
            next(b);
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> pairs = (List<Map<String, Object>>) Json.parseObject(rv.get("/debug/list_workers").body()).get("pairs");
            Map<String, Object> pair = pairs.stream().filter(p -> p.get("pair_id").equals(toA.get("pair_id"))).findFirst().orElseThrow();
            assertEquals("pb-a", pair.get("initiator"));
            @SuppressWarnings("unchecked")
            Map<String, Object> outcome = (Map<String, Object>) ((Map<String, Object>) pair.get("outcomes")).get("pb-b");
            assertEquals("direct", outcome.get("state"));
            assertEquals("198.51.100.1:40001", outcome.get("remote"));
        }
    }

    /** Retries make new pairs of the same two workers: the one before the newest stays (make before break), older ones end. */
    @Test
    void newPairsOfTheSameWorkers_endAllButTheOneBefore() throws Exception {
        try (RawWebSocket a = registered("sp-a", "198.51.100.11", 40011, List.of());
             RawWebSocket b = registered("sp-b", "198.51.100.12", 40012, List.of())) {
            List<String> pairs = new java.util.ArrayList<>();
            for (int i = 0; i < 3; i++) {
                a.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "sp-b")));
                pairs.add((String) next(a).get("pair_id"));
                next(b);
            }
            String data = Base64.getEncoder().encodeToString(new byte[8]);
            for (String pair : pairs) a.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pair, "data", data)));
            Map<String, Object> refused = next(a);
            assertEquals("relay_error", refused.get("type"));
            assertEquals(pairs.getFirst(), refused.get("pair_id"), "the oldest pair ended");
            assertEquals(pairs.get(1), next(b).get("pair_id"), "the one before the newest still relays");
            assertEquals(pairs.get(2), next(b).get("pair_id"));
        }
    }

    @Test
    void relay_carriesDataBetweenThePairAndHoldsEachPairToItsRate() throws Exception {
        try (RawWebSocket a = registered("rl-a", "198.51.100.5", 40005, List.of());
             RawWebSocket b = registered("rl-b", "198.51.100.6", 40006, List.of());
             RawWebSocket c = registered("rl-c", "198.51.100.7", 40007, List.of())) {
            a.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "rl-b")));
            String pairId = (String) next(a).get("pair_id");
            next(b);
            String data = Base64.getEncoder().encodeToString("hello over the relay".getBytes());
            a.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pairId, "data", data)));
            Map<String, Object> got = next(b);
            assertEquals(Json.obj("type", "relay_data", "pair_id", pairId, "from_worker_id", "rl-a", "data", data), got);

            c.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pairId, "data", data)));
            Map<String, Object> refused = next(c);
            assertEquals("relay_error", refused.get("type"));
            assertTrue(((String) refused.get("detail")).contains("no pair of this worker"), "an outsider cannot use the pair");

            String big = Base64.getEncoder().encodeToString(new byte[1501]);
            a.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pairId, "data", big)));
            assertTrue(((String) next(a).get("detail")).contains("1500 bytes"));

            // 2000 bytes/s with a burst of 4000: 1400-byte datagrams pass until the bucket is empty,
            // and no more than the burst plus what flowed in meanwhile (measured, not assumed).
            String chunk = Base64.getEncoder().encodeToString(new byte[1400]);
            long t0 = System.nanoTime();
            int passed = 0;
            Map<String, Object> over = null;
            for (int i = 0; i < 20 && over == null; i++) {
                // An echo after each relay_data marks where its answer (an error, or none) ends.
                a.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pairId, "data", chunk)));
                a.sendText(Json.write(Json.obj("type", "echo_request", "payload", "sync")));
                Map<String, Object> reply = next(a);
                if ("relay_error".equals(reply.get("type"))) {
                    over = reply;
                    assertEquals("echo_response", next(a).get("type"));
                } else {
                    assertEquals("echo_response", reply.get("type"));
                    assertEquals("relay_data", next(b).get("type"));
                    passed++;
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(over != null, "the rate limit never refused");
            assertTrue(((String) over.get("detail")).contains("RELAY_BYTES_PER_SEC"), over.toString());
            assertTrue(passed >= 2, "the burst lets two datagrams through");
            assertTrue(passed * 1400 + 20 <= 4000 + 2000 * seconds + 1, passed + " datagrams in " + seconds + " s exceed the rate");
            String metrics = rv.get("/metrics").body();
            assertTrue(metrics.contains("holepunch_relay_dropped_total{reason=\"rate\"} 1"), metrics);
        }
    }

    private static String errorFor(RawWebSocket ws, Object target) throws Exception {
        Map<String, Object> m = Json.obj("type", "request_p2p_connection");
        if (target != null) m.put("target_worker_id", target);
        ws.sendText(Json.write(m));
        Map<String, Object> reply = next(ws);
        assertEquals("p2p_connection_error", reply.get("type"));
        assertInstanceOf(String.class, reply.get("detail"));
        return (String) reply.get("detail");
    }

    @Test
    void request_refusalsSayWhy() throws Exception {
        try (RawWebSocket a = registered("pb-c", "198.51.100.3", 40003, List.of());
             RawWebSocket noEndpoint = RawWebSocket.connect(rv.port, "pb-d")) {
            assertTrue(errorFor(a, null).contains("target_worker_id is missing"));
            assertTrue(errorFor(a, 42).contains("target_worker_id is missing"));
            assertTrue(errorFor(a, "pb-c").contains("itself"));
            assertTrue(errorFor(a, "pb-nobody").contains("unknown worker id"));
            assertTrue(errorFor(a, "pb-d").contains("has not reported a UDP endpoint"));
            assertTrue(errorFor(noEndpoint, "pb-c").contains("report your own UDP endpoint"));
        }
    }
}
