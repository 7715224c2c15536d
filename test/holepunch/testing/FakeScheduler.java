package holepunch.testing;

import holepunch.timer.Scheduler;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** A clock that moves only when the test says so; due tasks run in time order on the test's thread. */
public final class FakeScheduler implements Scheduler {
    private long now;
    private long seq;
    private final List<long[]> order = new ArrayList<>();     // {due, seq}
    private final List<Runnable> tasks = new ArrayList<>();

    @Override
    public synchronized Handle schedule(long delayMillis, Runnable task) {
        long[] key = {now + delayMillis, seq++};
        order.add(key);
        tasks.add(task);
        return () -> {
            synchronized (FakeScheduler.this) {
                int i = order.indexOf(key);
                if (i >= 0) {
                    order.remove(i);
                    tasks.remove(i);
                }
            }
        };
    }

    @Override
    public synchronized long nowMillis() {
        return now;
    }

    /** Moves the clock forward, running every task that falls due. */
    public void advance(long millis) {
        long end;
        synchronized (this) {
            end = now + millis;
        }
        while (true) {
            Runnable next;
            synchronized (this) {
                int best = -1;
                for (int i = 0; i < order.size(); i++) {
                    if (order.get(i)[0] <= end && (best < 0 || Comparator.<long[]>comparingLong(k -> k[0]).thenComparingLong(k -> k[1])
                            .compare(order.get(i), order.get(best)) < 0)) best = i;
                }
                if (best < 0) {
                    now = end;
                    return;
                }
                now = order.get(best)[0];
                order.remove(best);
                next = tasks.remove(best);
            }
            next.run();
        }
    }
}
