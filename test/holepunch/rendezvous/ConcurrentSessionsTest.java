package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ConcurrentSessionsTest {
    static final int SESSIONS = 1000;

    @Test
    void thousandSessionsRegisteringAtOnce_areAllListedThenAllRemoved() throws Exception {
        try (TestRendezvous rv = new TestRendezvous();
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<RawWebSocket>> futures = new ArrayList<>();
            for (int i = 0; i < SESSIONS; i++) {
                int n = i;
                futures.add(pool.submit(() -> {
                    RawWebSocket ws = RawWebSocket.connect(rv.port, "many-" + n);
                    ws.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "10.0.0.1", "udp_port", 1000 + n)));
                    assertEquals("success", Json.parseObject(ws.readSkippingPings().text()).get("status"));
                    return ws;
                }));
            }
            List<RawWebSocket> clients = new ArrayList<>();
            for (Future<RawWebSocket> f : futures) clients.add(f.get(60, TimeUnit.SECONDS));
            Map<String, Object> workers = rv.workers();
            assertEquals(SESSIONS, workers.size());
            for (int i = 0; i < SESSIONS; i++) {
                @SuppressWarnings("unchecked") Map<String, Object> w = (Map<String, Object>) workers.get("many-" + i);
                assertEquals((long) (1000 + i), w.get("stun_reported_udp_port"));
            }
            for (RawWebSocket ws : clients) ws.close();
            Await.until(Duration.ofSeconds(20), "all sessions removed", () -> rv.server.sessionCount() == 0);
            assertEquals(0, rv.workers().size());
        }
    }
}
