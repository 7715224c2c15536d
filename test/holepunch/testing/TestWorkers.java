package holepunch.testing;

import holepunch.config.Env;
import holepunch.worker.Worker;
import holepunch.worker.WorkerConfig;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** In-process holepunch workers on loopback for tests: one rendezvous, one STUN server, no LAN candidates. */
public final class TestWorkers {
    private TestWorkers() {
    }

    /** A worker {@code id} registered at {@code rendezvous}, STUN from 127.0.0.1:{@code stunPort}; {@code extra} env wins. */
    public static Worker start(TestRendezvous rendezvous, int stunPort, String id, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("RENDEZVOUS_SERVICE_URL", rendezvous.base(), "WORKER_ID", id,
                "STUN_HOST_ENV", "127.0.0.1", "STUN_PORT_ENV", String.valueOf(stunPort),
                "INTERNAL_UDP_PORT_ENV", "0", "PORT", "0", "IP_ECHO_URL", "", "HOST_CANDIDATES", "false"));
        env.putAll(extra);
        return Worker.start(WorkerConfig.from(new Env(env)));
    }

    /** The worker's first peer path as {@code /status} shows it, or an empty map. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> peer(Worker w) {
        List<Map<String, Object>> peers = (List<Map<String, Object>>) w.status().get("peers");
        return peers.isEmpty() ? Map.of() : peers.getFirst();
    }
}
