package holepunch.timer;

import java.util.concurrent.ThreadLocalRandom;

/** Exponential backoff, the one rule every retry uses: {@code base x 2^attempt}, capped. */
public final class Backoff {
    private Backoff() {
    }

    /** The delay before retry {@code attempt} (0 for the first): {@code min(cap, base x 2^attempt)}. */
    public static long delay(int attempt, long baseMillis, long capMillis) {
        long d = baseMillis << Math.min(Math.max(attempt, 0), 30);
        return d <= 0 || d > capMillis ? capMillis : d;
    }

    /**
     * The same with equal jitter: a random delay between half of and all of {@link #delay}, so that
     * many clients that lost the same server do not come back at the same moment.
     */
    public static long jittered(int attempt, long baseMillis, long capMillis) {
        long ceiling = delay(attempt, baseMillis, capMillis);
        return ThreadLocalRandom.current().nextLong(ceiling / 2, ceiling + 1);
    }
}
