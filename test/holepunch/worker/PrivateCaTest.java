package holepunch.worker;

import holepunch.config.ConfigException;
import holepunch.config.Env;
import holepunch.testing.Await;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import holepunch.testing.Tools;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 27: a worker behind wss with a private CA (Debian's HAProxy terminating TLS with a
 * certificate from a CA made here by openssl) connects with RENDEZVOUS_CA_FILE, does not without
 * it, and a file that is no certificate stops the start naming the variable.
 */
@Tag("slow")
class PrivateCaTest {
    @Test
    void wssWithAPrivateCa_connectsWithRendezvousCaFile_andNotWithout(@TempDir Path dir) throws Exception {
        Tools.require("openssl", "openssl");
        String ec = "ec_paramgen_curve:prime256v1";
        Tools.run(30, List.of("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", dir + "/ca.key",
                "-out", dir + "/ca.pem", "-days", "2", "-subj", "/CN=holepunch test CA"));
        Tools.run(30, List.of("openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", dir + "/srv.key",
                "-out", dir + "/srv.csr", "-subj", "/CN=127.0.0.1"));
        Files.writeString(dir.resolve("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
        Tools.run(30, List.of("openssl", "x509", "-req", "-in", dir + "/srv.csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key",
                "-CAcreateserial", "-out", dir + "/srv.crt", "-days", "2", "-extfile", dir + "/ext.cnf"));
        Files.writeString(dir.resolve("srv.pem"), Files.readString(dir.resolve("srv.crt")) + Files.readString(dir.resolve("srv.key")));
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())))) {
            try (holepunch.testing.Haproxy haproxy = new holepunch.testing.Haproxy(rv.port, "ssl crt " + dir.resolve("srv.pem"), "", "")) {
                int front = haproxy.port;
                Map<String, String> env = new HashMap<>(Map.of("RENDEZVOUS_SERVICE_URL", "https://127.0.0.1:" + front, "WORKER_ID", "behind-tls",
                        "STUN_HOST_ENV", "127.0.0.1", "STUN_PORT_ENV", String.valueOf(rv.server.stunPort()), "INTERNAL_UDP_PORT_ENV", "0",
                        "PORT", "0", "IP_ECHO_URL", ""));
                try (Worker without = Worker.start(WorkerConfig.from(new Env(env)))) {
                    Await.until(Duration.ofSeconds(20), "two refused tries", () -> without.metrics()
                            .value("holepunch_worker_connect_attempts_total") >= 2);
                    assertFalse(without.isConnected(), "the private CA is not trusted without RENDEZVOUS_CA_FILE");
                }
                env.put("RENDEZVOUS_CA_FILE", dir.resolve("ca.pem").toString());
                try (Worker with = Worker.start(WorkerConfig.from(new Env(env)))) {
                    Await.until(Duration.ofSeconds(20), "connected over wss", with::isConnected);
                    Await.until(Duration.ofSeconds(10), "registered", () -> rv.worker("behind-tls") != null);
                }
            }
        }
        Files.writeString(dir.resolve("junk.pem"), "not a certificate\n");
        for (String bad : List.of(dir.resolve("junk.pem").toString(), dir.resolve("missing.pem").toString())) {
            ConfigException e = assertThrows(ConfigException.class, () -> WorkerConfig.from(new Env(Map.of(
                    "RENDEZVOUS_SERVICE_URL", "https://127.0.0.1:1", "RENDEZVOUS_CA_FILE", bad))));
            assertTrue(e.getMessage().startsWith("RENDEZVOUS_CA_FILE"), e.getMessage());
        }
    }
}
