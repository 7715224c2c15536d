package holepunch.rendezvous;

import holepunch.log.Log;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.function.LongSupplier;

/**
 * Gives back, after a burst of registrations, the memory the serial collector (run.sh's and the
 * container's) would otherwise keep. Each young collection during a burst promotes what was in
 * flight then (upgrades half done, their buffers), and the serial collector has no idle collection
 * like G1's periodic one (JEP 346): its old generation only grows, into garbage, until it is full.
 * Measured: 4 to 25 KB of RSS per held session after the same 10,000-session burst, depending on
 * how much was in flight at each collection.
 * <p>
 * So, once no session has registered for {@value #QUIET_MILLIS} ms and the old generation holds
 * {@value #GROWTH_BYTES} bytes and half more than after its last full collection, one
 * {@code System.gc()}: a full collection (about 40 ms at 10,000 sessions), at a moment when no
 * registration waits on it, after which the heap shrinks to the live data plus MaxHeapFreeRatio
 * (run.sh starts it small, -Xms32m, so that it can). At most one every {@value #MIN_GAP_MILLIS} ms.
 * Under G1 the periodic collection ({@link HeapPolicy}) does this, concurrently, and ZGC and
 * Shenandoah give memory back by themselves: this runs only with the serial or parallel collector.
 */
final class HeapSettler implements AutoCloseable {
    static final long QUIET_MILLIS = 3000;
    static final long CHECK_MILLIS = 1000;
    static final long GROWTH_BYTES = 8L << 20;
    static final long MIN_GAP_MILLIS = 10_000;

    private final MemoryPoolMXBean old;
    private final LongSupplier registrations;
    private final Log log;
    private long lastCount = -1;
    private long quietSince;
    private long lastRun = Long.MIN_VALUE / 2;
    private Thread thread;

    private HeapSettler(MemoryPoolMXBean old, LongSupplier registrations, Log log) {
        this.old = old;
        this.registrations = registrations;
        this.log = log;
    }

    /**
     * Starts the settler on a daemon thread when the collector is serial or parallel; null when it
     * did not start. {@code registrations}: sessions registered so far.
     */
    static HeapSettler start(LongSupplier registrations, Log log) {
        MemoryPoolMXBean old = oldGeneration();
        if (old == null) return null;
        HeapSettler s = new HeapSettler(old, registrations, log);
        s.thread = Thread.ofPlatform().daemon().name("heap-settler").start(s::run);
        log.info(null, "serial or parallel collector: the heap is collected whole once registrations have been quiet for "
                + QUIET_MILLIS / 1000 + " s after growing (memory back after a burst)");
        return s;
    }

    /** Stops the settler (the server stops). */
    @Override
    public void close() {
        thread.interrupt();
    }

    /** The old generation's pool when the collector is serial or parallel, else null. */
    static MemoryPoolMXBean oldGeneration() {
        boolean ours = false;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            String n = gc.getName();
            if (n.equals("MarkSweepCompact") || n.equals("PS MarkSweep")) ours = true;
        }
        if (!ours) return null;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP && (p.getName().equals("Tenured Gen") || p.getName().equals("PS Old Gen"))) return p;
        }
        return null;
    }

    /**
     * The rule: quiet long enough, the last run long enough ago, and the old generation grown by
     * {@value #GROWTH_BYTES} bytes and by half since its last full collection.
     */
    static boolean due(long oldUsed, long usedAfterLastFull, long quietMillis, long sinceLastRunMillis) {
        return quietMillis >= QUIET_MILLIS && sinceLastRunMillis >= MIN_GAP_MILLIS
                && oldUsed >= GROWTH_BYTES + usedAfterLastFull + usedAfterLastFull / 2;
    }

    private void run() {
        while (true) {
            try {
                Thread.sleep(CHECK_MILLIS);      // a periodic check: there is no event for "nothing happened"
            } catch (InterruptedException e) {
                return;
            }
            try {
                check(System.nanoTime() / 1_000_000);
            } catch (RuntimeException e) {
                log.warn(null, "heap settler: " + e);
            }
        }
    }

    private void check(long now) {
        long count = registrations.getAsLong();
        if (count != lastCount) {
            lastCount = count;
            quietSince = now;
            return;
        }
        long used = old.getUsage().getUsed();
        java.lang.management.MemoryUsage afterFull = old.getCollectionUsage();
        long base = afterFull == null ? 0 : afterFull.getUsed();
        if (!due(used, base, now - quietSince, now - lastRun)) return;
        lastRun = now;
        long t0 = System.nanoTime();
        System.gc();
        long ms = (System.nanoTime() - t0) / 1_000_000;
        log.info(null, "heap: full collection after a burst, old generation " + (used >> 20) + " MB -> "
                + (old.getUsage().getUsed() >> 20) + " MB (" + ms + " ms); committed heap now "
                + (ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted() >> 20) + " MB");
    }
}
