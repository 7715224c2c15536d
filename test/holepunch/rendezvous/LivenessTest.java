package holepunch.rendezvous;

import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.RawWebSocket.Frame;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server pings every PING_INTERVAL_SEC and ends sessions silent for longer than interval + timeout. */
class LivenessTest {

    @Test
    void answeringPings_keepsTheSessionAndSilence_endsIt() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("PING_INTERVAL_SEC", "0.3", "PING_TIMEOUT_SEC", "0.3"));
             RawWebSocket ws = RawWebSocket.connect(rv.port, "live")) {
            for (int i = 0; i < 4; i++) {           // four rounds answered: well past interval + timeout
                Frame ping = ws.read();
                assertEquals(0x9, ping.opcode());
                ws.send(RawWebSocket.frame(0xA, true, ping.payload()));
            }
            assertNotNull(rv.worker("live"), "a session that answers pings stays");
            Frame close = ws.readClose();           // now silent: pings go unanswered
            assertEquals(1011, close.closeCode());
            Await.until(Duration.ofSeconds(5), "silent session removed", () -> rv.worker("live") == null);
        }
    }

    /**
     * Issue 25: sessions that came in a burst got their first ping in one batch per liveness tick,
     * and a client holding them all (one node process in the issue) answered thousands of pongs at
     * once while its other replies waited: every echo it had in flight stalled 120-280 ms. The first
     * pings of 80 sessions upgraded together must come spread out: no 50 ms holds more than 15 % of
     * them (before: all in one or two ticks).
     */
    @Test
    void firstPingsOfABurst_comeSpreadOut_notInOneBatch() throws Exception {
        int n = 80;
        List<RawWebSocket> sessions = new ArrayList<>();
        try (TestRendezvous rv = new TestRendezvous(Map.of("PING_INTERVAL_SEC", "2", "PING_TIMEOUT_SEC", "2"));
             var readers = Executors.newVirtualThreadPerTaskExecutor()) {
            try {
                for (int i = 0; i < n; i++) sessions.add(RawWebSocket.connect(rv.port, "burst-" + i));
                List<Future<Long>> arrivals = new ArrayList<>();
                for (RawWebSocket ws : sessions) {
                    ws.socket.setSoTimeout(10_000);
                    arrivals.add(readers.submit(() -> {
                        Frame ping = ws.read();
                        assertEquals(0x9, ping.opcode(), "the first frame is the server's ping");
                        return System.nanoTime();
                    }));
                }
                long[] at = new long[n];
                for (int i = 0; i < n; i++) at[i] = arrivals.get(i).get(15, TimeUnit.SECONDS);
                Arrays.sort(at);
                int most = 0;
                for (int i = 0, j = 0; i < n; i++) {
                    while (at[i] - at[j] > 50_000_000L) j++;
                    most = Math.max(most, i - j + 1);
                }
                assertTrue(most <= n * 15 / 100, most + " of " + n + " first pings within 50 ms; spread over "
                        + (at[n - 1] - at[0]) / 1_000_000 + " ms");
            } finally {
                for (RawWebSocket ws : sessions) ws.close();
            }
        }
    }

    /**
     * Issue 25, with the node client: every session's first ping came 1-11 s after its upgrade, so right after
     * a burst the client answered hundreds of pongs a second while its echoes waited (the original's server pings
     * only at its interval). A session of the original's protocol now gets its first ping in the second half of the
     * interval; a holepunch worker's (it proves a key) still gets one early, so that its RTT is known for
     * introductions. With a 6 s interval: 20 keyless sessions, none pinged before 3 s (before: 1 + 0-5 s, so about
     * 8 of 20 were); 20 workers, some pinged before 3 s.
     */
    @Test
    void firstPing_comesEarlyForHolepunchWorkers_andInTheIntervalsSecondHalfForOthers() throws Exception {
        int n = 20;
        List<RawWebSocket> sessions = new ArrayList<>();
        try (TestRendezvous rv = new TestRendezvous(Map.of("PING_INTERVAL_SEC", "6", "PING_TIMEOUT_SEC", "6"));
             var readers = Executors.newVirtualThreadPerTaskExecutor()) {
            try {
                List<Future<Long>> keyless = new ArrayList<>(), workers = new ArrayList<>();
                for (int i = 0; i < 2 * n; i++) {
                    boolean worker = i % 2 == 1;
                    long t0 = System.nanoTime();
                    RawWebSocket ws = worker ? RawWebSocket.connectKeyed(rv.port, "w-" + i, holepunch.crypto.Identity.generate())
                            : RawWebSocket.connect(rv.port, "plain-" + i);
                    sessions.add(ws);
                    ws.socket.setSoTimeout(15_000);
                    (worker ? workers : keyless).add(readers.submit(() -> {
                        Frame ping = ws.read();
                        assertEquals(0x9, ping.opcode(), "the first frame is the server's ping");
                        return (System.nanoTime() - t0) / 1_000_000;
                    }));
                }
                List<Long> plainMs = new ArrayList<>(), workerMs = new ArrayList<>();
                for (Future<Long> f : keyless) plainMs.add(f.get(20, TimeUnit.SECONDS));
                for (Future<Long> f : workers) workerMs.add(f.get(20, TimeUnit.SECONDS));
                assertTrue(plainMs.stream().allMatch(ms -> ms >= 2_900), "keyless sessions' first pings (ms): " + plainMs);
                assertTrue(workerMs.stream().anyMatch(ms -> ms < 2_900), "workers' first pings (ms): " + workerMs);
            } finally {
                for (RawWebSocket ws : sessions) ws.close();
            }
        }
    }
}
