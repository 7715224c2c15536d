package holepunch.worker;

import holepunch.testing.Await;
import holepunch.testing.FakeStunServer;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import holepunch.testing.TestWorkers;
import org.junit.jupiter.api.Test;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Forwarded traffic over the binary WebSocket relay, end to end through two workers whose direct
 * path cannot open (their STUN answer points where nobody listens): a steady stream arrives, the
 * sessions are never closed, and a sender over the budget is held at its own worker while
 * another pair keeps its rate (issue 22).
 */
class RelayDataPlaneTest {
    /** Counts the datagrams that reach it. */
    static final class Sink implements AutoCloseable {
        final DatagramSocket socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
        final AtomicLong count = new AtomicLong();
        private final Thread reader;

        Sink() throws SocketException {
            reader = Thread.ofVirtual().start(() -> {
                DatagramPacket p = new DatagramPacket(new byte[2048], 2048);
                try {
                    while (true) {
                        socket.receive(p);
                        count.incrementAndGet();
                    }
                } catch (Exception closed) {
                    // done
                }
            });
        }

        String address() {
            return "127.0.0.1:" + socket.getLocalPort();
        }

        @Override
        public void close() {
            socket.close();
            reader.interrupt();
        }
    }

    private static Worker worker(TestRendezvous rv, FakeStunServer stun, String id, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("P2P_DEADLINE_MS", "500"));
        env.putAll(extra);
        return TestWorkers.start(rv, stun.port(), id, env);
    }

    /** Sends {@code n} datagrams of 1,200 bytes at {@code perSecond} to the forward at {@code port} (paced by the clock). */
    static void stream(int port, int n, int perSecond) throws Exception {
        try (DatagramSocket app = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            byte[] payload = new byte[1200];
            DatagramPacket p = new DatagramPacket(payload, payload.length, new InetSocketAddress("127.0.0.1", port));
            long start = System.nanoTime();
            for (int i = 0; i < n; i++) {
                long due = start + i * 1_000_000_000L / perSecond;
                long wait = due - System.nanoTime();
                if (wait > 0) LockSupport.parkNanos(wait);
                app.send(p);
            }
        }
    }

    /** Waits until {@code sink} has {@code expected} or has stopped growing for a second (bounded at 15 s). */
    static long settled(Sink sink, long expected) throws Exception {
        long[] last = {-1};
        long[] since = {System.nanoTime()};
        Await.until(Duration.ofSeconds(15), Duration.ofMillis(100), "the stream has settled", () -> {
            long now = sink.count.get();
            if (now != last[0]) {
                last[0] = now;
                since[0] = System.nanoTime();
            }
            return now >= expected || System.nanoTime() - since[0] > 1_000_000_000L;
        });
        return sink.count.get();
    }

    private static void awaitBinaryRelay(Worker w) throws Exception {
        try {
            awaitRelay(w);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; status " + w.status(), e);
        }
    }

    private static void awaitRelay(Worker w) throws Exception {
        Await.until(Duration.ofSeconds(30), "an encrypted path over the binary relay", () -> {
            Map<String, Object> p = TestWorkers.peer(w);
            Object relay = w.status().get("relay");
            return "relay".equals(p.get("state")) && Boolean.TRUE.equals(p.get("encrypted"))
                    && relay instanceof Map<?, ?> r && "binary".equals(r.get("mode"));
        });
    }

    /** A 10 Mbit/s stream (1,000 datagrams/s of 1,200 bytes) for 3 s, with the default budgets and 50 messages/s a session. */
    @Test
    void aSteadyStream_crossesTheRelay_andNoSessionCloses() throws Exception {
        try (FakeStunServer nowhere = new FakeStunServer();
             Sink sink = new Sink();
             TestRendezvous rv = new TestRendezvous(Map.of("MAX_MESSAGES_PER_SEC", "50"))) {
            nowhere.pointNowhere();     // nobody listens there: no direct path
            int forward = Ports.freeUdp();
            try (Worker d = worker(rv, nowhere, "rs-d", Map.of("P2P_ALLOW", "rs-c", "FORWARD_ALLOW", sink.address()));
                 Worker c = worker(rv, nowhere, "rs-c", Map.of("FORWARD", forward + "=rs-d:" + sink.address()))) {
                awaitBinaryRelay(c);
                stream(forward, 3000, 1000);
                long got = settled(sink, 3000);
                assertTrue(got >= 2970, "at most 1 % lost: " + got + " of 3000 arrived");
                for (Worker w : new Worker[] {c, d}) {
                    assertEquals(1, w.metrics().value("holepunch_worker_connect_attempts_total"), "the session was never lost");
                }
                assertEquals(0, c.metrics().value("holepunch_worker_dropped_total", "reason", "relay_budget"));
                assertTrue(rv.get("/metrics").body().contains("holepunch_messages_total{type=\"over_rate\"} 0"), "nobody went over the message rate");
            }
        }
    }

    /** 1,000 datagrams/s against a budget of 100 kB/s a pair: the excess is dropped at the sender's worker, and a pair beside it keeps every datagram. */
    @Test
    void overTheBudget_excessDroppedAtTheWorker_andAnotherPairKeepsItsRate() throws Exception {
        try (FakeStunServer nowhere = new FakeStunServer();
             Sink greedySink = new Sink();
             Sink modestSink = new Sink();
             TestRendezvous rv = new TestRendezvous(Map.of("RELAY_BYTES_PER_SEC", "100000"))) {
            nowhere.pointNowhere();
            int greedyPort = Ports.freeUdp();
            int modestPort = Ports.freeUdp();
            try (Worker d = worker(rv, nowhere, "ob-d", Map.of("P2P_ALLOW", "ob-c", "FORWARD_ALLOW", greedySink.address()));
                 Worker c = worker(rv, nowhere, "ob-c", Map.of("FORWARD", greedyPort + "=ob-d:" + greedySink.address()));
                 Worker f = worker(rv, nowhere, "ob-f", Map.of("P2P_ALLOW", "ob-e", "FORWARD_ALLOW", modestSink.address()));
                 Worker e = worker(rv, nowhere, "ob-e", Map.of("FORWARD", modestPort + "=ob-f:" + modestSink.address()))) {
                awaitBinaryRelay(c);
                awaitBinaryRelay(e);
                long t0 = System.nanoTime();
                Thread modest = Thread.ofVirtual().start(() -> {
                    try {
                        stream(modestPort, 100, 50);                // 60 kB/s, within its budget
                    } catch (Exception ex) {
                        throw new RuntimeException(ex);
                    }
                });
                stream(greedyPort, 2000, 1000);                     // 1.2 MB/s, twelve times its budget
                modest.join(10_000);
                double seconds = (System.nanoTime() - t0) / 1e9;
                long greedy = settled(greedySink, 2000);
                long modestGot = settled(modestSink, 100);
                long droppedAtWorker = c.metrics().value("holepunch_worker_dropped_total", "reason", "relay_budget");
                assertTrue(droppedAtWorker > 1000, "the excess was dropped at the sender's worker: " + droppedAtWorker);
                assertTrue(greedy * 1232 <= 100_000 * (seconds + 2), greedy + " datagrams in " + seconds + " s exceed the budget");
                assertTrue(greedy >= 100, "the budget's worth still arrived: " + greedy);
                assertEquals(100, modestGot, "the pair beside it kept every datagram");
                for (Worker w : new Worker[] {c, d, e, f}) {
                    assertEquals(1, w.metrics().value("holepunch_worker_connect_attempts_total"), "no session was lost");
                }
                String metrics = rv.get("/metrics").body();
                assertTrue(metrics.contains("holepunch_messages_total{type=\"over_rate\"} 0"), "nobody went over the message rate");
            }
        }
    }
}
