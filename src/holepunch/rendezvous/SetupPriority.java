package holepunch.rendezvous;

import holepunch.os.Nice;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Connection setup (accepting, reading request heads, upgrades: the HTTP dispatcher and the
 * virtual threads' carriers) runs below the session loops, so that under CPU contention the
 * sessions already open are served first. By default (SETUP_NICE=10) it runs ten nice steps lower,
 * which keeps it a tenth of a busy CPU; SETUP_NICE=idle runs it under SCHED_IDLE, where a loop that
 * wakes preempts it at once. Measured on 2 cores, echo p99 during a 10,000-session registration
 * burst: 31 ms with setup at the loops' priority, 10.6-14.9 ms at nice 10, 6.1-8.4 ms under
 * SCHED_IDLE (22 runs). SCHED_IDLE's cost made it no default: setup takes only the CPU the rest
 * leaves, so a host kept busy by other processes starves it ({@link SetupWatch} says so): three
 * workers' JVMs starting beside the rendezvous on 2 cores held upgrades for over 10 s, and the
 * workers timed out. Threads inherit their creator's
 * policy and nice value on Linux, so the carriers are made here, from a lowered thread, before anything else
 * starts a virtual thread; the dispatcher is started from one too ({@link #run}).
 */
final class SetupPriority {
    /** SETUP_NICE=idle: the SCHED_IDLE policy, below nice 19 (to which it falls back where it is refused). Not the default. */
    static final int IDLE = 20;

    private final int nice;
    private final String lowered;

    /** Lowers the setup threads to {@code nice}, or to SCHED_IDLE ({@link #IDLE}); 0 leaves every thread as it is. */
    SetupPriority(int nice) {
        this.nice = nice;
        String[] done = {null};
        if (nice > 0) {
            onLoweredThread(() -> {
                String how = lower(nice);
                if (how == null) return;
                int carriers = Runtime.getRuntime().availableProcessors();
                CountDownLatch all = new CountDownLatch(carriers);
                for (int i = 0; i < carriers; i++) {
                    Thread.ofVirtual().start(() -> {              // each holds its carrier until all have one
                        all.countDown();
                        try {
                            all.await(2, TimeUnit.SECONDS);
                        } catch (InterruptedException ignored) {
                            // the carriers exist by now, or the setup goes on without them
                        }
                    });
                }
                try {
                    if (all.await(2, TimeUnit.SECONDS)) done[0] = how;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        lowered = done[0];
    }

    /** Lowers the calling thread; says how, or null when it could not. */
    private static String lower(int nice) {
        if (nice == IDLE) {
            if (Nice.idleCurrentThread()) return "under SCHED_IDLE";
            return Nice.setCurrentThread(19) ? "at nice 19 (SCHED_IDLE was refused)" : null;
        }
        return Nice.setCurrentThread(nice) ? "at nice " + nice : null;
    }

    /** How the carriers were lowered ("under SCHED_IDLE", "at nice 10"), or null when they were not. */
    String lowered() {
        return lowered;
    }

    /** Runs {@code task} on a thread at the setup priority (when lowered), and waits for it. */
    void run(Runnable task) {
        if (lowered != null) onLoweredThread(task);
        else task.run();
    }

    private void onLoweredThread(Runnable task) {
        Thread t = Thread.ofPlatform().name("setup").start(() -> {
            lower(nice);
            task.run();
        });
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
