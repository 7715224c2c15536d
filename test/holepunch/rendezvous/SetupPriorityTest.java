package holepunch.rendezvous;

import holepunch.testing.Await;
import holepunch.testing.ServiceProcess;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * In the real process (read from /proc): connection setup, the HTTP dispatcher and the virtual
 * threads' carriers, runs SETUP_NICE below the session loop, which keeps the default priority;
 * SETUP_NICE=0 leaves every thread as it was.
 */
@Tag("slow")
class SetupPriorityTest {
    /** Thread name (as /proc cuts it, 15 characters) to its nice value. */
    static Map<String, Integer> niceByThread(long pid) throws Exception {
        Map<String, Integer> out = new HashMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                String stat;
                try {
                    stat = Files.readString(t.resolve("stat"));
                } catch (java.nio.file.NoSuchFileException ended) {
                    continue;                      // a thread that ended since the listing
                }
                String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                out.merge(name, Integer.parseInt(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[16]), Math::max);
            }
        }
        return out;
    }

    /** The threads once the service has started them all (the port accepts a little before). */
    static Map<String, Integer> started(ServiceProcess s) throws Exception {
        Await.until(Duration.ofSeconds(20), "the dispatcher and the loop", () -> {
            Map<String, Integer> n = niceByThread(s.process.pid());
            return n.containsKey("HTTP-Dispatcher") && n.containsKey("ws-loop-0");
        });
        return niceByThread(s.process.pid());
    }

    @Test
    void setupThreads_runBelowTheSessionLoop() throws Exception {
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of(), Map.of(), 0)) {
            Map<String, Integer> nice = started(s);
            assertEquals(10, nice.get("HTTP-Dispatcher"), nice.toString());
            assertEquals(10, nice.get("ForkJoinPool-1-"), nice.toString());
            assertEquals(0, nice.get("ws-loop-0"), nice.toString());
            assertTrue(s.output().contains("connection setup runs at nice 10"), s.output());
        }
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of(), Map.of("SETUP_NICE", "0"), 0)) {
            Map<String, Integer> nice = started(s);
            assertEquals(0, nice.get("HTTP-Dispatcher"), nice.toString());
        }
    }
}
