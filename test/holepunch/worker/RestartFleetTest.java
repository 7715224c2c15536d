package holepunch.worker;

import holepunch.json.Json;
import holepunch.metrics.Metrics;
import holepunch.testing.Await;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** A rendezvous killed and restarted under 1,000 connected worker sessions: all are back within 15 s. */
@org.junit.jupiter.api.Tag("slow")
class RestartFleetTest {
    static final int WORKERS = 1000;

    @Test
    void thousandWorkerSessions_reRegisterWithin15sOfARestart() throws Exception {
        int port = Ports.freeTcp();
        Map<String, String> env = Map.of("PORT", String.valueOf(port));
        List<RendezvousSession> sessions = new ArrayList<>();
        TestRendezvous first = new TestRendezvous(env);
        holepunch.log.Log.Level level = holepunch.log.Log.level();
        holepunch.log.Log.setLevel(holepunch.log.Log.Level.ERROR);     // 1,000 sessions x several lines each
        try {
            for (int i = 0; i < WORKERS; i++) {
                String id = "fleet-" + i;
                int udpPort = 10_000 + i;
                RendezvousSession[] self = new RendezvousSession[1];
                self[0] = new RendezvousSession(id, URI.create("ws://127.0.0.1:" + port + "/ws/register/" + id),
                        25_000_000_000L, 25_000_000_000L, null, new Metrics(), holepunch.crypto.Identity.generate(), true, new RendezvousSession.Handler() {
                            @Override
                            public void onConnected(RendezvousSession s) {
                                Thread.ofVirtual().start(() -> s.send(new holepunch.protocol.UpdateUdpEndpoint(
                                        "127.0.0.1", udpPort, null, null, List.of())));
                            }

                            @Override
                            public void onMessage(holepunch.protocol.Message message) {
                            }

                            @Override
                            public void onDisconnected() {
                            }
                        });
                sessions.add(self[0]);
                self[0].start();
            }
            Await.until(Duration.ofSeconds(60), "fleet registered", () -> countWithEndpoint(first) == WORKERS);
            first.close();                                   // the rendezvous dies ...
            long t0 = System.nanoTime();
            try (TestRendezvous second = new TestRendezvous(env)) {   // ... and comes back on the same port
                Await.until(Duration.ofSeconds(15), "all " + WORKERS + " re-registered", () -> countWithEndpoint(second) == WORKERS);
                System.out.println("fleet re-registered in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
                closeAll(sessions);
            }
        } finally {
            closeAll(sessions);
            holepunch.log.Log.setLevel(level);
        }
    }

    private static void closeAll(List<RendezvousSession> sessions) throws InterruptedException {
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (RendezvousSession s : sessions) pool.submit(s::close);
        }
    }

    private static long countWithEndpoint(TestRendezvous rv) throws Exception {
        return rv.workers().values().stream().filter(w -> ((Map<?, ?>) w).get("stun_reported_udp_port") != null).count();
    }
}
