package holepunch.rendezvous;

import holepunch.log.Log;

import java.util.concurrent.TimeUnit;

/**
 * Says so when connection setup, lowered below the session loops ({@link SetupPriority}), is
 * starved of CPU. Under SCHED_IDLE it runs only on time that every other thread of the host
 * leaves, other processes' included. Measured on 2 cores with 8 busy processes beside it: a setup
 * thread waits about 70 ms for a CPU each time it wakes (0.1 ms on an idle host, 3-20 ms with 2
 * busy processes), and a plain {@code GET /} takes 1-4 s (16-46 ms at nice 10). A thread at the
 * setup priority asks for a 1 ms sleep once a second and measures how late it wakes, which is how
 * long setup waits for a CPU; {@value #WARN_AFTER} measurements in a
 * row over {@value #WARN_MILLIS} ms give one warning line (at most one per
 * {@value #REPEAT_MINUTES} minutes) naming the cause and SETUP_NICE. The last measurement is the
 * {@code holepunch_setup_cpu_wait_seconds} gauge.
 */
final class SetupWatch implements AutoCloseable {
    static final long CHECK_MILLIS = 1000;
    static final long WARN_MILLIS = 50;
    static final int WARN_AFTER = 3;
    static final long REPEAT_MINUTES = 10;

    private final String priority;
    private int over;
    private long warnedAt;
    private boolean warned;
    private volatile long lastWaitNanos;
    private volatile Thread thread;

    /** {@code priority}: how setup was lowered, as {@link SetupPriority#lowered()} says it. */
    SetupWatch(String priority) {
        this.priority = priority;
    }

    /** The last measured wait for a CPU, in seconds. */
    double lastWaitSeconds() {
        return lastWaitNanos / 1e9;
    }

    /** Takes one measurement; returns the line to log (one per starved spell, at most one per REPEAT_MINUTES), or null. */
    String observe(long waitNanos, long nowNanos) {
        lastWaitNanos = waitNanos;
        over = waitNanos > TimeUnit.MILLISECONDS.toNanos(WARN_MILLIS) ? over + 1 : 0;
        if (over != WARN_AFTER) return null;
        if (warned && nowNanos - warnedAt < TimeUnit.MINUTES.toNanos(REPEAT_MINUTES)) return null;
        warned = true;
        warnedAt = nowNanos;
        return "connection setup (running " + priority + ") waited " + TimeUnit.NANOSECONDS.toMillis(waitNanos)
                + " ms for a CPU, " + WARN_AFTER + " times in a row: the CPUs are kept busy (by the session loops or by other"
                + " processes), so new sessions are accepted slowly; " + (priority.contains("SCHED_IDLE")
                ? "SETUP_NICE=10 gives setup a share of the CPU" : "a lower SETUP_NICE gives setup a larger share of the CPU");
    }

    /** Measures on a daemon thread of the calling thread's priority until closed. */
    void start(Log log) {
        thread = Thread.ofPlatform().daemon().name("setup-watch").start(() -> {
            try {
                while (true) {
                    Thread.sleep(CHECK_MILLIS);
                    long asked = System.nanoTime();
                    Thread.sleep(1);
                    long now = System.nanoTime();
                    String warning = observe(Math.max(0, now - asked - TimeUnit.MILLISECONDS.toNanos(1)), now);
                    if (warning != null) log.warn(null, warning);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();         // closed
            }
        });
    }

    /** Stops measuring (the server stops). */
    @Override
    public void close() {
        Thread t = thread;
        if (t != null) t.interrupt();
    }
}
