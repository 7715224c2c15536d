package holepunch.worker;

import com.sun.net.httpserver.HttpServer;
import holepunch.config.Env;
import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.FakeStunServer;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@org.junit.jupiter.api.Tag("slow")
class WorkerEndToEndTest {
    static final HttpClient HTTP = HttpClient.newHttpClient();

    private static Map<String, String> env(TestRendezvous rv, String id, int stunPort, int udpPort) {
        Map<String, String> m = new HashMap<>(Map.of(
                "RENDEZVOUS_SERVICE_URL", rv.base(), "WORKER_ID", id, "STUN_HOST_ENV", "127.0.0.1",
                "STUN_PORT_ENV", String.valueOf(stunPort), "INTERNAL_UDP_PORT_ENV", String.valueOf(udpPort),
                "PORT", "0", "IP_ECHO_URL", "", "STUN_RTO_MS", "100"));
        return m;
    }

    private static String get(String url) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    @Test
    void worker_isListedWithTheMappingOfItsOwnListeningSocket() throws Exception {
        HttpServer echo = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        echo.createContext("/", ex -> {
            byte[] b = "203.0.113.5\n".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        echo.start();
        int udpPort = Ports.freeUdp();
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())))) {
            Map<String, String> e = env(rv, "e2e-worker", rv.server.stunPort(), udpPort);
            e.put("IP_ECHO_URL", "http://127.0.0.1:" + echo.getAddress().getPort() + "/");
            try (Worker w = Worker.start(WorkerConfig.from(new Env(e)))) {
                Await.until(Duration.ofSeconds(20), "worker's endpoint listed",
                        () -> rv.worker("e2e-worker") instanceof Map<String, Object> m && m.get("stun_reported_udp_port") != null);
                Map<String, Object> listed = rv.worker("e2e-worker");
                assertEquals((long) udpPort, listed.get("stun_reported_udp_port"), "the port STUN saw is the listening socket's");
                assertEquals("127.0.0.1", listed.get("stun_reported_udp_ip"));
                assertEquals("none", listed.get("nat_mapping"));
                Await.until(Duration.ofSeconds(10), "HTTP-reported IP", () -> "203.0.113.5".equals(rv.worker("e2e-worker").get("http_reported_public_ip")));

                assertEquals(HealthServer.HEALTH_TEXT, get("http://127.0.0.1:" + w.healthPort() + "/"));
                Await.until(Duration.ofSeconds(10), "ack recorded", () -> "success".equals(w.status().get("last_udp_endpoint_ack")));
                Map<String, Object> status = Json.parseObject(get("http://127.0.0.1:" + w.healthPort() + "/status"));
                assertEquals("e2e-worker", status.get("worker_id"));
                assertEquals((long) udpPort, status.get("udp_local_port"));
                assertEquals(Json.obj("ip", "127.0.0.1", "port", (long) udpPort), status.get("public_endpoint"));
                assertEquals(Boolean.TRUE, status.get("rendezvous_connected"));
                assertEquals(java.util.List.of(), status.get("peers"));
                String metrics = get("http://127.0.0.1:" + w.healthPort() + "/metrics");
                assertTrue(metrics.contains("holepunch_worker_rendezvous_connected 1\n"), metrics);
                assertTrue(metrics.contains("holepunch_worker_stun_transactions_total{outcome=\"success\"}"), metrics);
                assertTrue(metrics.matches("(?s).*holepunch_worker_stun_rtt_seconds [0-9.eE-]+\n.*"), metrics);
                holepunch.metrics.MetricsTest.assertExposition(metrics);
                holepunch.testing.Tools.require("promtool", "prometheus");
                for (String text : java.util.List.of(metrics, rv.get("/metrics").body())) {
                    assertEquals("0 ", holepunch.metrics.MetricsTest.promtool(text), "promtool check metrics");
                }
            }
            Await.until(Duration.ofSeconds(10), "worker gone after close", () -> rv.worker("e2e-worker") == null);
        } finally {
            echo.stop(0);
        }
    }

    @Test
    void worker_reRegistersByItselfWhenTheRendezvousRestarts() throws Exception {
        int httpPort = Ports.freeTcp();
        int stunPort = Ports.freeUdp();
        Map<String, String> rvEnv = Map.of("PORT", String.valueOf(httpPort), "STUN_UDP_PORT", String.valueOf(stunPort));
        TestRendezvous first = new TestRendezvous(rvEnv);
        try (Worker w = Worker.start(WorkerConfig.from(new Env(env(first, "restart-worker", stunPort, 0))))) {
            Await.until(Duration.ofSeconds(20), "registered", () -> first.worker("restart-worker") != null
                    && first.worker("restart-worker").get("stun_reported_udp_port") != null);
            first.close();
            try (TestRendezvous second = new TestRendezvous(rvEnv)) {
                Await.until(Duration.ofSeconds(30), "re-registered with its endpoint after the restart",
                        () -> second.worker("restart-worker") != null
                                && Long.valueOf(w.udpPort()).equals(second.worker("restart-worker").get("stun_reported_udp_port")));
            }
        }
    }

    /**
     * Issue 27: a worker with a fixed WORKER_ID and no WORKER_KEY_FILE, stopped and started again
     * (a new key), is registered again within 2 s; before, its previous key held the id for
     * ID_BINDING_GRACE_SEC (600 s) and every try was refused with 409.
     */
    @Test
    void restartedWorkerWithAFixedIdAndNoKeyFile_isRegisteredAgainWithinTwoSeconds() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())))) {
            Map<String, String> e = env(rv, "fixed-id", rv.server.stunPort(), 0);
            String firstKey;
            try (Worker w = Worker.start(WorkerConfig.from(new Env(e)))) {
                Await.until(Duration.ofSeconds(20), "registered", () -> rv.worker("fixed-id") != null);
                firstKey = (String) rv.worker("fixed-id").get("key_fingerprint");
            }
            Await.until(Duration.ofSeconds(5), "the first session ended", () -> rv.worker("fixed-id") == null);
            long started = System.nanoTime();
            try (Worker again = Worker.start(WorkerConfig.from(new Env(e)))) {
                Await.until(Duration.ofSeconds(2), "registered again within 2 s", () -> rv.worker("fixed-id") != null);
                assertTrue(System.nanoTime() - started < 2_000_000_000L);
                org.junit.jupiter.api.Assertions.assertNotEquals(firstKey, rv.worker("fixed-id").get("key_fingerprint"), "a new key");
                assertEquals(null, again.status().get("rendezvous_refusal"));
            }
        }
    }

    /** A refused upgrade is logged and shown in /status with its status and the server's detail, not as a bare exception. */
    @Test
    void refusedUpgrade_showsItsStatusAndDetailInStatus(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())))) {
            Map<String, String> a = env(rv, "contested", rv.server.stunPort(), 0);
            a.put("WORKER_KEY_FILE", dir.resolve("a.key").toString());
            Map<String, String> b = new HashMap<>(a);
            b.put("WORKER_KEY_FILE", dir.resolve("b.key").toString());
            try (Worker owner = Worker.start(WorkerConfig.from(new Env(a)))) {
                Await.until(Duration.ofSeconds(20), "owner registered", owner::isConnected);
                try (Worker other = Worker.start(WorkerConfig.from(new Env(b)))) {
                    Await.until(Duration.ofSeconds(20), "refusal shown", () -> other.status().get("rendezvous_refusal") != null);
                    @SuppressWarnings("unchecked")
                    Map<String, Object> r = (Map<String, Object>) other.status().get("rendezvous_refusal");
                    assertEquals(409, ((Number) r.get("status")).intValue(), r.toString());
                    assertTrue(String.valueOf(r.get("detail")).contains("bound to another key"), r.toString());
                    assertTrue(owner.isConnected());
                }
            }
        }
    }

    @Test
    void worker_reportsAChangedMappingAtOnceAndKeepsItsEndpointWhileStunIsDown() throws Exception {
        try (FakeStunServer stun = new FakeStunServer(); TestRendezvous rv = new TestRendezvous()) {
            stun.mapping.set(new InetSocketAddress("198.51.100.10", 40000));
            Map<String, String> e = env(rv, "mapping-worker", stun.port(), 0);
            e.put("STUN_REFRESH_SEC", "0.3");
            e.put("STUN_RC", "2");
            e.put("STUN_RM", "2");
            try (Worker w = Worker.start(WorkerConfig.from(new Env(e)))) {
                Await.until(Duration.ofSeconds(20), "first mapping", () -> Long.valueOf(40000).equals(reportedPort(rv, "mapping-worker")));
                stun.mapping.set(new InetSocketAddress("198.51.100.10", 40001));     // the NAT rebinds
                Await.until(Duration.ofSeconds(10), "changed mapping reported",
                        () -> Long.valueOf(40001).equals(reportedPort(rv, "mapping-worker")));
                stun.silent = true;                                                   // the STUN server goes away
                int before = stun.requests.get();
                Await.until(Duration.ofSeconds(10), "retries while down", () -> stun.requests.get() >= before + 6);
                assertEquals(new InetSocketAddress("198.51.100.10", 40001), w.publicEndpoint(), "last endpoint kept");
                assertEquals(40001L, reportedPort(rv, "mapping-worker"));
                stun.mapping.set(new InetSocketAddress("198.51.100.10", 40002));
                stun.silent = false;                                                  // and comes back
                Await.until(Duration.ofSeconds(20), "recovered", () -> Long.valueOf(40002).equals(reportedPort(rv, "mapping-worker")));
            }
        }
    }

    /** The UDP port the rendezvous lists for {@code id}, or null while it is not listed (a worker whose endpoint moved reconnects). */
    private static Object reportedPort(TestRendezvous rv, String id) throws Exception {
        Map<String, Object> w = rv.worker(id);
        return w == null ? null : w.get("stun_reported_udp_port");
    }

    @Test
    void workerProcess_onSigtermClosesWith1000AndExitsZero() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())))) {
            String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Path log = Files.createTempFile("sigterm-worker", ".log");
            ProcessBuilder pb = new ProcessBuilder(javaBin, "-jar", "build/holepunch.jar", "worker").redirectErrorStream(true)
                    .redirectOutput(log.toFile());     // destroy() closes the pipes, so output goes to a file
            pb.environment().putAll(env(rv, "sigterm-worker", rv.server.stunPort(), 0));
            Process p = pb.start();
            try {
                Await.until(Duration.ofSeconds(30), "worker registered", () -> rv.worker("sigterm-worker") != null
                        && rv.worker("sigterm-worker").get("stun_reported_udp_port") != null);
                p.destroy();     // SIGTERM
                assertTrue(p.waitFor(20, TimeUnit.SECONDS), "worker stops within 20 s");
                String out = Files.readString(log);
                assertEquals(0, p.exitValue(), out);
                assertTrue(out.contains("worker stopped"), out);
                Await.until(Duration.ofSeconds(5), "de-registered", () -> rv.worker("sigterm-worker") == null);
            } finally {
                p.destroyForcibly();
                Files.deleteIfExists(log);
            }
        }
    }

    @Test
    void workerProcess_withoutRendezvousUrlFailsWithOneLineNamingIt() throws Exception {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(javaBin, "-jar", "build/holepunch.jar", "worker").redirectErrorStream(true);
        pb.environment().remove("RENDEZVOUS_SERVICE_URL");
        Process p = pb.start();
        assertTrue(p.waitFor(20, TimeUnit.SECONDS));
        // All of the output, read once: exactly one line, and it names the variable.
        java.util.List<String> lines = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        assertEquals(2, p.exitValue());
        assertEquals(1, lines.size(), "one line, got " + lines);
        assertTrue(lines.getFirst().contains("RENDEZVOUS_SERVICE_URL is not set"), lines.getFirst());
    }
}
