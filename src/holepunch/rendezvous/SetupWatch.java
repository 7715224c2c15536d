package holepunch.rendezvous;

import holepunch.log.Log;
import holepunch.metrics.Metrics;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Says so when connection setup, lowered below the session loops ({@link SetupPriority}), is
 * starved of CPU. Under SCHED_IDLE it runs only on time that every other thread of the host
 * leaves, other processes' included, and a connection's setup is a chain of wake-ups (the
 * dispatcher, a carrier, the I/O poller, back): measured on 2 cores with 8 busy processes beside
 * it, each wake-up of a setup thread waits 15-70 ms for a CPU (0.1 ms on an idle host) and a plain
 * {@code GET /} takes 1-4 s (16-46 ms at nice 10). So once a second two threads at setup's
 * priority hand a turn back and forth, {@value #HOPS} wake-ups in all, timed by a thread at the
 * loops' priority, which counts each further second they take as one more late measurement
 * (single measurements vary with the scheduler's placement: 0.05 ms to 3 s on that host);
 * {@value #WARN_AFTER} of the last {@value #WINDOW} over {@value #WARN_MILLIS} ms give one
 * warning line per spell, at most one per {@value #REPEAT_MINUTES} minutes, naming the cause and
 * SETUP_NICE; the spell ends with {@value #WINDOW} timely measurements in a row. The last
 * measurement is the {@code holepunch_setup_cpu_wait_seconds} gauge.
 */
final class SetupWatch implements AutoCloseable {
    static final long CHECK_MILLIS = 1000;
    static final int HOPS = 10;
    static final long WARN_MILLIS = 100;
    static final int WARN_AFTER = 3;
    static final int WINDOW = 5;
    static final long REPEAT_MINUTES = 10;

    private final String priority;
    private int recent;                      // one bit per measurement, the newest lowest: over WARN_MILLIS
    private boolean spell;                   // said for this spell of late measurements
    private long warnedAt;
    private boolean warned;
    private volatile long lastWaitNanos;
    private final Thread[] hoppers = new Thread[2];
    private volatile Thread judge;
    private volatile int hop;                // 0 between measurements; 1..HOPS: the hop in flight; HOPS + 1: done

    /** {@code priority}: how setup was lowered, as {@link SetupPriority#lowered()} says it. */
    SetupWatch(String priority) {
        this.priority = priority;
    }

    /** The last measured time for {@link #HOPS} wake-ups, in seconds. */
    double lastWaitSeconds() {
        return lastWaitNanos / 1e9;
    }

    /** Takes one measurement; returns the line to log (one per starved spell, at most one per REPEAT_MINUTES), or null. */
    String observe(long waitNanos, long nowNanos) {
        lastWaitNanos = waitNanos;
        recent = (recent << 1 | (waitNanos > TimeUnit.MILLISECONDS.toNanos(WARN_MILLIS) ? 1 : 0)) & ((1 << WINDOW) - 1);
        int late = Integer.bitCount(recent);
        if (late == 0) spell = false;
        if (late < WARN_AFTER || spell) return null;
        spell = true;
        if (warned && nowNanos - warnedAt < TimeUnit.MINUTES.toNanos(REPEAT_MINUTES)) return null;
        warned = true;
        warnedAt = nowNanos;
        return "connection setup (running " + priority + ") took " + TimeUnit.NANOSECONDS.toMillis(waitNanos)
                + " ms for " + HOPS + " wake-ups, over " + WARN_MILLIS + " ms " + WARN_AFTER + " of the last " + WINDOW + " times: the CPUs are kept busy (by the session loops or by other"
                + " processes), so new sessions are accepted slowly; " + (priority.contains("SCHED_IDLE")
                ? "SETUP_NICE=10 gives setup a share of the CPU" : "a lower SETUP_NICE gives setup a larger share of the CPU");
    }

    /**
     * When setup was lowered: says how, starts a watch (its two hopping threads at setup's priority,
     * its judge at the caller's) and shows its last measurement as a gauge. Null when setup runs at
     * the process's priority.
     */
    static SetupWatch startFor(SetupPriority setup, Log log, Metrics metrics) {
        if (setup.lowered() == null) return null;
        log.info(null, "connection setup runs " + setup.lowered() + ", below the session loops (SETUP_NICE)");
        SetupWatch watch = new SetupWatch(setup.lowered());
        setup.run(watch::startHoppers);
        watch.startJudge(log);
        metrics.gauge("holepunch_setup_cpu_wait_seconds",
                "How long " + HOPS + " wake-ups of threads at connection setup's priority last took (measured each second).", watch::lastWaitSeconds);
        return watch;
    }

    /** The two threads that pass the turn, at the calling thread's priority: odd hops are the first's, even ones the second's. */
    void startHoppers() {
        for (int h = 0; h < 2; h++) {
            int parity = h == 0 ? 1 : 0;
            hoppers[h] = Thread.ofPlatform().daemon().name("setup-watch-" + h).unstarted(() -> {
                Thread next = hoppers[parity];        // the other hopper
                while (!Thread.currentThread().isInterrupted()) {
                    int now = hop;
                    if (now >= 1 && now <= HOPS && (now & 1) == parity) {
                        hop = now + 1;
                        LockSupport.unpark(now == HOPS ? judge : next);
                    } else {
                        LockSupport.park(this);
                    }
                }
            });
        }
        for (Thread t : hoppers) t.start();
    }

    /**
     * The judge, at the calling thread's priority (the loops'), so that it wakes on time: once a
     * second it starts the hops and waits for them; while they are unfinished each further second
     * counts as one more late measurement, so a starved watch is seen as starved at once.
     */
    void startJudge(Log log) {
        judge = Thread.ofPlatform().daemon().name("setup-watch").start(() -> {
            try {
                while (true) {
                    Thread.sleep(CHECK_MILLIS);
                    long t0 = System.nanoTime(), tick = t0 + TimeUnit.MILLISECONDS.toNanos(CHECK_MILLIS);
                    hop = 1;
                    LockSupport.unpark(hoppers[0]);
                    while (hop <= HOPS) {
                        LockSupport.parkNanos(this, tick - System.nanoTime());
                        if (Thread.interrupted()) throw new InterruptedException();
                        long now = System.nanoTime();
                        if (hop <= HOPS && now >= tick) {      // a second more and not done: late, and said so
                            say(log, observe(now - t0, now));
                            tick += TimeUnit.MILLISECONDS.toNanos(CHECK_MILLIS);
                        }
                    }
                    long now = System.nanoTime();
                    say(log, observe(now - t0, now));
                    hop = 0;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();   // closed
            }
        });
    }

    private static void say(Log log, String warning) {
        if (warning != null) log.warn(null, warning);
    }

    /** Stops measuring (the server stops). */
    @Override
    public void close() {
        for (Thread t : new Thread[]{judge, hoppers[0], hoppers[1]}) {
            if (t != null) t.interrupt();
        }
    }
}
