package holepunch.limits;

import java.util.HashMap;
import java.util.Map;

/**
 * Places for work that holds memory until a client has taken it (an answer being written, say):
 * at most {@code total} at once, and at most {@code perKey} for one key (a client address). A
 * caller waits a bounded time for a place; every {@link #enter} that returns true is paired with
 * one {@link #leave} of the same key. The map holds only keys with a place taken.
 */
public final class InFlight<K> {
    private final int total;
    private final int perKey;
    private final Map<K, Integer> byKey = new HashMap<>();
    private int taken;

    public InFlight(int total, int perKey) {
        if (total < 1 || perKey < 1) throw new IllegalArgumentException("places must be at least 1");
        this.total = total;
        this.perKey = perKey;
    }

    /** Takes a place for {@code key}, waiting up to {@code waitMillis}; false when none came free in time. */
    public synchronized boolean enter(K key, long waitMillis) throws InterruptedException {
        long deadline = System.nanoTime() + waitMillis * 1_000_000L;
        while (taken >= total || byKey.getOrDefault(key, 0) >= perKey) {
            long left = deadline - System.nanoTime();
            if (left <= 0) return false;
            wait(Math.max(1, left / 1_000_000L));
        }
        taken++;
        byKey.merge(key, 1, Integer::sum);
        return true;
    }

    /** Gives back a place {@code key} took. */
    public synchronized void leave(K key) {
        Integer n = byKey.get(key);
        if (n == null) throw new IllegalStateException("no place taken for " + key);
        if (n == 1) byKey.remove(key);
        else byKey.put(key, n - 1);
        taken--;
        notifyAll();
    }

    /** Places taken now. */
    public synchronized int taken() {
        return taken;
    }
}
