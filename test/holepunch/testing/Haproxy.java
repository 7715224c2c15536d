package holepunch.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Debian's HAProxy in front of a rendezvous on loopback, for the tests of what a load balancer
 * changes: one HTTP frontend (the {@code bind} line's options given) to one backend server. Stopped,
 * and its configuration removed, on close.
 */
public final class Haproxy implements AutoCloseable {
    public final int port;
    private final Process process;
    private final Path config;

    /** {@code bindOptions} follow the bind address ("ssl crt FILE"), {@code frontend} lines go in the frontend, {@code server} options on the server line. */
    public Haproxy(int backendPort, String bindOptions, String frontend, String server) throws Exception {
        Tools.require("haproxy", "haproxy");
        port = Ports.freeTcp();
        config = Files.createTempFile("haproxy", ".cfg");
        Files.writeString(config, """
                global
                  maxconn 200
                defaults
                  mode http
                  timeout connect 5s
                  timeout client 60s
                  timeout server 60s
                  timeout tunnel 60s
                frontend fe
                  bind 127.0.0.1:%d %s
                  %s
                  default_backend be
                backend be
                  server rv 127.0.0.1:%d %s
                """.formatted(port, bindOptions, frontend, backendPort, server));
        process = new ProcessBuilder("haproxy", "-db", "-f", config.toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        Await.until(Duration.ofSeconds(10), "haproxy listening", () -> {
            try (java.net.Socket s = new java.net.Socket("127.0.0.1", port)) {
                return true;
            } catch (java.io.IOException notYet) {
                return false;
            }
        });
    }

    @Override
    public void close() throws Exception {
        process.destroy();
        process.waitFor();
        Files.deleteIfExists(config);
    }
}
