package holepunch;

import holepunch.testing.Ports;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A port that is taken stops the start with exit status 2 and one line naming the port and its variable. */
@Tag("slow")
class StartupFailureTest {
    /** Runs the jar, and returns its exit status and its lines. */
    private static Map.Entry<Integer, List<String>> run(String command, Map<String, String> env) throws Exception {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(javaBin, "-jar", "build/holepunch.jar", command).redirectErrorStream(true);
        pb.environment().keySet().removeIf(k -> k.startsWith("RENDEZVOUS") || k.startsWith("STUN") || k.equals("PORT"));
        pb.environment().putAll(env);
        Process p = pb.start();
        try {
            byte[] out = p.getInputStream().readAllBytes();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "it stops by itself");
            return Map.entry(p.exitValue(), new String(out, StandardCharsets.UTF_8).lines().toList());
        } finally {
            p.destroyForcibly();
        }
    }

    private static void assertNamed(Map.Entry<Integer, List<String>> r, String protocol, int port, String variable) {
        assertEquals(2, r.getKey(), String.join("\n", r.getValue()));
        String last = r.getValue().getLast();
        assertTrue(last.startsWith("holepunch: configuration error: " + protocol + " port " + port + " (" + variable + ") is already in use"), last);
        assertTrue(last.contains("set " + variable + " to a free port"), last);
        assertFalse(r.getValue().stream().anyMatch(l -> l.startsWith("\tat ") || l.contains("Exception")), "no stack trace: " + r.getValue());
    }

    @Test
    void rendezvous_httpPortAndStunPortInUse_nameTheirVariables() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("0.0.0.0", 0));
            assertNamed(run("rendezvous", Map.of("PORT", String.valueOf(taken.getLocalPort()), "STUN_UDP_PORT", "0")),
                    "TCP", taken.getLocalPort(), "PORT");
        }
        try (DatagramSocket taken = new DatagramSocket(new InetSocketAddress("0.0.0.0", 0))) {
            assertNamed(run("rendezvous", Map.of("PORT", String.valueOf(Ports.freeTcp()), "STUN_UDP_PORT", String.valueOf(taken.getLocalPort()),
                    "STUN_OTHER_PORT", "0")), "UDP", taken.getLocalPort(), "STUN_UDP_PORT");
        }
    }

    @Test
    void worker_healthPortAndUdpPortInUse_nameTheirVariables() throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("RENDEZVOUS_SERVICE_URL", "http://127.0.0.1:1", "STUN_HOST_ENV", "127.0.0.1",
                "STUN_PORT_ENV", "1"));
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("0.0.0.0", 0));
            env.put("PORT", String.valueOf(taken.getLocalPort()));
            env.put("INTERNAL_UDP_PORT_ENV", "0");
            assertNamed(run("worker", env), "TCP", taken.getLocalPort(), "PORT");
        }
        try (DatagramSocket taken = new DatagramSocket(new InetSocketAddress("0.0.0.0", 0))) {
            env.put("PORT", "0");
            env.put("INTERNAL_UDP_PORT_ENV", String.valueOf(taken.getLocalPort()));
            assertNamed(run("worker", env), "UDP", taken.getLocalPort(), "INTERNAL_UDP_PORT_ENV");
        }
    }

    /**
     * The open-file soft limit is raised to the hard one at start (HotSpot's MaxFDLimit, as Go's
     * runtime does), and defaults that do not fit the machine are sized to it without a warning.
     */
    @Test
    void rendezvous_raisesItsOpenFileSoftLimit_andSizesDefaultsWithoutAWarning() throws Exception {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = java.nio.file.Files.createTempFile("limits", ".log");
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", "ulimit -Sn 256 && exec \"$0\" -jar build/holepunch.jar rendezvous", javaBin)
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("PORT", String.valueOf(Ports.freeTcp()));
        pb.environment().put("STUN_UDP_PORT", "0");
        Process p = pb.start();
        try {
            holepunch.testing.Await.until(java.time.Duration.ofSeconds(30), "listening",
                    () -> java.nio.file.Files.readString(log).contains("listening on"));
            String limits = java.nio.file.Files.readAllLines(Path.of("/proc/" + p.pid() + "/limits")).stream()
                    .filter(l -> l.startsWith("Max open files")).findFirst().orElseThrow();
            String[] f = limits.substring("Max open files".length()).trim().split("\\s+");
            assertEquals(f[1], f[0], "soft limit raised to the hard one: " + limits);
            String out = java.nio.file.Files.readString(log);
            assertFalse(out.lines().anyMatch(l -> l.contains(" WARNING ") && l.contains("open-file")), out);
            assertTrue(out.contains("(the defaults, sized to it)") || !out.contains("open-file"), out);
        } finally {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            java.nio.file.Files.deleteIfExists(log);
        }
    }
}
