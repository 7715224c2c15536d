package holepunch.redis;

import holepunch.testing.RedisServer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The client against a real redis-server. */
@org.junit.jupiter.api.Tag("slow")
class RedisClientTest {

    @Test
    void pipelinedCommands_areAnsweredInOrder_andAnErrorStaysInItsPlace() throws Exception {
        try (RedisServer redis = new RedisServer(); RedisClient c = new RedisClient(RedisUrl.parse(redis.url()), 2000)) {
            assertEquals(new Resp.Simple("PONG"), c.call("PING"));
            List<List<String>> cmds = new ArrayList<>();
            for (int i = 0; i < 100; i++) cmds.add(List.of("RPUSH", "l", "v" + i));
            cmds.add(List.of("INCR", "l"));   // wrong type: an error reply in place
            cmds.add(List.of("LRANGE", "l", "98", "-1"));
            List<Resp.Value> r = c.pipeline(cmds);
            assertEquals(102, r.size());
            assertEquals(new Resp.Int(100), r.get(99));
            assertTrue(((Resp.Error) r.get(100)).message().startsWith("WRONGTYPE"), r.get(100).toString());
            List<Resp.Value> tail = ((Resp.Array) r.get(101)).items();
            assertEquals("v99", ((Resp.Bulk) tail.get(1)).text());
            assertEquals(new Resp.Simple("PONG"), c.call("PING"), "the connection is still in step after the error");
            RedisClient.RedisException e = assertThrows(RedisClient.RedisException.class, () -> c.call("NOSUCHCOMMAND"));
            assertTrue(e.getMessage().contains("unknown command"), e.getMessage());
        }
    }

    @Test
    void authAndSelect_followTheUrl() throws Exception {
        try (RedisServer redis = new RedisServer("--requirepass", "pw1")) {
            try (RedisClient wrong = new RedisClient(RedisUrl.parse("redis://:nope@127.0.0.1:" + redis.port), 2000)) {
                IOException e = assertThrows(IOException.class, () -> wrong.call("PING"));
                assertTrue(e.getMessage().contains("refused the connection setup"), e.getMessage());
            }
            try (RedisClient a = new RedisClient(RedisUrl.parse("redis://:pw1@127.0.0.1:" + redis.port + "/3"), 2000);
                 RedisClient b = new RedisClient(RedisUrl.parse("redis://default:pw1@127.0.0.1:" + redis.port + "/0"), 2000)) {
                a.call("SET", "k", "in-db-3");
                assertEquals("in-db-3", ((Resp.Bulk) a.call("GET", "k")).text());
                assertNull(((Resp.Bulk) b.call("GET", "k")).bytes(), "db 0 does not see db 3's key");
            }
        }
    }

    @Test
    void rediss_trustsTheCaFile_checksTheHostName_andRefusesAnUnknownCa() throws Exception {
        holepunch.testing.Tools.require("openssl", "openssl");
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("hp-tls");
        try {
            java.nio.file.Path cert = dir.resolve("cert.pem"), key = dir.resolve("key.pem"), other = dir.resolve("other.pem");
            for (java.nio.file.Path c : List.of(cert, other)) {
                holepunch.testing.Tools.run(30, List.of("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", (c == cert ? key : dir.resolve("other-key.pem")).toString(), "-out", c.toString()));
            }
            int port = holepunch.testing.Ports.freeTcp();
            try (RedisServer redis = new RedisServer(port, "--port", "0", "--tls-port", Integer.toString(port), "--tls-cert-file", cert.toString(),
                    "--tls-key-file", key.toString(), "--tls-auth-clients", "no")) {
                try (RedisClient c = new RedisClient(RedisUrl.parse("rediss://localhost:" + port), 2000, RedisTls.trusting(cert))) {
                    assertEquals(new Resp.Simple("PONG"), c.call("PING"));
                }
                try (RedisClient byIp = new RedisClient(RedisUrl.parse("rediss://127.0.0.1:" + port), 2000, RedisTls.trusting(cert))) {
                    assertThrows(javax.net.ssl.SSLException.class, () -> byIp.call("PING"), "the certificate does not name 127.0.0.1");
                }
                try (RedisClient wrongCa = new RedisClient(RedisUrl.parse("rediss://localhost:" + port), 2000, RedisTls.trusting(other))) {
                    assertThrows(javax.net.ssl.SSLException.class, () -> wrongCa.call("PING"));
                }
                try (RedisClient jdkDefaults = new RedisClient(RedisUrl.parse("rediss://localhost:" + port), 2000)) {
                    assertThrows(javax.net.ssl.SSLException.class, () -> jdkDefaults.call("PING"), "a self-signed certificate is not trusted by default");
                }
            }
            assertThrows(IllegalArgumentException.class, () -> RedisTls.trusting(key), "a key is not a certificate");
        } finally {
            try (var files = java.nio.file.Files.list(dir)) {
                for (java.nio.file.Path p : (Iterable<java.nio.file.Path>) files::iterator) java.nio.file.Files.deleteIfExists(p);
            }
            java.nio.file.Files.deleteIfExists(dir);
        }
    }

    @Test
    void aServerThatNeverAnswers_costsOneTimeout() throws Exception {
        try (ServerSocket silent = new ServerSocket(0);
             RedisClient c = new RedisClient(RedisUrl.parse("redis://127.0.0.1:" + silent.getLocalPort()), 300)) {
            Thread accept = Thread.ofVirtual().start(() -> {
                try (Socket s = silent.accept()) {
                    s.getInputStream().readAllBytes();   // reads, never answers
                } catch (IOException ignored) {
                    // the client hung up
                }
            });
            long t0 = System.nanoTime();
            assertThrows(SocketTimeoutException.class, () -> c.call("PING"));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms >= 250 && ms < 3000, "gave up after " + ms + " ms");
            c.close();
            accept.join(5000);
        }
    }

    @Test
    void redisRestarted_theClientBacksOffThenReconnects() throws Exception {
        try (RedisServer redis = new RedisServer(); RedisClient c = new RedisClient(RedisUrl.parse(redis.url()), 1000)) {
            c.call("SET", "k", "1");
            redis.kill();
            assertThrows(IOException.class, () -> c.call("GET", "k"), "the broken connection fails the call");
            IOException early = assertThrows(IOException.class, () -> c.call("GET", "k"));
            assertTrue(early.getMessage().contains("next attempt in"), "backing off: " + early.getMessage());
            redis.start();
            Resp.Value v = null;
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (v == null && System.nanoTime() < deadline) {
                try {
                    v = c.call("GET", "k");
                } catch (IOException backingOff) {
                    Thread.sleep(50);   // the backoff is the client's own; poll past it
                }
            }
            assertNotNull(v, "reconnected within 10 s");
            assertNull(((Resp.Bulk) v).bytes(), "a restarted redis without persistence is empty");
        }
    }
}
