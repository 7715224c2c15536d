package holepunch.worker;

import holepunch.config.Env;
import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The attacks of issue 9 on a worker, replayed with a plain WebSocket client as the attacker:
 * it registers an id, asks the rendezvous for a path to the victim and sends what it likes.
 */
class WorkerSecurityTest {
    static TestRendezvous rv;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(holepunch.testing.Ports.freeUdp())));
    }

    @AfterAll
    static void stop() {
        rv.close();
    }

    private static Worker victim(String id, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("RENDEZVOUS_SERVICE_URL", rv.base(), "WORKER_ID", id,
                "STUN_HOST_ENV", "127.0.0.1", "STUN_PORT_ENV", String.valueOf(rv.server.stunPort()),
                "INTERNAL_UDP_PORT_ENV", "0", "PORT", "0", "IP_ECHO_URL", "", "HOST_CANDIDATES", "false"));
        env.putAll(extra);
        Worker w = Worker.start(WorkerConfig.from(new Env(env)));
        Await.until(Duration.ofSeconds(20), id + " registered with its endpoint",
                () -> rv.worker(id) instanceof Map<String, Object> m && m.get("stun_reported_udp_port") != null);
        return w;
    }

    /** A UDP service beside the victim, on loopback: what the attacker wants to reach. */
    private static DatagramChannel service() throws IOException {
        DatagramChannel ch = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        ch.configureBlocking(false);
        return ch;
    }

    private static int port(DatagramChannel ch) throws IOException {
        return ((InetSocketAddress) ch.getLocalAddress()).getPort();
    }

    /** A plain WebSocket client as the attacker; {@code keyed}: it proves a key of its own on the upgrade. */
    private static RawWebSocket attacker(String id, int udpPort, List<String> hostCandidates) throws Exception {
        return attacker(id, udpPort, hostCandidates, false);
    }

    private static RawWebSocket attacker(String id, int udpPort, List<String> hostCandidates, boolean keyed) throws Exception {
        RawWebSocket ws = keyed ? RawWebSocket.connectKeyed(rv.port, id, holepunch.crypto.Identity.generate()) : RawWebSocket.connect(rv.port, id);
        ws.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "127.0.0.1", "udp_port", udpPort,
                "host_candidates", hostCandidates)));
        assertEquals("success", next(ws).get("status"));
        return ws;
    }

    private static Map<String, Object> next(RawWebSocket ws) throws Exception {
        return Json.parseObject(ws.readSkippingPings().text());
    }

    /** A forwarding payload asking the far worker to send {@code data} to {@code target} (Forwarder's layout). */
    private static String forwardPayload(String target, String data) {
        byte[] t = target.getBytes(StandardCharsets.UTF_8);
        byte[] d = data.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(7 + t.length + d.length);
        b.put(Forwarder.TO_TARGET).putInt(12345).putShort((short) t.length).put(t).put(d);
        return Base64.getEncoder().encodeToString(b.array());
    }

    private static long dropped(Worker w, String reason) {
        return w.metrics().value("holepunch_worker_dropped_total", "reason", reason);
    }

    private static String received(DatagramChannel ch) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(2048);
        return ch.receive(buf) == null ? null : new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
    }

    @Test
    void strangerForwardingToTheVictimsLoopback_isRefused_byDefault() throws Exception {
        try (DatagramChannel service = service(); Worker victim = victim("fw-victim", Map.of());
             DatagramChannel mine = service(); RawWebSocket mallory = attacker("fw-mallory", port(mine), List.of())) {
            mallory.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "fw-victim")));
            Map<String, Object> offer = next(mallory);
            assertEquals("p2p_connection_offer", offer.get("type"));
            mallory.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", offer.get("pair_id"),
                    "data", forwardPayload("127.0.0.1:" + port(service), "steal"))));
            // The victim never asked for fw-mallory: it declines, and the relayed payload is refused
            // at the rendezvous (pair gone) or dropped by the victim (no pair), whichever comes first.
            boolean[] seen = new boolean[2];    // declined, relay refused
            Await.until(Duration.ofSeconds(10), "declined, and the relayed payload refused or dropped", () -> {
                while (mallory.socket.getInputStream().available() > 0) {
                    RawWebSocket.Frame f = mallory.read();
                    if (f.opcode() != 1) continue;
                    Map<String, Object> m = Json.parseObject(f.text());
                    if ("p2p_connection_error".equals(m.get("type"))) {
                        assertEquals("fw-victim", m.get("target_worker_id"));
                        assertTrue(((String) m.get("detail")).contains("declined"), m.toString());
                        seen[0] = true;
                    }
                    if ("relay_error".equals(m.get("type"))) seen[1] = true;
                }
                return seen[0] && (seen[1] || dropped(victim, "unknown_pair") > 0);
            });
            boolean declined = seen[0];
            assertTrue(declined, "the victim declined the stranger");
            assertNull(received(service), "nothing reached the service beside the victim");
            assertTrue(((List<?>) victim.status().get("peers")).isEmpty(), "no peer link for a stranger");
        }
    }

    @Test
    void keyedStranger_cannotForgeForwardedTraffic_overTheRelay() throws Exception {
        try (DatagramChannel service = service(); Worker victim = victim("fk-victim", Map.of("P2P_ALLOW", "fk-peer",
                "FORWARD_ALLOW", "127.0.0.1:" + ((InetSocketAddress) service.getLocalAddress()).getPort()));
             DatagramChannel mine = service(); RawWebSocket peer = attacker("fk-peer", port(mine), List.of(), true)) {
            // Accepted, with a key of its own; but without the Noise handshake it holds no path key,
            // so a forwarding payload it relays is not even authenticated, let alone delivered.
            peer.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "fk-victim")));
            Object pair = next(peer).get("pair_id");
            peer.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pair, "data", forwardPayload("127.0.0.1:" + port(service), "steal"))));
            Await.until(Duration.ofSeconds(10), "refused as unauthenticated",
                    () -> dropped(victim, "unauthenticated") + dropped(victim, "unknown_pair") >= 1);
            assertNull(received(service));
        }
    }

    @Test
    void acceptedPeer_reachesOnlyTheExactTargetsForwardAllowNames() throws Exception {
        try (DatagramChannel service = service(); DatagramChannel other = service()) {
            int allowedPort = port(service);
            int localAllowed = holepunch.testing.Ports.freeUdp();
            int localOther = holepunch.testing.Ports.freeUdp();
            int localClosed = holepunch.testing.Ports.freeUdp();
            try (Worker closed = victim("fa-closed", Map.of("P2P_ALLOW", "fa-peer"));
                 Worker open = victim("fa-open", Map.of("P2P_ALLOW", "fa-peer", "FORWARD_ALLOW", "127.0.0.1:" + allowedPort));
                 Worker peer = victim("fa-peer", Map.of("FORWARD", localClosed + "=fa-closed:127.0.0.1:" + allowedPort + ","
                         + localOther + "=fa-open:127.0.0.1:" + port(other) + "," + localAllowed + "=fa-open:127.0.0.1:" + allowedPort));
                 java.net.DatagramSocket app = new java.net.DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
                // The peer's forwarding rules reach its path to each victim once the keys are in place.
                Await.until(Duration.ofSeconds(20), "encrypted paths to both", () -> ((List<?>) peer.status().get("peers")).stream()
                        .filter(p -> Boolean.TRUE.equals(((Map<?, ?>) p).get("encrypted"))).count() == 2);
                byte[] steal = "steal".getBytes(StandardCharsets.UTF_8);
                // FORWARD_ALLOW unset: an accepted peer still reaches nothing.
                app.send(new java.net.DatagramPacket(steal, steal.length, new InetSocketAddress("127.0.0.1", localClosed)));
                Await.until(Duration.ofSeconds(10), "refused by the default FORWARD_ALLOW", () -> dropped(closed, "forward_not_allowed") == 1);
                // Another port on an allowed address: not named, so refused.
                app.send(new java.net.DatagramPacket(steal, steal.length, new InetSocketAddress("127.0.0.1", localOther)));
                Await.until(Duration.ofSeconds(10), "refused: only exact ports", () -> dropped(open, "forward_not_allowed") == 1);
                assertNull(received(service));
                assertNull(received(other));
                // The named target: delivered (the harness sees a delivery when there is one).
                byte[] ok = "allowed".getBytes(StandardCharsets.UTF_8);
                String[] got = new String[1];
                Await.until(Duration.ofSeconds(10), "delivered to the allowed target", () -> {
                    app.send(new java.net.DatagramPacket(ok, ok.length, new InetSocketAddress("127.0.0.1", localAllowed)));
                    return (got[0] = received(service)) != null;
                });
                assertEquals("allowed", got[0]);
            }
        }
    }

    @Test
    void strangersOffer_makesTheVictimSendNothing_andAnAcceptedOneStaysWithinItsProbeBudget() throws Exception {
        List<DatagramChannel> targets = new ArrayList<>();
        try {
            for (int i = 0; i < 9; i++) targets.add(service());
            List<String> hosts = new ArrayList<>();
            for (int i = 1; i < 9; i++) hosts.add("127.0.0.1:" + port(targets.get(i)));
            try (Worker victim = victim("pb-victim", Map.of("P2P_PROBE_INTERVAL_MS", "10", "P2P_DEADLINE_MS", "1500"));
                 RawWebSocket mallory = attacker("pb-mallory", port(targets.getFirst()), hosts, true)) {
                mallory.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "pb-victim")));
                assertEquals("p2p_connection_offer", next(mallory).get("type"));
                Map<String, Object> error = next(mallory);
                assertEquals("p2p_connection_error", error.get("type"), "the victim declines an offer it did not ask for");
                assertEquals(0, drain(targets), "a declined offer costs the victim no datagram");
                assertTrue(((List<?>) victim.status().get("peers")).isEmpty());
            }
            try (Worker victim = victim("pb-open", Map.of("P2P_ALLOW", "pb-friend", "P2P_PROBE_INTERVAL_MS", "10", "P2P_DEADLINE_MS", "1500"));
                 RawWebSocket friend = attacker("pb-friend", port(targets.getFirst()), hosts, true)) {
                friend.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "pb-open")));
                assertEquals("p2p_connection_offer", next(friend).get("type"));
                Await.until(Duration.ofSeconds(10), "punching over (nothing answers)", () -> {
                    List<?> peers = (List<?>) victim.status().get("peers");
                    return !peers.isEmpty() && "relay".equals(((Map<?, ?>) peers.getFirst()).get("state"));
                });
                int probes = drain(targets);
                // 9 candidates x 150 ticks would be 1,350 datagrams: the budget holds it to 400.
                assertTrue(probes > 0 && probes <= holepunch.peer.Peers.MAX_PROBES_PER_OFFER, "probes sent: " + probes);
            }
        } finally {
            for (DatagramChannel c : targets) c.close();
        }
    }

    private static int drain(List<DatagramChannel> channels) throws IOException {
        int n = 0;
        for (DatagramChannel c : channels) while (received(c) != null) n++;
        return n;
    }

    @Test
    void healthServer_answersEveryPathAsTheOriginal_andGuardsStatusAndMetricsWithTheToken() throws Exception {
        try (TestRendezvous guarded = new TestRendezvous(Map.of("RENDEZVOUS_TOKEN", "tok-123"));
             Worker w = Worker.start(WorkerConfig.from(new Env(Map.of("RENDEZVOUS_SERVICE_URL", guarded.base(), "WORKER_ID", "hs-worker",
                     "STUN_HOST_ENV", "127.0.0.1", "STUN_PORT_ENV", "9", "INTERNAL_UDP_PORT_ENV", "0", "PORT", "0", "IP_ECHO_URL", "",
                     "RENDEZVOUS_TOKEN", "tok-123"))))) {
            String base = "http://127.0.0.1:" + w.healthPort();
            for (String path : List.of("/", "/healthz", "/any/thing")) {
                HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), path);
                assertEquals(HealthServer.HEALTH_TEXT, r.body(), path);
            }
            for (String path : List.of("/status", "/metrics")) {
                assertEquals(401, HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
                assertEquals(401, HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer nope").build(),
                        HttpResponse.BodyHandlers.ofString()).statusCode());
                HttpResponse<String> ok = HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer tok-123").build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, ok.statusCode(), path);
                assertTrue(ok.body().contains(path.equals("/status") ? "\"worker_id\":\"hs-worker\"" : "holepunch_worker_"), ok.body());
            }
        }
    }

    /** Every datagram the worker's socket drops is counted with its reason: strangers' bytes and forged probes alike, no log line each. */
    @Test
    void strayDatagramsAtTheWorkersSocket_areCountedByReason() throws Exception {
        try (Worker w = victim("stray-target", Map.of()); DatagramChannel stranger = DatagramChannel.open()) {
            java.net.InetSocketAddress to = new java.net.InetSocketAddress("127.0.0.1", w.udpPort());
            for (int i = 0; i < 5; i++) stranger.send(ByteBuffer.wrap("hello there".getBytes(StandardCharsets.US_ASCII)), to);
            byte[] forged = new byte[40];
            forged[0] = 'H';
            forged[1] = 'P';
            forged[2] = 3;
            forged[3] = 1;                                   // looks like a probe of a pair nobody has
            stranger.send(ByteBuffer.wrap(forged), to);
            Await.until(Duration.ofSeconds(5), "counted", () -> dropped(w, "not_ours") == 5 && dropped(w, "unauthenticated") >= 1);
        }
    }
}
