package holepunch.rendezvous;

/**
 * The relay's budgets: each pair may send RELAY_BYTES_PER_SEC (bursts of twice that), and all
 * pairs of this instance together RELAY_TOTAL_BYTES_PER_SEC. The total is shared fairly: while
 * {@code n} pairs relay, each refills at no more than total/n (and bursts twice that), so a pair
 * that sends far more than its share loses its excess and the others keep their rate; there is
 * no common bucket a greedy pair could drain first. Pairs count as relaying in the second they
 * sent something in, or the second before. Time is passed in (tests control the clock).
 */
final class RelayMeter {
    /** Why a datagram was not let through. */
    enum Verdict { OK, PAIR_RATE, SHARE }

    private static final long SECOND = 1_000_000_000L;

    final long pairRate;
    final long totalRate;
    private long epoch = Long.MIN_VALUE;
    private int activeThis;
    private int activeLast;

    /** One pair's account. */
    static final class Pair {
        private double tokens;
        private long last;
        private long epochSeen = Long.MIN_VALUE;
        /** Bytes this pair was let through (the operator page's "bytes over the relay"). */
        private long admitted;
        /** When this pair's sender was last told it went over (relay_error, at most one a second per reason). */
        final long[] toldAt = new long[Relay.Drop.values().length];
    }

    RelayMeter(long pairRate, long totalRate, long now) {
        this.pairRate = pairRate;
        this.totalRate = totalRate;
    }

    Pair newPair(long now) {
        Pair p = new Pair();
        p.tokens = 2.0 * pairRate;
        p.last = now;
        return p;
    }

    /** The rate each relaying pair may use now: its own, or its share of the total. */
    synchronized long share() {
        return Math.min(pairRate, totalRate / Math.max(1, Math.max(activeLast, activeThis)));
    }

    /** Spends {@code bytes} of the pair's budget (its own rate or its share of the total, the lower), or nothing. */
    synchronized Verdict take(Pair p, int bytes, long now) {
        long e = Math.floorDiv(now, SECOND);
        if (e != epoch) {
            activeLast = e == epoch + 1 ? activeThis : 0;
            activeThis = 0;
            epoch = e;
        }
        if (p.epochSeen != e) {
            p.epochSeen = e;
            activeThis++;
        }
        long share = Math.min(pairRate, totalRate / Math.max(1, Math.max(activeLast, activeThis)));
        p.tokens = Math.min(2.0 * share, p.tokens + Math.max(0, now - p.last) / 1e9 * share);
        p.last = now;
        if (p.tokens < bytes) return share < pairRate ? Verdict.SHARE : Verdict.PAIR_RATE;
        p.tokens -= bytes;
        p.admitted += bytes;
        return Verdict.OK;
    }

    /** Bytes {@code p} was let through so far. */
    synchronized long admitted(Pair p) {
        return p.admitted;
    }
}
