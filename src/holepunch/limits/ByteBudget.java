package holepunch.limits;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Bytes that many owners may hold at once, in total: each takes what it buffers and gives it back
 * when done. Shared by every session of a server, so that many sessions each within their own
 * limit still cannot fill the heap together.
 */
public final class ByteBudget {
    private final long limit;
    private final AtomicLong used = new AtomicLong();

    public ByteBudget(long limit) {
        this.limit = limit;
    }

    /** Takes {@code n} bytes if they fit under the limit; false (and nothing taken) otherwise. */
    public boolean tryTake(long n) {
        long now;
        do {
            now = used.get();
            if (now + n > limit) return false;
        } while (!used.compareAndSet(now, now + n));
        return true;
    }

    public void give(long n) {
        used.addAndGet(-n);
    }

    public long used() {
        return used.get();
    }

    public long limit() {
        return limit;
    }
}
