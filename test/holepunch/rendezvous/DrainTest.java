package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.Haproxy;
import holepunch.testing.RawWebSocket;
import holepunch.testing.ServiceProcess;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SIGTERM drains (README: Deploying): not ready first while still serving, then sessions closed a few at a time. */
@Tag("slow")
class DrainTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static int status(int port, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    @Test
    void onSigterm_readinessGoesFirst_sessionsAreServedThenClosedSpreadOut_andLateUpgradesAreToldToGoElsewhere() throws Exception {
        try (ServiceProcess rv = ServiceProcess.rendezvous(List.of(), Map.of("DRAIN_SEC", "1.5", "DRAIN_CLOSE_SEC", "1"), 0)) {
            assertEquals(200, status(rv.port, "/ready"));
            List<RawWebSocket> sessions = new ArrayList<>();
            for (int i = 0; i < 10; i++) sessions.add(RawWebSocket.connect(rv.port, "drain-" + i));
            long t0 = System.nanoTime();
            rv.process.destroy();                                                   // SIGTERM
            Await.until(Duration.ofSeconds(1), Duration.ofMillis(20), "/ready answers 503", () -> status(rv.port, "/ready") == 503);
            assertEquals(200, status(rv.port, "/"), "GET / answers as the original throughout");
            RawWebSocket late = RawWebSocket.connect(rv.port, "drain-late");          // still served while draining
            sessions.getFirst().sendText("{\"type\": \"echo_request\", \"payload\": \"still here\"}");
            assertEquals("echo_response", Json.parseObject(sessions.getFirst().readSkippingPings().text()).get("type"));
            long[] closedAt = new long[sessions.size()];
            List<Thread> readers = new ArrayList<>();
            for (int i = 0; i < sessions.size(); i++) {
                int n = i;
                readers.add(Thread.ofVirtual().start(() -> {
                    try {
                        int code = sessions.get(n).readClose().closeCode();
                        closedAt[n] = code == 1001 ? (System.nanoTime() - t0) / 1_000_000 : -code;
                    } catch (IOException e) {
                        closedAt[n] = -1;
                    }
                }));
            }
            Await.until(Duration.ofSeconds(5), Duration.ofMillis(5), "a first session closed", () -> java.util.Arrays.stream(closedAt).anyMatch(t -> t != 0));
            IOException refused = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> RawWebSocket.connect(rv.port, "drain-too-late"));
            assertTrue(refused.getMessage().contains("503") && refused.getMessage().toLowerCase(java.util.Locale.ROOT).contains("retry-after: 1"),
                    refused.getMessage());
            for (Thread t : readers) t.join(10_000);
            assertEquals(1001, late.readClose().closeCode());
            java.util.Arrays.sort(closedAt);
            assertTrue(closedAt[0] >= 1400, "no session closed before DRAIN_SEC: " + java.util.Arrays.toString(closedAt));
            assertTrue(closedAt[closedAt.length - 1] - closedAt[0] >= 500, "closes spread over DRAIN_CLOSE_SEC: " + java.util.Arrays.toString(closedAt));
            assertTrue(rv.process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(0, rv.process.exitValue(), rv.output());
            assertTrue(rv.output().contains("SIGTERM: draining"), rv.output());
            for (RawWebSocket s : sessions) s.close();
        }
    }

    /**
     * A rolling SIGTERM restart of two instances behind HAProxy that never retries (retries 0, no redispatch),
     * with /ready as its health check: no upgrade fails, and every session that was closed comes back.
     */
    @Test
    void aRollingRestartBehindABalancerWithoutRetries_failsNoUpgrade() throws Exception {
        Map<String, String> env = Map.of("DRAIN_SEC", "1.5", "DRAIN_CLOSE_SEC", "1");
        ServiceProcess[] rv = {ServiceProcess.rendezvous(List.of(), env, 0), ServiceProcess.rendezvous(List.of(), env, 0)};
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger tries = new AtomicInteger(), reconnected = new AtomicInteger();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        List<Thread> clients = new ArrayList<>();
        try (Haproxy lb = Haproxy.balancing(List.of(rv[0].port, rv[1].port),
                "balance leastconn\n  option httpchk GET /ready\n  http-check expect status 200\n  retries 0\n  timeout check 2s",
                "check inter 200ms fall 1 rise 1")) {
            Await.until(Duration.ofSeconds(10), "both instances up behind the balancer",
                    () -> lb.serverStates().values().stream().filter("UP"::equals).count() == 2);
            for (int c = 0; c < 8; c++) {                    // long-lived sessions that reconnect when closed
                int n = c;
                clients.add(Thread.ofVirtual().start(() -> {
                    try {
                        while (running.get()) {
                            try (RawWebSocket s = RawWebSocket.connect(lb.port, "held-" + n)) {
                                tries.incrementAndGet();
                                int code = s.readClose().closeCode();
                                if (code != 1001) failures.add("held-" + n + " closed with " + code);
                                else reconnected.incrementAndGet();
                            } catch (IOException e) {
                                if (running.get()) failures.add("held-" + n + ": " + e.getMessage());
                            }
                        }
                    } catch (RuntimeException e) {
                        failures.add(e.toString());
                    }
                }));
            }
            clients.add(Thread.ofVirtual().start(() -> {    // new sessions, one after another, all through the restarts
                int i = 0;
                while (running.get()) {
                    try (RawWebSocket s = RawWebSocket.connect(lb.port, "fresh-" + i++)) {
                        tries.incrementAndGet();
                        s.sendText("{\"type\": \"echo_request\", \"payload\": 1}");
                        String reply = s.readSkippingPings().text();
                        if (!reply.contains("echo_response")) failures.add("fresh: " + reply);
                    } catch (IOException e) {
                        String states;
                        try {
                            states = String.valueOf(lb.serverStates());
                        } catch (Exception x) {
                            states = x.toString();
                        }
                        failures.add("fresh-" + i + " (balancer's servers " + states + "): " + e.getMessage().lines().findFirst().orElse(""));
                    }
                }
            }));
            for (int k = 0; k < rv.length; k++) {
                int port = rv[k].port;
                assertEquals(0, rv[k].terminate(20), rv[k].output());
                rv[k].close();
                rv[k] = ServiceProcess.rendezvous(List.of(), env, 0, port);      // back in place
                String name = "rv" + k;
                Await.until(Duration.ofSeconds(10), name + " up again", () -> "UP".equals(lb.serverStates().get(name)));
            }
            running.set(false);
            assertEquals(List.of(), List.copyOf(failures), "no upgrade failed through the restarts");
            assertTrue(reconnected.get() >= 8, "the held sessions were closed by the drains and came back: " + reconnected.get());
            assertTrue(tries.get() > 30, "upgrades tried: " + tries.get());
            System.out.println("DrainTest: " + tries.get() + " upgrades through a rolling restart, none failed; " + reconnected.get()
                    + " sessions moved");
        } finally {
            running.set(false);
            for (ServiceProcess s : rv) s.close();
            for (Thread t : clients) t.join(15_000);
        }
    }
}
