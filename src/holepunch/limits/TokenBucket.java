package holepunch.limits;

/**
 * A token bucket: {@code perSecond} tokens flow in up to {@code burst}; {@link #take} spends them.
 * Used for every rate limit (messages per session, relay bytes per pair, STUN requests per source).
 * Time is passed in, so callers and tests control the clock.
 */
public final class TokenBucket {
    private final double perSecond;
    private final double burst;
    private double tokens;
    private long last;

    public TokenBucket(double perSecond, double burst, long nowNanos) {
        this.perSecond = perSecond;
        this.burst = burst;
        this.tokens = burst;
        this.last = nowNanos;
    }

    /** Spends {@code amount} tokens if that many are there; false (and nothing spent) otherwise. */
    public synchronized boolean take(double amount, long nowNanos) {
        tokens = Math.min(burst, tokens + Math.max(0, nowNanos - last) / 1e9 * perSecond);
        last = nowNanos;
        if (tokens < amount) return false;
        tokens -= amount;
        return true;
    }

    /** How long, in ms, until {@code amount} tokens are there (0: now); nothing is spent. */
    public synchronized long millisUntil(double amount, long nowNanos) {
        double now = Math.min(burst, tokens + Math.max(0, nowNanos - last) / 1e9 * perSecond);
        return now >= amount ? 0 : (long) Math.ceil((amount - now) / perSecond * 1000);
    }

    /** When the bucket was last used. */
    public synchronized long lastNanos() {
        return last;
    }
}
