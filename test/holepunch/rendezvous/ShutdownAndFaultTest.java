package holepunch.rendezvous;

import holepunch.testing.Await;
import holepunch.testing.Ports;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The service as a process: SIGTERM closes every session with 1001 and exits 0; a killed worker leaves the list. */
@org.junit.jupiter.api.Tag("slow")
class ShutdownAndFaultTest {
    static void awaitListening(int port) throws Exception {
        Await.until(Duration.ofSeconds(30), "rendezvous listening", () -> {
            try (Socket s = new Socket("127.0.0.1", port)) {
                return true;
            } catch (java.io.IOException e) {
                return false;
            }
        });
    }

    static String javaBin() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    @Test
    void rendezvousProcess_onSigtermClosesSessionsWith1001AndExitsZero() throws Exception {
        int port = Ports.freeTcp();
        Path log = Files.createTempFile("rv-sigterm", ".log");
        ProcessBuilder pb = new ProcessBuilder(javaBin(), "-jar", "build/holepunch.jar", "rendezvous")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(Map.of("PORT", String.valueOf(port), "STUN_UDP_PORT", "0", "BIND_ADDRESS", "127.0.0.1"));
        Process p = pb.start();
        try {
            awaitListening(port);
            try (RawWebSocket a = RawWebSocket.connect(port, "going-away-1"); RawWebSocket b = RawWebSocket.connect(port, "going-away-2")) {
                long t0 = System.nanoTime();
                p.destroy();    // SIGTERM
                assertEquals(1001, a.readClose().closeCode());
                assertEquals(1001, b.readClose().closeCode());
                assertTrue(p.waitFor(10, TimeUnit.SECONDS), "rendezvous stops within 10 s");
                assertEquals(0, p.exitValue(), Files.readString(log));
                assertTrue(System.nanoTime() - t0 < 10_000_000_000L);
            }
        } finally {
            p.destroyForcibly();
            Files.deleteIfExists(log);
        }
    }

    /** Started with SIGINT ignored (a script's background job, nohup ... &), SIGINT still stops it cleanly. */
    @Test
    void rendezvousStartedWithSigintIgnored_stopsCleanlyOnSigint() throws Exception {
        int port = Ports.freeTcp();
        Path log = Files.createTempFile("rv-sigint", ".log");
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", "trap '' INT; exec \"$0\" -jar build/holepunch.jar rendezvous", javaBin())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(Map.of("PORT", String.valueOf(port), "STUN_UDP_PORT", "0", "BIND_ADDRESS", "127.0.0.1"));
        Process p = pb.start();
        try {
            awaitListening(port);
            String ignored = Files.readAllLines(Path.of("/proc/" + p.pid() + "/status")).stream()
                    .filter(l -> l.startsWith("SigIgn:")).findFirst().orElse("");
            try (RawWebSocket a = RawWebSocket.connect(port, "interrupted")) {
                new ProcessBuilder("kill", "-INT", String.valueOf(p.pid())).start().waitFor(5, TimeUnit.SECONDS);
                assertEquals(1001, a.readClose().closeCode(), "sessions are closed as on SIGTERM (" + ignored + ")");
                assertTrue(p.waitFor(10, TimeUnit.SECONDS), "SIGINT stops it");
                assertEquals(0, p.exitValue(), Files.readString(log));
            }
        } finally {
            p.destroyForcibly();
            Files.deleteIfExists(log);
        }
    }

    /**
     * A worker that stops answering without closing its socket (SIGSTOP: the process is frozen,
     * the TCP connection stays up) must be dropped by the ping timeout alone.
     */
    @Test
    void frozenWorker_leavesTheListByThePingTimeout() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("PING_INTERVAL_SEC", "1", "PING_TIMEOUT_SEC", "1"))) {
            ProcessBuilder pb = new ProcessBuilder(javaBin(), "-jar", "build/holepunch.jar", "worker")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
            pb.environment().putAll(Map.of("RENDEZVOUS_SERVICE_URL", rv.base(), "WORKER_ID", "frozen", "STUN_HOST_ENV", "127.0.0.1",
                    "STUN_PORT_ENV", String.valueOf(Ports.freeUdp()), "INTERNAL_UDP_PORT_ENV", "0", "PORT", "0", "IP_ECHO_URL", "",
                    "PING_INTERVAL_SEC", "30", "PING_TIMEOUT_SEC", "30"));
            Process p = pb.start();
            try {
                Await.until(Duration.ofSeconds(30), "worker registered", () -> rv.worker("frozen") != null);
                new ProcessBuilder("kill", "-STOP", String.valueOf(p.pid())).start().waitFor(5, TimeUnit.SECONDS);
                Await.until(Duration.ofSeconds(6), "gone by the ping timeout (interval 1 s + timeout 1 s)", () -> rv.worker("frozen") == null);
                assertTrue(rv.get("/metrics").body().contains("holepunch_closes_total{code=\"1011\"} 1"), "closed as a keepalive timeout (1011)");
                assertTrue(p.isAlive(), "the process was frozen, not gone: the timeout, not a FIN, removed it");
            } finally {
                p.destroyForcibly();
            }
        }
    }

    @Test
    void workerKilledWithSigkill_leavesTheListWithinThePingTimeout() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("PING_INTERVAL_SEC", "1", "PING_TIMEOUT_SEC", "1"))) {
            ProcessBuilder pb = new ProcessBuilder(javaBin(), "-jar", "build/holepunch.jar", "worker")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
            pb.environment().putAll(Map.of("RENDEZVOUS_SERVICE_URL", rv.base(), "WORKER_ID", "doomed", "STUN_HOST_ENV", "127.0.0.1",
                    "STUN_PORT_ENV", String.valueOf(Ports.freeUdp()), "INTERNAL_UDP_PORT_ENV", "0", "PORT", "0", "IP_ECHO_URL", ""));
            Process p = pb.start();
            try {
                Await.until(Duration.ofSeconds(30), "worker registered", () -> rv.worker("doomed") != null);
                p.destroyForcibly();    // SIGKILL: no close frame (the kernel still ends the TCP connection)
                Await.until(Duration.ofSeconds(3), "gone within interval + timeout", () -> rv.worker("doomed") == null);
            } finally {
                p.destroyForcibly();
            }
        }
    }
}
