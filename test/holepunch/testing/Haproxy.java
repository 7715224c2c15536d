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

    /**
     * HAProxy balancing over several rendezvous instances ({@code backendPorts}): {@code backend} lines in the
     * backend (balance, health check), {@code server} options on each server line; its CSV statistics at
     * {@code /haproxy-stats;csv}.
     */
    public static Haproxy balancing(java.util.List<Integer> backendPorts, String backend, String server) throws Exception {
        StringBuilder servers = new StringBuilder();
        for (int i = 0; i < backendPorts.size(); i++) {
            servers.append("  server rv").append(i).append(" 127.0.0.1:").append(backendPorts.get(i)).append(' ').append(server).append('\n');
        }
        return new Haproxy(backendPorts.getFirst(), "", "stats enable\n  stats uri /haproxy-stats", server, backend + "\n" + servers);
    }

    /** The state HAProxy's checks give each server ("rv0" to "UP"), from its statistics. */
    public java.util.Map<String, String> serverStates() throws Exception {
        String csv;
        try (java.io.InputStream in = java.net.URI.create("http://127.0.0.1:" + port + "/haproxy-stats;csv").toURL().openStream()) {
            csv = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        for (String line : csv.split("\n")) {
            String[] f = line.split(",");
            if (f.length > 17 && f[0].equals("be") && f[1].startsWith("rv")) out.put(f[1], f[17]);
        }
        return out;
    }

    /** {@code bindOptions} follow the bind address ("ssl crt FILE"), {@code frontend} lines go in the frontend, {@code server} options on the server line. */
    public Haproxy(int backendPort, String bindOptions, String frontend, String server) throws Exception {
        this(backendPort, bindOptions, frontend, server, null);
    }

    private Haproxy(int backendPort, String bindOptions, String frontend, String server, String backendBlock) throws Exception {
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
                """.formatted(port, bindOptions, frontend)
                + (backendBlock != null ? "  " + backendBlock : "  server rv 127.0.0.1:" + backendPort + " " + server + "\n"));
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
