package holepunch.peer;

import holepunch.limits.TokenBucket;

/**
 * Holds one pair's relayed traffic to the budget the rendezvous announced ({@code relay_budget}),
 * so the excess is dropped here, counted, instead of at the rendezvous: a little under the
 * announced rate (the rendezvous sees our datagrams later and bunched) with a burst of one
 * second's worth (it allows two). Says when it starts dropping and when it stops, once each.
 */
final class RelayPacer {
    /** The share of the announced rate we use. */
    static final double HEADROOM = 0.95;
    /** Drop-free time after which dropping is over (and said to be). */
    static final long QUIET_MILLIS = 2000;

    private TokenBucket bucket;
    private long rate;
    private boolean dropping;
    private long drops;
    private long lastDropMillis;

    /** What changed with this datagram, for the one log line a change gets. */
    enum Change { NONE, STARTED_DROPPING, STOPPED_DROPPING }

    /** Whether {@code bytes} fit the budget of {@code announced} bytes/s (0: none announced, anything goes). */
    synchronized boolean take(long announced, int bytes, long nowNanos) {
        if (announced <= 0) return true;
        if (bucket == null || rate != announced) {
            rate = announced;
            bucket = new TokenBucket(announced * HEADROOM, announced * HEADROOM, nowNanos);
        }
        return bucket.take(bytes, nowNanos);
    }

    /** Records a drop (false from {@link #take}); STARTED_DROPPING the first time after a quiet spell. */
    synchronized Change dropped(long nowMillis) {
        drops++;
        lastDropMillis = nowMillis;
        if (dropping) return Change.NONE;
        dropping = true;
        return Change.STARTED_DROPPING;
    }

    /** Records a datagram that fit; STOPPED_DROPPING when the last drop is {@value #QUIET_MILLIS} ms ago. */
    synchronized Change passed(long nowMillis) {
        if (!dropping || nowMillis - lastDropMillis < QUIET_MILLIS) return Change.NONE;
        dropping = false;
        return Change.STOPPED_DROPPING;
    }

    /** Datagrams dropped since this pair began. */
    synchronized long drops() {
        return drops;
    }
}
