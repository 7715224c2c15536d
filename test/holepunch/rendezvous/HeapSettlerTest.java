package holepunch.rendezvous;

import holepunch.bench.WsLoad;
import holepunch.testing.Await;
import holepunch.testing.ServiceProcess;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The serial collector's heap is collected whole after a burst, once registrations are quiet, and shrinks. */
class HeapSettlerTest {
    static final long MB = 1 << 20;

    @Test
    void due_onlyWhenQuiet_grownByHalfAndAFloor_andNotTooSoonAgain() {
        long q = HeapSettler.QUIET_MILLIS, gap = HeapSettler.MIN_GAP_MILLIS, floor = HeapSettler.GROWTH_BYTES;
        assertTrue(HeapSettler.due(floor, 0, q, gap), "grown from nothing by the floor");
        assertFalse(HeapSettler.due(floor - 1, 0, q, gap), "less than the floor");
        assertFalse(HeapSettler.due(floor, 0, q - 1, gap), "registrations not quiet long enough");
        assertFalse(HeapSettler.due(floor, 0, q, gap - 1), "the last run too recent");
        assertTrue(HeapSettler.due(floor + 60 * MB, 40 * MB, q, gap), "40 MB live, grown by half plus the floor");
        assertFalse(HeapSettler.due(floor + 60 * MB - 1, 40 * MB, q, gap));
    }

    @Test
    @Tag("slow")
    void afterABurst_theHeapIsCollectedWhole_andShrinks_onlyUnderTheSerialCollector() throws Exception {
        List<String> serial = List.of("-XX:+UseSerialGC", "-Xlog:gc", "-Xms16m", "-Xmn4m", "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=30",
                "-XX:-ShrinkHeapInSteps");
        try (ServiceProcess s = ServiceProcess.rendezvous(serial, Map.of(), 0)) {
            for (int wave = 0; wave < 25; wave++) {             // 300 at a time: within a default open-file limit of 1024
                try (WsLoad burst = new WsLoad(new InetSocketAddress("127.0.0.1", s.port))) {
                    burst.register(300, 32, "settle-" + wave + "-", 60_000_000_000L);
                    burst.echo(32, 0.3);                        // held through young collections: promoted
                }                                               // the sessions end: their memory is garbage now
            }
            Pattern line = Pattern.compile("heap: full collection after a burst, old generation (\\d+) MB -> (\\d+) MB \\(\\d+ ms\\); committed heap now (\\d+) MB");
            try {
                Await.until(Duration.ofSeconds(30), Duration.ofMillis(200), "the settler's full collection", () -> line.matcher(s.output()).find());
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\n" + s.output().lines().filter(l -> l.contains("heap") || l.contains("gc")).toList(), e);
            }
            Matcher m = line.matcher(s.output());
            assertTrue(m.find());
            System.out.println("HeapSettlerTest: " + m.group());
            long before = Long.parseLong(m.group(1)), after = Long.parseLong(m.group(2)), committed = Long.parseLong(m.group(3));
            assertTrue(before >= HeapSettler.GROWTH_BYTES / MB && after < before / 2, s.output());
            assertTrue(committed < 40, "the heap gave its memory back: " + committed + " MB committed");
        }
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of("-XX:+UseG1GC"), Map.of(), 0)) {
            assertFalse(s.output().contains("serial or parallel collector"), "G1 collects periodically by itself: " + s.output());
        }
    }
}
