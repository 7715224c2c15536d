package holepunch.stun;

import holepunch.limits.TokenBucket;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;

/**
 * A token bucket per source IP, for one thread. Memory is bounded: past {@code maxSources}
 * tracked addresses, idle ones are forgotten, and if that is not enough (a flood of spoofed
 * sources) the table starts afresh.
 */
final class SourceLimiter {
    private final double perSecond;
    private final double burst;
    private final int maxSources;
    private final Map<InetAddress, TokenBucket> buckets = new HashMap<>();

    /** {@code perSecond} 0 means unlimited. */
    SourceLimiter(double perSecond, int maxSources) {
        this.perSecond = perSecond;
        this.burst = Math.max(1, perSecond * 2);
        this.maxSources = maxSources;
    }

    boolean allow(InetAddress source, long nowNanos) {
        if (perSecond <= 0) return true;
        TokenBucket b = buckets.get(source);
        if (b == null) {
            if (buckets.size() >= maxSources) evict(nowNanos);
            b = new TokenBucket(perSecond, burst, nowNanos);
            buckets.put(source, b);
        }
        return b.take(1, nowNanos);
    }

    private void evict(long nowNanos) {
        buckets.values().removeIf(b -> nowNanos - b.lastNanos() > 10_000_000_000L);
        if (buckets.size() >= maxSources) buckets.clear();
    }

    int tracked() {
        return buckets.size();
    }
}
