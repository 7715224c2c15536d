package holepunch.rendezvous;

import holepunch.crypto.Identity;
import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.RedisServer;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Issue 23, finding 2's last part: after Redis came back empty, the binding of a live keyed session
 * was gone, so another key could take its id on another instance (101); and the announcement that
 * would have let the holder refuse it was published while the holder's subscription was still down,
 * so it never arrived: both sessions held the id, and requesters on the impostor's instance were
 * introduced to the impostor. Now an instance whose subscription comes back announces its live
 * sessions again, and an instance holding a newer session with another key than an older announced
 * one closes its own: the bound key wins.
 */
@org.junit.jupiter.api.Tag("slow")
class ClusterRecoveryTest {

    @Test
    void attack_afterRedisComesBackEmpty_anotherKeyForALiveBoundId_isClosed_andTheOwnerKeepsIt() throws Exception {
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(Map.of("REDIS_URL", redis.url(), "PING_INTERVAL_SEC", "1", "PING_TIMEOUT_SEC", "30"));
             TestRendezvous b = new TestRendezvous(Map.of("REDIS_URL", redis.url(), "PING_INTERVAL_SEC", "1", "PING_TIMEOUT_SEC", "30"));
             RawWebSocket owner = RawWebSocket.connectKeyed(a.port, "bound", Identity.generate())) {
            Await.until(Duration.ofSeconds(10), "listed on b", () -> b.workers().containsKey("bound"));
            redis.kill();
            Thread.sleep(6000);        // long enough for the subscribers' back-off to reach its most (5 s): they come back late
            redis.start();             // empty: the owner's binding is gone
            RawWebSocket[] impostor = new RawWebSocket[1];
            Await.until(Duration.ofSeconds(15), "another key admitted on b once Redis answers (the binding was lost)", () -> {
                try {
                    impostor[0] = RawWebSocket.connectKeyed(b.port, "bound", Identity.generate());
                    return true;
                } catch (IOException notYet) {
                    return false;      // 503 until b's directory reads Redis again
                }
            });
            try (RawWebSocket taker = impostor[0]) {
                taker.socket.setSoTimeout(20_000);
                RawWebSocket.Frame close = taker.readClose();
                assertEquals(1008, close.closeCode(), "the newer session with another key is closed: " + close.closeReason());
            }
            owner.sendText("{\"type\": \"update_udp_endpoint\", \"udp_ip\": \"203.0.113.9\", \"udp_port\": 9}");
            assertEquals("success", Json.parseObject(owner.readSkippingPings().text()).get("status"), "the owner's session is served on");
            Await.until(Duration.ofSeconds(10), "b lists the owner's session, from a", () -> {
                Map<String, Object> listed = b.worker("bound");         // read once: the list may change between two reads
                return listed != null && ((Number) listed.get("websocket_observed_port")).intValue() == owner.socket.getLocalPort();
            });
        }
    }

    /**
     * Issue 23, finding 9's last part: each instance's directory hash was read whole with HGETALL, and
     * the reply had to fit in 8 MB (and was parsed again from its start as each part arrived): a large
     * instance made every list of the cluster fail. Another instance listing 25,000 workers (about 12 MB)
     * is now read in HSCAN steps and listed whole.
     */
    @Test
    void aDirectoryLargerThanOneReplyMayHold_isListedWhole() throws Exception {
        int n = 25_000;
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(Map.of("REDIS_URL", redis.url()));
             holepunch.redis.RedisClient writer = new holepunch.redis.RedisClient(holepunch.redis.RedisUrl.parse(redis.url()), 10_000)) {
            String padding = "x".repeat(400);
            java.util.List<java.util.List<String>> batch = new java.util.ArrayList<>();
            for (int i = 0; i < n; i++) {
                batch.add(java.util.List.of("HSET", ClusterDirectory.WORKERS + "big", "w" + i, Json.write(Json.obj("websocket_observed_ip", "203.0.113.9",
                        "websocket_observed_port", i, "connected_since_ms", 1L, "note", padding))));
                if (batch.size() == 1000) {
                    writer.pipeline(batch);
                    batch.clear();
                }
            }
            writer.call("ZADD", ClusterDirectory.INSTANCES, Long.toString(System.currentTimeMillis() + 600_000), "big");
            assertEquals(n, a.workers().size(), "every worker of the large instance is listed");
        }
    }

    /**
     * ENROLLMENT=tofu in a cluster (issue 23, item 2): the first kept key proven for an id holds it
     * on every instance and for good, in the Redis hash holepunch:enrolled, written in the upgrade's
     * own round trip. Before, the binding expired ID_BINDING_GRACE_SEC after the session (0 here),
     * and another key took the id on another instance.
     */
    @Test
    void tofu_theFirstKeyHoldsTheIdOnEveryInstance_untilTheOperatorReleasesIt() throws Exception {
        Identity owner = Identity.generate(), impostor = Identity.generate();
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(Map.of("REDIS_URL", redis.url(), "ENROLLMENT", "tofu", "ID_BINDING_GRACE_SEC", "0"));
             TestRendezvous b = new TestRendezvous(Map.of("REDIS_URL", redis.url(), "ENROLLMENT", "tofu", "ID_BINDING_GRACE_SEC", "0"));
             holepunch.redis.RedisClient operator = new holepunch.redis.RedisClient(holepunch.redis.RedisUrl.parse(redis.url()), 2000)) {
            RawWebSocket.connectKeyed(a.port, "alice", owner).close();
            RawWebSocket.connect(b.port, "carol").close();                   // never enrolled: a keyless (original) client is admitted
            Await.until(Duration.ofSeconds(10), "alice's session gone from b's list", () -> !b.workers().containsKey("alice"));
            for (Identity key : new Identity[] {impostor, null}) {
                IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> (key == null
                        ? RawWebSocket.connect(b.port, "alice") : RawWebSocket.connectKeyed(b.port, "alice", key)).close());
                org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("409"), e.getMessage());
            }
            RawWebSocket.connectKeyed(b.port, "alice", owner).close();        // the owner, on the other instance
            assertEquals(owner.publicIdentity().fingerprint(), ((holepunch.redis.Resp.Bulk) operator.call("HGET", ClusterIds.ENROLLED, "alice")).text());
            operator.call("HDEL", ClusterIds.ENROLLED, "alice");             // the operator releases the id
            RawWebSocket.connectKeyed(b.port, "alice", impostor).close();
        }
    }
}
