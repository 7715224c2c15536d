package holepunch.rendezvous;

import holepunch.os.Nice;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Connection setup (accepting, reading request heads, upgrades: the HTTP dispatcher and the
 * virtual threads' carriers) runs SETUP_NICE steps below the session loops, so that under CPU
 * contention the sessions already open are served first: measured on 2 cores, echo p99 during a
 * 10,000-session registration burst fell from 31 to 15-20 ms. Threads inherit their creator's nice
 * value on Linux, so the carriers are made here, from a lowered thread, before anything else
 * starts a virtual thread; the dispatcher is started from one too ({@link #run}).
 */
final class SetupPriority {
    private final int nice;
    private final boolean lowered;

    /** Lowers the setup threads to {@code nice} (0: leaves every thread as it is). */
    SetupPriority(int nice) {
        this.nice = nice;
        boolean[] done = {false};
        if (nice > 0) {
            onLoweredThread(() -> {
                if (!Nice.setCurrentThread(nice)) return;
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
                    done[0] = all.await(2, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        lowered = done[0];
    }

    /** Whether the carriers were made at the lower priority. */
    boolean lowered() {
        return lowered;
    }

    /** Runs {@code task} on a thread at the setup priority (when lowered), and waits for it. */
    void run(Runnable task) {
        if (lowered) onLoweredThread(task);
        else task.run();
    }

    private void onLoweredThread(Runnable task) {
        Thread t = Thread.ofPlatform().name("setup").start(() -> {
            Nice.setCurrentThread(nice);
            task.run();
        });
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
