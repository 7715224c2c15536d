package holepunch;

import holepunch.testing.Ports;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's first command: the demo starts, goes direct and says so, and a normal start logs no warning. */
@Tag("slow")
class DemoTest {
    static final int RUNS = 3;          // the workers' start order varies from run to run

    @Test
    void demo_goesDirect_andLogsNoWarning() throws Exception {
        for (int run = 0; run < RUNS; run++) {
            String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            ProcessBuilder pb = new ProcessBuilder(javaBin, "-jar", "build/holepunch.jar", "demo").redirectErrorStream(true);
            pb.environment().put("PORT", String.valueOf(Ports.freeTcp()));
            pb.environment().put("STUN_UDP_PORT", String.valueOf(Ports.freeUdp()));
            Path log = java.nio.file.Files.createTempFile("demo", ".log");
            pb.redirectOutput(log.toFile());           // destroy() closes the pipes: the output goes to a file
            Process p = pb.start();
            List<String> lines;
            try {
                holepunch.testing.Await.until(java.time.Duration.ofSeconds(40), "the demo's summary",
                        () -> java.nio.file.Files.readString(log).contains("Press Ctrl-C to stop."));
                p.destroy();
                assertTrue(p.waitFor(20, TimeUnit.SECONDS), "the demo stops on SIGTERM");
                lines = java.nio.file.Files.readAllLines(log);
            } finally {
                p.destroyForcibly();
                java.nio.file.Files.deleteIfExists(log);
            }
            String all = String.join("\n", lines);
            assertTrue(lines.contains("Press Ctrl-C to stop."), all);
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("GET worker demo-worker-1 /status peers:") && l.contains("\"state\":\"direct\"")), all);
            assertTrue(lines.stream().noneMatch(l -> l.contains(" WARNING ") || l.contains(" ERROR ")), "run " + run + " warned:\n" + all);
        }
    }
}
