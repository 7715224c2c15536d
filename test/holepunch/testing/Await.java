package holepunch.testing;

import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * Waits for a state that has no event of its own to wait on (such as "the entry has left the
 * list"), checking often and giving up at a deadline, so a test neither hangs nor guesses a delay.
 */
public final class Await {
    private Await() {
    }

    public static void until(Duration limit, String what, Callable<Boolean> condition) throws Exception {
        until(limit, Duration.ofMillis(10), what, condition);
    }

    /** As above, checking every {@code every}: for a condition that is costly to check (a request into a lab namespace). */
    public static void until(Duration limit, Duration every, String what, Callable<Boolean> condition) throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.call()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out after " + limit + " waiting for: " + what);
            Thread.sleep(every);
        }
    }
}
