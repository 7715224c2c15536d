package holepunch.worker;

import holepunch.config.Env;
import holepunch.json.Json;
import holepunch.stun.StunServer;
import holepunch.testing.Await;
import holepunch.testing.Ports;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our worker against the original Python rendezvous (../shared/anchors/seed_rendezvous.sh): it
 * registers with its STUN endpoint, and a P2P_CONNECT_TO the original never answers (it does not
 * introduce workers) is said once and shown in /status, instead of nothing at all.
 */
@Tag("slow")
class OriginalRendezvousTest {
    @Test
    void ourWorkerRegistersWithTheOriginal_andSaysThatItNeverAnswersIntroductions() throws Exception {
        File script = new File("../shared/anchors/seed_rendezvous.sh");
        assertTrue(script.isFile(), "the original rendezvous's script is not beside this clone: " + script.getAbsolutePath());
        int port = Ports.freeTcp();
        Process original = new ProcessBuilder("bash", script.getPath(), String.valueOf(port)).redirectErrorStream(true)
                .redirectOutput(new File("build/original-rendezvous.log")).start();
        try (HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
             StunServer stun = StunServer.start(new InetSocketAddress("127.0.0.1", 0), 0)) {
            String base = "http://127.0.0.1:" + port;
            Await.until(Duration.ofSeconds(60), "the original rendezvous answers GET /", () -> {
                try {
                    return http.send(HttpRequest.newBuilder(URI.create(base + "/")).build(), HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
                } catch (java.io.IOException notYet) {
                    return false;
                }
            });
            Map<String, String> env = Map.of("RENDEZVOUS_SERVICE_URL", base, "WORKER_ID", "drop-in", "STUN_HOST_ENV", "127.0.0.1",
                    "STUN_PORT_ENV", String.valueOf(stun.port()), "INTERNAL_UDP_PORT_ENV", "0", "PORT", "0", "IP_ECHO_URL", "",
                    "P2P_CONNECT_TO", "nobody-introduces-me");
            try (Worker w = Worker.start(WorkerConfig.from(new Env(env)))) {
                Await.until(Duration.ofSeconds(20), "listed by the original with its STUN endpoint", () -> {
                    String body = http.send(HttpRequest.newBuilder(URI.create(base + "/debug/list_workers")).build(),
                            HttpResponse.BodyHandlers.ofString()).body();
                    Object me = ((Map<?, ?>) Json.parseObject(body).get("workers")).get("drop-in");
                    return me instanceof Map<?, ?> m && Long.valueOf(w.udpPort()).equals(m.get("stun_reported_udp_port"));
                });
                assertEquals("ok", w.status().get("introductions"), "not yet: the question is only just out");
                Await.until(Duration.ofSeconds(25), "the unanswered introduction in /status", () -> w.status().get("introductions") instanceof Map);
                Map<?, ?> intro = (Map<?, ?>) w.status().get("introductions");
                assertEquals(List.of("nobody-introduces-me"), intro.get("unanswered"), intro.toString());
                assertEquals(true, w.isConnected(), "the session to the original stays up");
            }
        } finally {
            original.descendants().forEach(ProcessHandle::destroy);
            original.destroy();
            original.waitFor();
        }
    }
}
