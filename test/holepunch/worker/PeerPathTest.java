package holepunch.worker;

import holepunch.config.Env;
import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Two workers on loopback: P2P_CONNECT_TO gets an introduction and both sides a direct path. */
class PeerPathTest {
    private static Worker worker(TestRendezvous rv, String id, String connectTo) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("RENDEZVOUS_SERVICE_URL", rv.base(), "WORKER_ID", id,
                "STUN_HOST_ENV", "127.0.0.1", "STUN_PORT_ENV", String.valueOf(rv.server.stunPort()),
                "INTERNAL_UDP_PORT_ENV", "0", "PORT", "0", "IP_ECHO_URL", "", "HOST_CANDIDATES", "false"));
        if (connectTo != null) env.put("P2P_CONNECT_TO", connectTo);
        return Worker.start(WorkerConfig.from(new Env(env)));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> peer(Worker w) {
        List<Map<String, Object>> peers = (List<Map<String, Object>>) w.status().get("peers");
        return peers.isEmpty() ? Map.of() : peers.getFirst();
    }

    @Test
    void twoWorkers_getADirectPathAndReportIt() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())));
             Worker b = worker(rv, "path-b", null);
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
