package holepunch.stun;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.Iterator;
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
    private final Map<InetAddress, double[]> buckets = new HashMap<>();   // {tokens, last refill nanos}

    /** {@code perSecond} 0 means unlimited. */
    SourceLimiter(double perSecond, int maxSources) {
        this.perSecond = perSecond;
        this.burst = Math.max(1, perSecond * 2);
        this.maxSources = maxSources;
    }

    boolean allow(InetAddress source, long nowNanos) {
        if (perSecond <= 0) return true;
        double[] b = buckets.get(source);
        if (b == null) {
            if (buckets.size() >= maxSources) evict(nowNanos);
            b = new double[] {burst, nowNanos};
            buckets.put(source, b);
        } else {
            b[0] = Math.min(burst, b[0] + (nowNanos - (long) b[1]) / 1e9 * perSecond);
            b[1] = nowNanos;
        }
        if (b[0] < 1) return false;
        b[0] -= 1;
        return true;
    }

    private void evict(long nowNanos) {
        for (Iterator<double[]> it = buckets.values().iterator(); it.hasNext(); ) {
            double[] b = it.next();
            if (nowNanos - (long) b[1] > 10_000_000_000L) it.remove();
        }
        if (buckets.size() >= maxSources) buckets.clear();
    }

    int tracked() {
        return buckets.size();
    }
}
