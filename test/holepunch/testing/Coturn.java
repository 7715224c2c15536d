package holepunch.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's coturn ({@code turnserver}) as a TURN server for tests: on {@code ip} and a free port,
 * with the TURN REST scheme ({@code use-auth-secret}, {@code static-auth-secret}), loopback peers
 * allowed (tests relay between processes of this host). Its log goes to a temporary file;
 * {@link #close} stops it and removes the file.
 */
public final class Coturn implements AutoCloseable {
    public final int port;
    /** The TLS port, or 0 without TLS. */
    public final int tlsPort;
    public final String secret;
    public final Path log;
    private final Process process;

    public Coturn(String ip, String secret, String... extra) throws IOException {
        this(ip, secret, null, null, extra);
    }

    /** With TLS too ({@code turns:} on {@link #tlsPort}), presenting {@code cert} (PEM, with its chain) and {@code key}. */
    public static Coturn withTls(String ip, String secret, java.nio.file.Path cert, java.nio.file.Path key) throws IOException {
        return new Coturn(ip, secret, cert, key);
    }

    private Coturn(String ip, String secret, java.nio.file.Path cert, java.nio.file.Path key, String... extra) throws IOException {
        Tools.require("turnserver", "coturn");
        this.port = Ports.freeUdpAndTcp();
        this.tlsPort = cert == null ? 0 : Ports.freeTcp();
        this.secret = secret;
        this.log = Files.createTempFile("coturn", ".log");
        List<String> cmd = new ArrayList<>(List.of("turnserver", "-n", "--listening-ip", ip, "--relay-ip", ip,
                "--listening-port", String.valueOf(port), "--use-auth-secret", "--static-auth-secret", secret, "--realm", "holepunch.test",
                "--no-cli", "--no-dtls", "--allow-loopback-peers", "--log-file", "stdout", "--simple-log", "--verbose",
                "--pidfile", "/tmp/holepunch-test-coturn-" + port + ".pid"));
        if (cert == null) cmd.add("--no-tls");
        else cmd.addAll(List.of("--tls-listening-port", String.valueOf(tlsPort), "--cert", cert.toString(), "--pkey", key.toString()));
        cmd.addAll(List.of(extra));
        process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    public String url() {
        return "turn:127.0.0.1:" + port;
    }

    public String output() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "";
        }
    }

    /** Stops the server (a test of what happens when it goes away), keeping the log. */
    public void stop() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly();
    }

    @Override
    public void close() throws Exception {
        stop();
        Files.deleteIfExists(log);
    }
}
