package holepunch.worker;

import holepunch.testing.Await;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
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
}
