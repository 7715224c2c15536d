package holepunch.worker;

import holepunch.json.Json;
import holepunch.testing.TestWorkers;
import holepunch.testing.Await;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two workers on loopback: P2P_CONNECT_TO gets an introduction and both sides a direct path. */
class PeerPathTest {
    private static Worker worker(TestRendezvous rv, String id, String connectTo) throws Exception {
        return worker(rv, id, connectTo, Map.of());
    }

    private static Worker worker(TestRendezvous rv, String id, String connectTo, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(extra);
        if (connectTo != null) env.put("P2P_CONNECT_TO", connectTo);
        return TestWorkers.start(rv, rv.server.stunPort(), id, env);
    }

    private static Map<String, Object> peer(Worker w) {
        return TestWorkers.peer(w);
    }

    @Test
    void forwarding_carriesUdpToTheTargetBesideThePeerAndBack() throws Exception {
        try (holepunch.testing.UdpEcho echo = new holepunch.testing.UdpEcho();
             TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())))) {
            int echoPort = echo.port();
            int forwardPort = Ports.freeUdp();
            try (Worker b = worker(rv, "fwd-b", null, Map.of("P2P_ALLOW", "fwd-a", "FORWARD_ALLOW", "127.0.0.1:" + echoPort));
                 Worker a = worker(rv, "fwd-a", null, Map.of("FORWARD", forwardPort + "=fwd-b:127.0.0.1:" + echoPort));
                 java.net.DatagramSocket app = new java.net.DatagramSocket(new java.net.InetSocketAddress("127.0.0.1", 0))) {
                Await.until(Duration.ofSeconds(30), "direct", () -> "direct".equals(peer(a).get("state")));
                app.setSoTimeout(500);
                String answer = null;
                for (int i = 0; i < 20 && answer == null; i++) {     // bounded: the far side may still be settling
                    byte[] msg = ("hello " + i).getBytes();
                    app.send(new java.net.DatagramPacket(msg, msg.length, new java.net.InetSocketAddress("127.0.0.1", forwardPort)));
                    java.net.DatagramPacket p = new java.net.DatagramPacket(new byte[2048], 2048);
                    try {
                        app.receive(p);
                        answer = new String(p.getData(), 0, p.getLength());
                    } catch (java.net.SocketTimeoutException e) {
                        // try again
                    }
                }
                assertEquals(true, answer != null && answer.startsWith("hello "), "echo through the forward: " + answer);
                String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.healthPort() + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
                assertTrue(metrics.contains("holepunch_worker_path_state{peer=\"fwd-b\",state=\"direct\"} 1"), metrics);
                assertTrue(metrics.matches("(?s).*holepunch_worker_path_bytes_total\\{peer=\"fwd-b\",path=\"direct\",direction=\"sent\"} [1-9].*"), metrics);
            }
        }
    }

    @Test
    void forwardAllow_refusesTargetsItDoesNotList() throws Exception {
        try (Forwarder f = new Forwarder("t", null, List.of(), Forwarder.parseAllow("127.0.0.1:9,10.0.0.5:7000,[::1]:53"), new holepunch.metrics.Metrics())) {
            assertEquals(true, f.allowed(Forwarder.target("127.0.0.1:9")));
            assertEquals(true, f.allowed(Forwarder.target("10.0.0.5:7000")));
            assertEquals(true, f.allowed(Forwarder.target("[0:0:0:0:0:0:0:1]:53")), "the same address in another spelling");
            assertEquals(false, f.allowed(Forwarder.target("127.0.0.1:10")), "exact ports only");
            assertEquals(false, f.allowed(Forwarder.target("10.0.0.5:7001")));
            assertEquals(false, f.allowed(Forwarder.target("192.0.2.1:53")));
        }
        try (Forwarder none = new Forwarder("t", null, List.of(), Forwarder.parseAllow(""), new holepunch.metrics.Metrics())) {
            assertEquals(false, none.allowed(Forwarder.target("127.0.0.1:7000")), "nothing is allowed by default");
        }
        org.junit.jupiter.api.Assertions.assertThrows(holepunch.config.ConfigException.class, () -> Forwarder.parseAllow("example.com:53"));
        org.junit.jupiter.api.Assertions.assertThrows(holepunch.config.ConfigException.class, () -> Forwarder.parseAllow("127.0.0.1"),
                "a bare address (every port) is refused");
        org.junit.jupiter.api.Assertions.assertThrows(holepunch.config.ConfigException.class, () -> Forwarder.parseRules("5000=peer"));
        assertEquals(List.of(new Forwarder.Rule(5000, "peer", "127.0.0.1", 7000)), Forwarder.parseRules(" 5000=peer:127.0.0.1:7000 "));
    }

    @Test
    void twoWorkers_getADirectPathAndReportIt() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())));
             Worker b = worker(rv, "path-b", null, Map.of("P2P_ALLOW", "path-a"));
             Worker a = worker(rv, "path-a", "path-b")) {
            Await.until(Duration.ofSeconds(30), "both direct", () -> "direct".equals(peer(a).get("state")) && "direct".equals(peer(b).get("state")));
            assertEquals("path-b", peer(a).get("peer_worker_id"));
            assertEquals("127.0.0.1:" + b.udpPort(), peer(a).get("remote"));
            assertEquals("127.0.0.1:" + a.udpPort(), peer(b).get("remote"));
            Await.until(Duration.ofSeconds(10), "outcomes at the rendezvous", () -> {
                @SuppressWarnings("unchecked")
                List<Map<String, Object>> pairs = (List<Map<String, Object>>) Json.parseObject(rv.get("/debug/list_workers").body()).get("pairs");
                return pairs.size() == 1 && ((Map<?, ?>) pairs.getFirst().get("outcomes")).size() == 2;
            });
        }
    }
}
