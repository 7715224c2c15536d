package holepunch.rendezvous;

import com.sun.management.HotSpotDiagnosticMXBean;
import holepunch.log.Log;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

/**
 * How the rendezvous gives memory back under the JVM's defaults ({@code java -jar}, G1). Each
 * WebSocket upgrade goes through the JDK HttpServer, which leaves about 17 KB of garbage per
 * connection even with this code's own small streams (JFR: its request-line buffer, header
 * parsing and copies); during a burst of registrations G1 grows the heap into that garbage and,
 * by its defaults (MaxHeapFreeRatio 70), keeps it: 26 KB of RSS per held session measured, where
 * the live data is under 5 KB. So, unless the command line says otherwise, the rendezvous sets the
 * three flags HotSpot lets a running program set (they are "manageable"): heap free between 10%
 * and 30% after a collection, and a periodic concurrent collection when idle for
 * {@value #PERIODIC_GC_MILLIS} ms (JEP 346), which shrinks the heap and returns the memory to the
 * system after a burst. Then, with the ratios set, one full collection of the still-empty heap
 * (about 13 ms at start): G1 shrinks its committed heap from the initial size (1/64 of RAM, 384 MB
 * on a 24 GB host) to a few MB, and a first burst's young generation grows from there rather than
 * from the initial size: RSS right after a 10,000-session burst 22.6 KB per held session against
 * 27.7 measured. {@code run.sh} and the container pass their own settings (build/jvm.options) and
 * are left as they are.
 */
final class HeapPolicy {
    static final long PERIODIC_GC_MILLIS = 3000;

    private HeapPolicy() {
    }

    /** Applies the policy and logs what it set, if anything; returns that (empty when the collector is not G1 or the command line set them). */
    static List<String> apply(Log log) {
        List<String> set = apply();
        if (!set.isEmpty()) log.info(null, "JVM defaults (G1): set " + String.join(", ", set) + ", so that the heap stays near its live data");
        return set;
    }

    static List<String> apply() {
        List<String> set = new ArrayList<>();
        try {
            HotSpotDiagnosticMXBean hs = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            if (hs == null || !"true".equals(hs.getVMOption("UseG1GC").getValue())) return set;
            List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
            boolean ratios = args.stream().noneMatch(a -> a.contains("HeapFreeRatio"));
            if (ratios) {
                hs.setVMOption("MinHeapFreeRatio", "10");       // first: the minimum may never exceed the maximum
                hs.setVMOption("MaxHeapFreeRatio", "30");
                set.add("MinHeapFreeRatio=10");
                set.add("MaxHeapFreeRatio=30");
            }
            if (args.stream().noneMatch(a -> a.contains("G1PeriodicGCInterval"))) {
                hs.setVMOption("G1PeriodicGCInterval", Long.toString(PERIODIC_GC_MILLIS));
                set.add("G1PeriodicGCInterval=" + PERIODIC_GC_MILLIS);
            }
            if (ratios) {        // the shrink below follows MaxHeapFreeRatio: only when it is ours
                long before = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
                System.gc();                                    // the start's own garbage only: the heap shrinks to a few MB
                long after = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
                set.add("and collected the empty heap once (committed " + (before >> 20) + " -> " + (after >> 20) + " MB)");
            }
        } catch (RuntimeException | LinkageError e) {
            Log.of("rendezvous").debug(null, "heap policy not applied: " + e);
        }
        return set;
    }
}
