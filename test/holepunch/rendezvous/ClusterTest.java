package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.RedisServer;
import holepunch.testing.ServiceProcess;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Rendezvous instances sharing one real redis-server (REDIS_URL): one directory. */
@org.junit.jupiter.api.Tag("slow")
class ClusterTest {
    private static Map<String, String> env(RedisServer redis) {
        return Map.of("REDIS_URL", redis.url(), "PING_INTERVAL_SEC", "1", "PING_TIMEOUT_SEC", "30");
    }

    private static void closeAll(List<RawWebSocket> sockets) {
        for (RawWebSocket s : sockets) {
            try {
                s.close();
            } catch (Exception ignored) {
                // already closed
            }
        }
    }

    /** Registers {@code id} as the original's client does and reports an endpoint; returns the ack. */
    private static String register(List<RawWebSocket> keep, int port, String id, int udpPort) throws Exception {
        RawWebSocket ws = RawWebSocket.connect(port, id);
        keep.add(ws);
        ws.sendText("{\"type\": \"update_udp_endpoint\", \"udp_ip\": \"203.0.113.7\", \"udp_port\": " + udpPort + "}");
        return ws.readSkippingPings().text();
    }

    /**
     * An instance killed without a word (SIGKILL): a worker that moved to another instance is found there at once
     * (the newest session of an id wins), an introduction to one that did not move gets an error, never silence,
     * and within 5 s (CLUSTER_LIVENESS_SEC is 4) no instance lists the dead one's sessions.
     */
    @Test
    void afterASigkill_theMovedWorkerIsFoundAtOnce_andTheDeadOnesAreGoneWithinFiveSeconds() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer();
             ServiceProcess doomed = ServiceProcess.rendezvous(List.of(), Map.of("REDIS_URL", redis.url()), 0);
             TestRendezvous b = new TestRendezvous(Map.of("REDIS_URL", redis.url()));
             TestRendezvous c = new TestRendezvous(Map.of("REDIS_URL", redis.url()))) {
            register(sockets, doomed.port, "mover", 42001);
            register(sockets, doomed.port, "stayer", 42002);
            register(sockets, b.port, "asker", 42003);
            RawWebSocket asker = sockets.get(2);
            Await.until(Duration.ofSeconds(10), "all 3 listed on b and c", () -> b.workers().size() == 3 && c.workers().size() == 3);

            doomed.process.destroyForcibly();                  // SIGKILL: no goodbye to Redis
            long killed = System.nanoTime();
            doomed.process.waitFor();
            register(sockets, c.port, "mover", 42011);         // the worker reconnects elsewhere at once
            Await.until(Duration.ofSeconds(2), "b lists mover's new session", () -> {
                Map<?, ?> m = (Map<?, ?>) b.workers().get("mover");
                return m != null && Long.valueOf(42011).equals(m.get("stun_reported_udp_port"));
            });
            asker.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"mover\"}");
            Map<String, Object> offer = Json.parseObject(asker.readSkippingPings().text());
            assertEquals("p2p_connection_offer", offer.get("type"), "introduced through c, not the dead instance: " + offer);
            assertEquals(42011L, offer.get("peer_udp_port"));
            sockets.get(3).readSkippingPings();                // mover's half

            asker.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"stayer\"}");
            long asked = System.nanoTime();
            Map<String, Object> answer = Json.parseObject(asker.readSkippingPings().text());
            assertEquals("p2p_connection_error", answer.get("type"), answer.toString());
            String detail = String.valueOf(answer.get("detail"));
            assertTrue(detail.contains("did not answer") || detail.contains("unknown worker id 'stayer'"), detail);
            assertTrue(System.nanoTime() - asked < 5_000_000_000L, "answered within the bound");

            for (TestRendezvous rv : new TestRendezvous[] {b, c}) {
                Await.until(Duration.ofSeconds(5), "the dead instance's sessions gone from " + rv.port, () -> !rv.workers().containsKey("stayer"));
            }
            long took = (System.nanoTime() - killed) / 1_000_000;
            assertTrue(took <= 5_000, "every list is live within 5 s of the kill: " + took + " ms");
            System.out.println("ClusterTest: the dead instance's sessions left every list " + took + " ms after SIGKILL");
        } finally {
            closeAll(sockets);
        }
    }

    /** REBALANCE_PER_MIN: an instance above its share asks sessions without live pairs to reconnect, at its pace. */
    @Test
    void anInstanceAboveItsShare_asksUnpairedSessionsToReconnect_neverAPairedOne() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer();
             TestRendezvous full = new TestRendezvous(Map.of("REDIS_URL", redis.url(), "REBALANCE_PER_MIN", "60"));
             TestRendezvous empty = new TestRendezvous(Map.of("REDIS_URL", redis.url()))) {
            for (int i = 0; i < 20; i++) register(sockets, full.port, "rb-" + i, 43000 + i);
            sockets.get(0).sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"rb-1\"}");
            assertEquals("p2p_connection_offer", Json.parseObject(sockets.get(0).readSkippingPings().text()).get("type"));
            assertEquals("p2p_connection_offer", Json.parseObject(sockets.get(1).readSkippingPings().text()).get("type"));
            // 20 here, 0 there: the share is 10, and 5 a round (60 a minute) are asked to move.
            Await.until(Duration.ofSeconds(20), "sessions asked to move", () -> full.server.sessionCount() <= 15);
            int left = full.server.sessionCount();
            assertTrue(left >= 10, "never below the share: " + left);
            sockets.get(0).sendText("{\"type\": \"echo_request\", \"payload\": 1}");
            assertEquals("echo_response", Json.parseObject(sockets.get(0).readSkippingPings().text()).get("type"), "a paired session stays");
            sockets.get(1).sendText("{\"type\": \"echo_request\", \"payload\": 1}");
            assertEquals("echo_response", Json.parseObject(sockets.get(1).readSkippingPings().text()).get("type"), "a paired session stays");
            RawWebSocket.Frame moved = null;
            for (int i = 2; i < 20 && moved == null; i++) {
                if (full.workers().containsKey("rb-" + i)) continue;
                moved = sockets.get(i).readSkippingPings();
            }
            assertTrue(moved != null && moved.opcode() == 0x8 && moved.closeCode() == 1001 && moved.closeReason().equals(Rebalancer.REASON),
                    "a moved session is told why: " + moved);
        } finally {
            closeAll(sockets);
        }
    }

    /**
     * CLUSTER_SECRET: a message PUBLISHed by someone without the secret (here: straight to an instance's channel, as
     * anyone who can write to the Redis could) is refused, and one sealed with the secret played again too; the
     * cluster's own messages keep working.
     */
    @Test
    void withAClusterSecret_forgedAndReplayedMessagesAreRefused_andTheClusterStillWorks() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        String secret = "test-cluster-secret-0123456789";
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(Map.of("REDIS_URL", redis.url(), "CLUSTER_SECRET", secret));
             TestRendezvous b = new TestRendezvous(Map.of("REDIS_URL", redis.url(), "CLUSTER_SECRET", secret));
             holepunch.redis.RedisClient attacker = new holepunch.redis.RedisClient(holepunch.redis.RedisUrl.parse(redis.url()), 2000)) {
            register(sockets, a.port, "sealed-a", 44001);
            register(sockets, b.port, "sealed-b", 44002);
            RawWebSocket victim = sockets.get(0);
            Await.until(Duration.ofSeconds(10), "both listed", () -> a.workers().size() == 2 && b.workers().size() == 2);
            String instanceA = String.valueOf(Json.parseObject(a.get("/debug/stats").body()).get("instance"));
            String channel = ClusterDirectory.INSTANCE_CHANNEL + instanceA;
            String forged = Json.write(Json.obj("op", "deliver", "worker", "sealed-a",
                    "text", Json.write(Json.obj("type", "p2p_connection_error", "detail", "forged")), "instance", "mallory"));
            ClusterSeal mallory = new ClusterSeal(secret);          // even with the secret: played twice
            String sealed = mallory.seal(channel, forged.replace("forged", "sealed once"), System.currentTimeMillis());
            attacker.pipeline(List.of(List.of("PUBLISH", channel, forged), List.of("PUBLISH", channel, sealed), List.of("PUBLISH", channel, sealed)));
            assertTrue(Json.parseObject(victim.readSkippingPings().text()).get("detail").equals("sealed once"), "the sealed one, once");
            Await.until(Duration.ofSeconds(5), "the forged and the replayed one counted",
                    () -> a.get("/metrics").body().contains("holepunch_cluster_refused_messages_total 2"));
            // The cluster's own sealed messages still work: an introduction across the instances.
            victim.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"sealed-b\"}");
            assertEquals("p2p_connection_offer", Json.parseObject(victim.readSkippingPings().text()).get("type"));
            assertEquals("p2p_connection_offer", Json.parseObject(sockets.get(1).readSkippingPings().text()).get("type"));
        } finally {
            closeAll(sockets);
        }
    }

    /**
     * A captured upgrade proof played to another instance (behind one balancer every instance has the same public
     * host, so the signed Host matches): refused, as on the instance that saw it. Before, the nonce cache was per
     * process and the replay got 101.
     */
    private static Map<String, String> with(Map<String, String> env, String key, String value) {
        Map<String, String> all = new java.util.HashMap<>(env);
        all.put(key, value);
        return all;
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"", "a-cluster-secret-0123456789"})
    void aCapturedProof_isRefusedOnEveryOtherInstance(String secret) throws Exception {
        Map<String, String> env = secret.isEmpty() ? Map.of() : Map.of("CLUSTER_SECRET", secret);
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(with(env, "REDIS_URL", redis.url()));
             TestRendezvous b = new TestRendezvous(with(env, "REDIS_URL", redis.url()))) {
            holepunch.crypto.Identity key = holepunch.crypto.Identity.generate();
            String proof = RawWebSocket.proofHeader(a.port, "proven", key);       // signed for a's host
            String upgrade = "GET /ws/register/proven HTTP/1.1\r\nHost: 127.0.0.1:" + a.port + "\r\nUpgrade: websocket\r\n"
                    + "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + proof + "\r\n";
            try (RawWebSocket first = RawWebSocket.raw(a.port, upgrade)) {
                assertTrue(first.responseHead.startsWith("HTTP/1.1 101"), first.responseHead);
            }
            try (RawWebSocket replayed = RawWebSocket.raw(b.port, upgrade)) {
                assertTrue(replayed.responseHead.startsWith("HTTP/1.1 401"), "the same proof on another instance: " + replayed.responseHead);
                assertTrue(replayed.readBody().contains("used already"));
            }
            // Behind a balancer the challenge and the upgrade may reach two instances: a challenge a made serves at b, once.
            String balanced = upgrade.replace("/proven", "/balanced").replace(proof, RawWebSocket.proofHeader(a.port, "balanced", key));
            try (RawWebSocket taken = RawWebSocket.raw(b.port, balanced)) {
                assertTrue(taken.responseHead.startsWith("HTTP/1.1 101"), "a's challenge at b: " + taken.responseHead);
            }
        }
    }

    /**
     * Attack: every request for an id this instance does not hold costs a Redis lookup; one session asking for 300
     * unknown ids queued them all on the connections the upgrades need. Lookups are now bounded per session (5 a
     * second, 10 at once) and in total, an id found nowhere is remembered for 2 s, and every request is answered.
     */
    @Test
    void requestsForUnknownIds_costBoundedLookups_andEachIsAnswered() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(Map.of("REDIS_URL", redis.url(), "MAX_MESSAGES_PER_SEC", "1000"));
             TestRendezvous b = new TestRendezvous(Map.of("REDIS_URL", redis.url()))) {
            register(sockets, a.port, "asker", 45001);
            RawWebSocket asker = sockets.getFirst();
            java.util.function.Supplier<Long> trips = () -> {
                try {
                    java.util.regex.Matcher m = java.util.regex.Pattern.compile("holepunch_cluster_redis_round_trips_total (\\d+)")
                            .matcher(a.get("/metrics").body());
                    return m.find() ? Long.parseLong(m.group(1)) : -1;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            };
            Await.until(Duration.ofSeconds(5), "instance b listed", () -> b.workers().containsKey("asker"));
            long before = trips.get();
            long t0 = System.nanoTime();
            for (int i = 0; i < 300; i++) asker.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"ghost-" + i + "\"}");
            int answered = 0;
            while (answered < 300) {
                Map<String, Object> m = Json.parseObject(asker.readSkippingPings().text());
                assertEquals("p2p_connection_error", m.get("type"), m.toString());
                answered++;
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            long lookups = trips.get() - before;
            // Each lookup is at most two round trips; the writer's own refreshes add a few a second.
            assertTrue(lookups <= 2 * (10 + 5 * seconds) + 10 * seconds + 10, lookups + " round trips for 300 unknown ids in " + seconds + " s");
            System.out.println("ClusterTest: 300 unknown ids answered in " + String.format("%.2f", seconds) + " s with " + lookups + " Redis round trips");
        } finally {
            closeAll(sockets);
        }
    }

    /** The operator page's figures are the whole cluster's on every instance, and a pair spanning two counts once. */
    @Test
    void operatorFigures_areTheClustersOnEveryInstance_eachPairCountedOnce() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(env(redis));
             TestRendezvous b = new TestRendezvous(env(redis))) {
            register(sockets, a.port, "op-0", 41000);
            register(sockets, b.port, "op-1", 41001);
            register(sockets, a.port, "op-2", 41002);
            RawWebSocket w0 = sockets.get(0), w1 = sockets.get(1), w2 = sockets.get(2);
            for (TestRendezvous rv : new TestRendezvous[] {a, b}) {
                Await.until(Duration.ofSeconds(10), "all 3 listed", () -> rv.workers().size() == 3);
            }
            w0.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"op-1\"}");      // spans a and b
            String spanning = (String) Json.parseObject(w0.readSkippingPings().text()).get("pair_id");
            w1.readSkippingPings();
            w2.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"op-0\"}");      // a's alone
            String local = (String) Json.parseObject(w2.readSkippingPings().text()).get("pair_id");
            w0.readSkippingPings();
            w1.sendText("{\"type\": \"p2p_connection_status\", \"pair_id\": \"" + spanning + "\", \"state\": \"direct\", \"technique\": \"stun\"}");
            w2.sendText("{\"type\": \"p2p_connection_status\", \"pair_id\": \"" + local + "\", \"state\": \"relay\", \"detail\": \"x\"}");
            for (TestRendezvous rv : new TestRendezvous[] {a, b}) {
                Await.until(Duration.ofSeconds(10), "the cluster's figures on " + rv.port, () -> {
                    Map<String, Object> stats = Json.parseObject(rv.get("/debug/stats").body());
                    Map<?, ?> totals = (Map<?, ?>) stats.get("totals");
                    return Long.valueOf(2).equals(stats.get("instances")) && Long.valueOf(3).equals(stats.get("sessions"))
                            && Long.valueOf(2).equals(stats.get("live_pairs")) && Long.valueOf(2).equals(totals.get("introduced"))
                            && Long.valueOf(1).equals(totals.get("direct")) && Long.valueOf(1).equals(totals.get("relay"));
                });
                Map<String, Object> pairs = Json.parseObject(rv.get("/debug/pairs?q=op-").body());
                assertEquals(2L, pairs.get("matched"), pairs.toString());
                Map<String, Object> workers = Json.parseObject(rv.get("/debug/workers").body());
                assertEquals(2L, ((List<?>) workers.get("workers")).stream().map(w -> ((Map<?, ?>) w).get("instance")).distinct().count(),
                        "each worker shows the instance that holds it: " + workers);
            }
        } finally {
            closeAll(sockets);
        }
    }

    @Test
    void threeInstances_eachListsEveryWorker_inTheOriginalShape_andAnEndedSessionLeavesEveryList() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(env(redis));
             TestRendezvous b = new TestRendezvous(env(redis));
             TestRendezvous c = new TestRendezvous(env(redis))) {
            TestRendezvous[] all = {a, b, c};
            for (int i = 0; i < 9; i++) {
                String ack = register(sockets, all[i % 3].port, "w" + i, 40000 + i);
                assertEquals("success", Json.parseObject(ack).get("status"), ack);
            }
            for (TestRendezvous rv : all) {
                Await.until(Duration.ofSeconds(10), "all 9 workers listed on every instance", () -> rv.workers().size() == 9);
                Map<String, Object> list = Json.parseObject(rv.get("/debug/list_workers").body());
                assertEquals(9, ((Number) list.get("connected_workers_count")).intValue());
            }
            // w4 lives on b; a shows it with the fields the original shows.
            Map<String, Object> w4 = a.worker("w4");
            assertEquals("203.0.113.7", w4.get("stun_reported_udp_ip"));
            assertEquals(40004, ((Number) w4.get("stun_reported_udp_port")).intValue());
            assertEquals("127.0.0.1", w4.get("websocket_observed_ip"));
            assertEquals(Boolean.TRUE, w4.get("websocket_connected"));
            assertTrue(w4.containsKey("http_reported_public_ip"));

            // An introduction across instances: w0 is held by a, w1 by b.
            RawWebSocket w0 = sockets.get(0), w1 = sockets.get(1);
            w0.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"w1\"}");
            Map<String, Object> toW0 = Json.parseObject(w0.readSkippingPings().text());
            Map<String, Object> toW1 = Json.parseObject(w1.readSkippingPings().text());
            assertEquals("p2p_connection_offer", toW0.get("type"), toW0.toString());
            assertEquals("p2p_connection_offer", toW1.get("type"), toW1.toString());
            assertEquals("w1", toW0.get("peer_worker_id"));
            assertEquals(40001, ((Number) toW0.get("peer_udp_port")).intValue());
            assertEquals("initiator", toW0.get("role"));
            assertEquals("w0", toW1.get("peer_worker_id"));
            assertEquals(40000, ((Number) toW1.get("peer_udp_port")).intValue());
            assertEquals("responder", toW1.get("role"));
            assertEquals(toW0.get("pair_id"), toW1.get("pair_id"));
            assertEquals(toW0.get("pair_key"), toW1.get("pair_key"));
            String pair = (String) toW0.get("pair_id");
            // ... relayed both ways between the instances ...
            w0.sendText("{\"type\": \"relay_data\", \"pair_id\": \"" + pair + "\", \"data\": \"aGVsbG8=\"}");
            Map<String, Object> relayed = Json.parseObject(w1.readSkippingPings().text());
            assertEquals(Map.of("type", "relay_data", "pair_id", pair, "from_worker_id", "w0", "data", "aGVsbG8="), relayed);
            w1.sendText("{\"type\": \"relay_data\", \"pair_id\": \"" + pair + "\", \"data\": \"b2s=\"}");
            assertEquals("w1", Json.parseObject(w0.readSkippingPings().text()).get("from_worker_id"));
            // ... a stranger on the requester's instance cannot borrow the pair's relay ...
            RawWebSocket stranger = sockets.get(3);            // w3, also on a
            stranger.sendText("{\"type\": \"relay_data\", \"pair_id\": \"" + pair + "\", \"data\": \"aGVsbG8=\"}");
            Map<String, Object> notYours = Json.parseObject(stranger.readSkippingPings().text());
            assertEquals("relay_error", notYours.get("type"), notYours.toString());
            assertTrue(String.valueOf(notYours.get("detail")).contains("names no pair of this worker"), notYours.toString());
            // ... each side's outcome shows on both instances' debug lists ...
            w0.sendText("{\"type\": \"p2p_connection_status\", \"pair_id\": \"" + pair + "\", \"state\": \"relay\", \"detail\": \"testing\"}");
            w1.sendText("{\"type\": \"p2p_connection_status\", \"pair_id\": \"" + pair + "\", \"state\": \"relay\"}");
            for (TestRendezvous rv : new TestRendezvous[] {a, b}) {
                Await.until(Duration.ofSeconds(10), "both outcomes on " + rv.port, () -> {
                    @SuppressWarnings("unchecked")
                    List<Map<String, Object>> pairs = (List<Map<String, Object>>) Json.parseObject(rv.get("/debug/list_workers").body()).get("pairs");
                    return pairs.stream().anyMatch(p -> pair.equals(p.get("pair_id")) && ((Map<?, ?>) p.get("outcomes")).keySet().equals(java.util.Set.of("w0", "w1")));
                });
            }
            // ... and a decline on one side ends the pair on both, the other side told why.
            w1.sendText("{\"type\": \"p2p_connection_decline\", \"pair_id\": \"" + pair + "\", \"detail\": \"not today\"}");
            Map<String, Object> declined = Json.parseObject(w0.readSkippingPings().text());
            assertEquals("p2p_connection_error", declined.get("type"));
            assertTrue(String.valueOf(declined.get("detail")).contains("declined the connection: not today"), declined.toString());
            w0.sendText("{\"type\": \"relay_data\", \"pair_id\": \"" + pair + "\", \"data\": \"aGVsbG8=\"}");
            assertEquals("relay_error", Json.parseObject(w0.readSkippingPings().text()).get("type"), "the pair is gone on a too");
            // A target no instance holds is refused as by one instance.
            w0.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"nobody\"}");
            Map<String, Object> unknown = Json.parseObject(w0.readSkippingPings().text());
            assertEquals("p2p_connection_error", unknown.get("type"));
            assertTrue(String.valueOf(unknown.get("detail")).contains("unknown worker id 'nobody'"), unknown.toString());

            sockets.get(4).send(RawWebSocket.close(1000, new byte[0]));
            sockets.get(4).readClose();
            for (TestRendezvous rv : all) {
                Await.until(Duration.ofSeconds(10), "w4 gone from every list", () -> !rv.workers().containsKey("w4") && rv.workers().size() == 8);
            }
        } finally {
            closeAll(sockets);
        }
    }

    @Test
    void stoppedInstance_removesItsEntriesAtOnce_andAKilledOneVanishesWithinTwoPingIntervals() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer(); TestRendezvous survivor = new TestRendezvous(env(redis))) {
            TestRendezvous stopping = new TestRendezvous(env(redis));
            try {
                register(sockets, stopping.port, "leaving", 1);
                Await.until(Duration.ofSeconds(10), "the other instance's worker listed", () -> survivor.workers().containsKey("leaving"));
            } finally {
                stopping.close();                 // as on SIGTERM
            }
            assertFalse(survivor.workers().containsKey("leaving"), "removed before its sessions were closed, not left to expire");

            try (ServiceProcess killed = ServiceProcess.rendezvous(List.of(), env(redis), 0)) {
                register(sockets, killed.port, "orphan", 2);
                register(sockets, survivor.port, "stay", 3);
                Await.until(Duration.ofSeconds(10), "the process's worker listed", () -> survivor.workers().containsKey("orphan"));
                RawWebSocket stay = sockets.getLast();
                stay.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"orphan\"}");
                Map<String, Object> offer = Json.parseObject(stay.readSkippingPings().text());
                assertEquals("p2p_connection_offer", offer.get("type"), offer.toString());
                long t0 = System.nanoTime();
                killed.process.destroyForcibly();     // SIGKILL: no chance to clean up
                killed.process.waitFor();
                Await.until(Duration.ofSeconds(2 * 1 + 5), "the killed instance's worker gone", () -> !survivor.workers().containsKey("orphan"));
                System.out.println("killed instance's entries gone after " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                Await.until(Duration.ofSeconds(5), "the pair that spanned the dead instance ended", () -> {
                    @SuppressWarnings("unchecked")
                    List<Map<String, Object>> pairs = (List<Map<String, Object>>) Json.parseObject(survivor.get("/debug/list_workers").body()).get("pairs");
                    return pairs.stream().anyMatch(p -> offer.get("pair_id").equals(p.get("pair_id")) && Boolean.FALSE.equals(p.get("live")));
                });
            }
        } finally {
            closeAll(sockets);
        }
    }

    @Test
    void redisDown_instancesKeepServingTheirOwn_andARestartedEmptyRedisIsWholeAgain() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        HttpClient http = HttpClient.newHttpClient();
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(env(redis));
             TestRendezvous b = new TestRendezvous(env(redis))) {
            register(sockets, a.port, "on-a", 1);
            register(sockets, b.port, "on-b", 2);
            Await.until(Duration.ofSeconds(10), "both listed on both", () -> a.workers().size() == 2 && b.workers().size() == 2);

            redis.kill();
            // Its own sessions are served on; a new one is refused (fails closed: who holds its id cannot be read).
            RawWebSocket held = sockets.get(0);
            held.sendText("{\"type\": \"update_udp_endpoint\", \"udp_ip\": \"203.0.113.9\", \"udp_port\": 9}");
            assertEquals("success", Json.parseObject(held.readSkippingPings().text()).get("status"), "a held session is still served");
            Exception refused = assertThrows(Exception.class, () -> RawWebSocket.connect(a.port, "while-down").close());
            assertTrue(refused.getMessage().contains("503"), refused.getMessage());
            Await.until(Duration.ofSeconds(10), "holepunch_cluster_connected 0", () -> metric(http, a).contains("holepunch_cluster_connected 0"));
            assertEquals(java.util.Set.of("on-a"), a.workers().keySet(), "its own sessions, listed from memory");

            redis.start();                        // empty: nothing was persisted
            Await.until(Duration.ofSeconds(10), "registrations taken again once Redis answers", () -> {
                try {
                    register(sockets, a.port, "while-down", 3);
                    return true;
                } catch (java.io.IOException stillDown) {
                    return false;                 // 503 until the directory reconnects
                }
            });
            for (TestRendezvous rv : new TestRendezvous[] {a, b}) {
                Await.until(Duration.ofSeconds(10), "the directory whole again",
                        () -> rv.workers().keySet().equals(java.util.Set.of("on-a", "on-b", "while-down")));
            }
            Await.until(Duration.ofSeconds(10), "holepunch_cluster_connected 1", () -> metric(http, a).contains("holepunch_cluster_connected 1"));
        } finally {
            closeAll(sockets);
        }
    }

    @Test
    void sameIdOnAnotherInstance_closesTheOlderSessionWith1000_andItsEndKeepsTheNewerEntry() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(env(redis));
             TestRendezvous b = new TestRendezvous(env(redis))) {
            register(sockets, a.port, "dup", 1);
            Await.until(Duration.ofSeconds(10), "listed on b", () -> b.workers().containsKey("dup"));
            RawWebSocket newer = RawWebSocket.connect(b.port, "dup");
            sockets.add(newer);
            RawWebSocket.Frame close = sockets.get(0).readClose();
            assertEquals(1000, close.closeCode());
            assertEquals("New connection from same worker ID", close.closeReason());
            int newerPort = newer.socket.getLocalPort();
            for (TestRendezvous rv : new TestRendezvous[] {a, b}) {
                Await.until(Duration.ofSeconds(10), "the newer session listed",
                        () -> rv.worker("dup") instanceof Map<?, ?> listed     // read once: the list may change between two reads
                                && ((Number) listed.get("websocket_observed_port")).intValue() == newerPort);
            }
            newer.sendText("{\"type\": \"update_udp_endpoint\", \"udp_ip\": \"203.0.113.9\", \"udp_port\": 9}");
            assertEquals("success", Json.parseObject(newer.readSkippingPings().text()).get("status"), "the newer session is served");
        } finally {
            closeAll(sockets);
        }
    }

    @Test
    void keyedId_cannotBeTakenThroughAnotherInstance() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(env(redis));
             TestRendezvous b = new TestRendezvous(env(redis))) {
            holepunch.crypto.Identity ownerKey = holepunch.crypto.Identity.generate();
            RawWebSocket owner = RawWebSocket.connectKeyed(a.port, "keyed", ownerKey);
            sockets.add(owner);
            Await.until(Duration.ofSeconds(10), "listed on b", () -> b.workers().containsKey("keyed"));
            // The owner's key binds the id in Redis at its upgrade: a taker on another instance is refused at its own
            // upgrade (409), with or without a key. Before (issue 23, finding 2) it got 101 and was closed with 1008 after.
            for (boolean withKey : new boolean[] {false, true}) {
                Exception refused = assertThrows(Exception.class, () -> (withKey
                        ? RawWebSocket.connectKeyed(b.port, "keyed", holepunch.crypto.Identity.generate())
                        : RawWebSocket.connect(b.port, "keyed")).close());
                assertTrue(refused.getMessage().contains("409"), "the taker is refused before any 101: " + refused.getMessage());
            }
            owner.sendText("{\"type\": \"update_udp_endpoint\", \"udp_ip\": \"203.0.113.9\", \"udp_port\": 9}");
            RawWebSocket.Frame ack = owner.readSkippingPings();
            assertEquals(1, ack.opcode(), "the owner's session is still open");
            assertEquals("success", Json.parseObject(ack.text()).get("status"));

            // Ended, the id stays bound cluster-wide for ID_BINDING_GRACE_SEC: 409 on the other instance too.
            owner.send(RawWebSocket.close(1000, new byte[0]));
            owner.readClose();
            Await.until(Duration.ofSeconds(10), "the owner's session gone from b's list", () -> !b.workers().containsKey("keyed"));
            Exception refused = assertThrows(Exception.class, () -> RawWebSocket.connect(b.port, "keyed").close());
            assertTrue(refused.getMessage().contains("409"), refused.getMessage());
            try (RawWebSocket back = RawWebSocket.connectKeyed(b.port, "keyed", ownerKey)) {
                assertTrue(back.responseHead.startsWith("HTTP/1.1 101"), "the key's owner comes back anywhere: " + back.responseHead);
            }
        } finally {
            closeAll(sockets);
        }
    }

    /**
     * Issue 23, finding 2: while Redis could not be read, the binding check returned "nobody" and an
     * impostor took an id bound cluster-wide to another key (101). It now fails closed: 503 with
     * Retry-After until the directory can be read again.
     */
    @Test
    void attack_whileRedisCannotBeRead_aBoundIdIsNotLetIn() throws Exception {
        try (RedisServer redis = new RedisServer();
             TestRendezvous a = new TestRendezvous(env(redis));
             TestRendezvous b = new TestRendezvous(env(redis))) {
            holepunch.crypto.Identity ownerKey = holepunch.crypto.Identity.generate();
            try (RawWebSocket owner = RawWebSocket.connectKeyed(a.port, "bound", ownerKey)) {
                Await.until(Duration.ofSeconds(10), "listed on b", () -> b.workers().containsKey("bound"));
                owner.send(RawWebSocket.close(1000, new byte[0]));
                owner.readClose();
            }
            Await.until(Duration.ofSeconds(10), "gone from b's list", () -> !b.workers().containsKey("bound"));
            redis.kill();
            String answer;
            try (RawWebSocket impostor = RawWebSocket.raw(b.port, "GET /ws/register/bound HTTP/1.1\r\nHost: 127.0.0.1:" + b.port
                    + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")) {
                answer = impostor.responseHead;
            }
            assertTrue(answer.startsWith("HTTP/1.1 503"), "the impostor is refused while the binding cannot be read: " + answer);
            assertTrue(answer.toLowerCase(java.util.Locale.ROOT).contains("retry-after"), answer);
        }
    }

    @Test
    void aPairAcrossInstances_isMeteredOnce_bothDirectionsFromOneRelayBudget() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (RedisServer redis = new RedisServer()) {
            Map<String, String> slow = new java.util.HashMap<>(env(redis));
            slow.put("RELAY_BYTES_PER_SEC", "1500");              // a burst of 3,000 bytes, then 1,500 a second
            try (TestRendezvous a = new TestRendezvous(slow); TestRendezvous b = new TestRendezvous(slow)) {
                register(sockets, a.port, "m0", 1);
                register(sockets, b.port, "m1", 2);
                RawWebSocket m0 = sockets.get(0), m1 = sockets.get(1);
                Await.until(Duration.ofSeconds(10), "m1 listed on a", () -> a.workers().containsKey("m1"));
                m0.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"m1\"}");
                String pair = (String) Json.parseObject(m0.readSkippingPings().text()).get("pair_id");
                m1.readSkippingPings();                            // its offer
                String b999 = java.util.Base64.getEncoder().encodeToString(new byte[999]);
                for (int i = 0; i < 3; i++) {                      // 2,997 bytes from a's side: the whole burst
                    m0.sendText("{\"type\": \"relay_data\", \"pair_id\": \"" + pair + "\", \"data\": \"" + b999 + "\"}");
                    assertEquals("relay_data", Json.parseObject(m1.readSkippingPings().text()).get("type"));
                }
                String b1398 = java.util.Base64.getEncoder().encodeToString(new byte[1398]);
                m1.sendText("{\"type\": \"relay_data\", \"pair_id\": \"" + pair + "\", \"data\": \"" + b1398 + "\"}");
                Map<String, Object> refused = Json.parseObject(m1.readSkippingPings().text());
                assertEquals("relay_error", refused.get("type"), "the other direction draws on the same budget: " + refused);
                assertTrue(String.valueOf(refused.get("detail")).contains("RELAY_BYTES_PER_SEC"), refused.toString());
            }
        } finally {
            closeAll(sockets);
        }
    }

    @Test
    void holepunchWorkers_onDifferentInstances_getADirectPath() throws Exception {
        try (RedisServer redis = new RedisServer()) {
            Map<String, String> withStun = new java.util.HashMap<>(env(redis));
            withStun.put("STUN_UDP_PORT", String.valueOf(holepunch.testing.Ports.freeUdp()));
            try (TestRendezvous a = new TestRendezvous(withStun); TestRendezvous b = new TestRendezvous(env(redis));
                 holepunch.worker.Worker onB = worker(b, a, "cw-b", null, Map.of("P2P_ALLOW", "cw-a"));
                 holepunch.worker.Worker onA = worker(a, a, "cw-a", "cw-b", Map.of())) {
                Await.until(Duration.ofSeconds(30), "both direct across instances",
                        () -> "direct".equals(peerState(onA)) && "direct".equals(peerState(onB)));
            }
        }
    }

    private static holepunch.worker.Worker worker(TestRendezvous rv, TestRendezvous stun, String id, String connectTo, Map<String, String> extra)
            throws Exception {
        Map<String, String> env = new java.util.HashMap<>(extra);
        if (connectTo != null) env.put("P2P_CONNECT_TO", connectTo);
        return holepunch.testing.TestWorkers.start(rv, stun.server.stunPort(), id, env);
    }

    private static String peerState(holepunch.worker.Worker w) {
        return (String) holepunch.testing.TestWorkers.peer(w).get("state");
    }

    private static String metric(HttpClient http, TestRendezvous rv) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(rv.base() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
