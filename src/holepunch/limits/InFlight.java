package holepunch.limits;

import java.util.HashMap;
import java.util.Map;

/**
 * Places held at once, in total and per key (a client address): the rendezvous's sessions, say,
 * or answers that hold memory until a client has read them. At most {@code total} at once, and at
 * most {@code perKey} for one key. A caller takes a place now or waits a bounded time for one;
 * every place taken is given back once, with the same key. The map holds only keys with a place.
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

    /** The cap that refused a place. */
    public enum Full { TOTAL, PER_KEY }

    /** Takes a place for {@code key} if there is one now: null, or the cap that refused it. */
    public synchronized Full tryEnter(K key) {
        if (taken >= total) return Full.TOTAL;
        if (byKey.getOrDefault(key, 0) >= perKey) return Full.PER_KEY;
        taken++;
        byKey.merge(key, 1, Integer::sum);
        return null;
    }

    /** Takes a place for {@code key}, waiting up to {@code waitMillis}; false when none came free in time. */
    public synchronized boolean enter(K key, long waitMillis) throws InterruptedException {
        long deadline = System.nanoTime() + waitMillis * 1_000_000L;
        while (tryEnter(key) != null) {
            long left = deadline - System.nanoTime();
            if (left <= 0) return false;
            wait(Math.max(1, left / 1_000_000L));
        }
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
