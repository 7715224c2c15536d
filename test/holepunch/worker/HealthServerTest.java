package holepunch.worker;

import holepunch.testing.Await;
import holepunch.testing.Ports;
import holepunch.testing.ServiceProcess;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The worker's health port (public on Cloud Run): clients that reset while they are answered must
 * not leave their connections in the JDK server, where, {@link HealthServer#MAX_CONNECTIONS} of
 * them taken, every later client (the platform's health check among them) was turned away.
 */
class HealthServerTest {
    @Test
    void clientsThatResetWhileAnswered_leaveNoConnectionBehind() throws Exception {
        try (HealthServer health = new HealthServer(0, () -> Map.of("worker_id", "w"), () -> "", null)) {
            byte[] twoRequests = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /other HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
            for (int i = 0; i < 300; i++) {
                try (Socket c = new Socket()) {
                    c.connect(new InetSocketAddress("127.0.0.1", health.port()), 5000);
                    c.setSoTimeout(5000);
                    c.getOutputStream().write(twoRequests);
                    c.getInputStream().readNBytes(12);
                    c.setSoLinger(true, 0);      // close with a reset
                } catch (IOException refused) {
                    // turned away: counted below by what is left
                }
            }
            Await.until(Duration.ofSeconds(10), "the reset connections are gone", () -> health.connections() == 0);
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + health.port() + "/"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
        }
    }

    private static int getRoot(int port) throws Exception {
        return HttpClient.newBuilder().connectTimeout(Duration.ofMillis(500)).build().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + port + "/")).timeout(Duration.ofMillis(500)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    /**
     * The real worker process (its server holds 256 connections, and closes one that sends no
     * request within 5 s): one address opening 300 connections that send nothing took every slot
     * for 5 s at a time, and the platform's health check was closed at accept. Now that address
     * keeps 64 and the health check is answered.
     */
    @Test
    @Tag("slow")
    void oneAddressHoldingConnections_doesNotTakeEverySlot() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())))) {
            int port = Ports.freeTcp();
            Path log = Files.createTempFile("health-worker", ".log");
            ProcessBuilder pb = new ProcessBuilder(ServiceProcess.javaBin(), "-jar", "build/holepunch.jar", "worker").redirectErrorStream(true)
                    .redirectOutput(log.toFile());
            pb.environment().putAll(Map.of("RENDEZVOUS_SERVICE_URL", rv.base(), "WORKER_ID", "health-worker", "STUN_HOST_ENV", "127.0.0.1",
                    "STUN_PORT_ENV", String.valueOf(rv.server.stunPort()), "INTERNAL_UDP_PORT_ENV", "0", "PORT", String.valueOf(port),
                    "IP_ECHO_URL", ""));
            Process p = pb.start();
            List<Socket> held = new ArrayList<>();
            try {
                Await.until(Duration.ofSeconds(30), "the worker's health port answering", () -> {
                    try {
                        return getRoot(port) == 200;
                    } catch (IOException e) {
                        return false;
                    }
                });
                for (int i = 0; i < 300; i++) {
                    Socket c = new Socket();
                    c.bind(new InetSocketAddress("127.0.0.2", 0));
                    c.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                    c.setSoTimeout(1);
                    held.add(c);
                }
                // Without the cap the server keeps 256 of them for 5 s (its own timeout) and closes
                // every other connection at accept; with it, that address keeps PER_ADDRESS at once.
                java.util.Set<Socket> ended = new java.util.HashSet<>();
                Await.until(Duration.ofSeconds(3), "the server closing all but " + HealthServer.PER_ADDRESS + " of one address's 300 connections", () -> {
                    for (Socket c : held) {
                        if (ended.contains(c)) continue;
                        try {
                            if (c.getInputStream().read() < 0) ended.add(c);
                        } catch (java.net.SocketTimeoutException e) {
                            // still open
                        } catch (IOException e) {
                            ended.add(c);
                        }
                    }
                    return ended.size() >= 300 - HealthServer.PER_ADDRESS;
                });
                assertEquals(200, getRoot(port), "the health check, from another address");
            } finally {
                for (Socket c : held) c.close();
                p.destroy();
                if (!p.waitFor(20, java.util.concurrent.TimeUnit.SECONDS)) p.destroyForcibly();
                Files.deleteIfExists(log);
            }
        }
    }
}
