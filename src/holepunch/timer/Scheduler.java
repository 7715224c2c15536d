package holepunch.timer;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/** Runs tasks after a delay (STUN retransmissions, peer probes and keepalives); tests substitute a fake clock, so timing needs no real waits. */
public interface Scheduler {
    /** A scheduled task that can be cancelled. */
    interface Handle {
        void cancel();
    }

    Handle schedule(long delayMillis, Runnable task);

    long nowMillis();

    /** The real clock, on one daemon thread. */
    static Scheduler system() {
        ScheduledExecutorService exec = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "timer");
            t.setDaemon(true);
            return t;
        });
        return new Scheduler() {
            @Override
            public Handle schedule(long delayMillis, Runnable task) {
                ScheduledFuture<?> f = exec.schedule(task, delayMillis, TimeUnit.MILLISECONDS);
                return () -> f.cancel(false);
            }

            @Override
            public long nowMillis() {
                return System.nanoTime() / 1_000_000;
            }
        };
    }
}
