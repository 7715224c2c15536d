package holepunch.peer;

/**
 * Paces what one pair sends over a TURN path to what reaches the peer. A TURN server relaying for
 * many is a shared, CPU-bound hop, often with a bandwidth cap of its own: offered far more than it
 * carries (an application sending as fast as it can), it drops the excess after the sender has paid
 * to seal and send it, and on a shared machine the flood takes the very CPU the server relays with.
 *
 * <p>The peer's receipts ({@link Probe.Kind#RECEIPT}, twice a second while data arrives) say, as of
 * when each was made, the highest DATA counter it has opened and how many it has opened in all.
 * Between two receipts of one epoch, the counters say how many this side had sent and the counts how
 * many of those arrived: both measured at the peer, so a receipt that took its time through a busy
 * server measures the same as a quick one.
 *
 * <p>The rule, per receipt (a multiplicative decrease and increase): more than {@value #LOSS_PERCENT}%
 * lost sets the rate to what was delivered and a little more, but never below {@value #DECREASE} of what
 * was being sent (one bad interval cannot collapse it); less lets a paced rate grow by a quarter; a rate the sender
 * no longer comes near is lifted. Unpaced until a loss is seen, never below {@value #MIN_RATE}/s. What
 * is over the rate is dropped before it is sealed, counted {@code turn_paced} by the caller.
 */
final class TurnPacer {
    static final double MIN_RATE = 100;
    static final int LOSS_PERCENT = 10;
    /** A paced rate grows by this much a receipt without loss: from a tenth back to the whole in about 5 s. */
    static final double GROWTH = 1.25;
    /**
     * A loss takes the rate to what was delivered, but by this factor of what was being sent at most (as measured
     * here, not at the peer): a server that stalls for a second (coturn relaying a flood on a shared machine) takes
     * the rate down by half, not to what trickled through the stall.
     */
    static final double DECREASE = 0.7;
    /** Tokens the bucket holds at most: this many ms of the rate (a burst that small keeps the server's queue short). */
    static final double BURST_MILLIS = 20;
    /** Fewer datagrams sent than this between two receipts say nothing about loss. */
    static final long MIN_SAMPLE = 64;

    private double rate = Double.POSITIVE_INFINITY;     // datagrams per second; infinite: not paced
    private double tokens;
    private long tokensAt;
    private int lastEpoch = -1;
    private long lastHighest;
    private long lastOpened;
    private long lastSentHere;
    private long receiptAt;
    /** Datagrams let go in all: what this side sent on the path, set beside the peer's receipts. */
    private long let;

    /** Whether one more datagram may go now ({@code nowMillis}); false: over the rate. */
    synchronized boolean take(long nowMillis) {
        if (rate == Double.POSITIVE_INFINITY) {
            let++;
            return true;
        }
        double cap = Math.max(32, rate * BURST_MILLIS / 1000);
        tokens = Math.min(cap, tokens + rate * Math.max(0, nowMillis - tokensAt) / 1000);
        tokensAt = nowMillis;
        if (tokens < 1) return false;
        tokens -= 1;
        let++;
        return true;
    }

    /**
     * A receipt: the peer had opened {@code opened} data datagrams of this pair in all, the highest
     * counter {@code highest} in {@code epoch}; this side has sent {@code sentHere} on the path in all. Returns the new rate when pacing starts, infinity when it
     * ends, NaN when neither happened (the caller logs a change of state).
     */
    synchronized double onReceipt(int epoch, long highest, long opened, long nowMillis) {
        return onReceipt(epoch, highest, opened, let, nowMillis);
    }

    /** As above, with what this side sent given ({@code sentHere}) rather than counted by {@link #take}. */
    synchronized double onReceipt(int epoch, long highest, long opened, long sentHere, long nowMillis) {
        double before = rate;
        if (epoch == lastEpoch && highest >= lastHighest && opened >= lastOpened && nowMillis - receiptAt >= 100) {
            long gave = highest - lastHighest;
            long got = Math.min(gave, opened - lastOpened);
            double seconds = (nowMillis - receiptAt) / 1000.0;
            double sending = Math.max(gave, sentHere - lastSentHere) / seconds;
            if (gave >= MIN_SAMPLE && got * 100 < gave * (100 - LOSS_PERCENT)) {
                double cut = Math.max(got / seconds * 1.05, Math.min(rate, sending) * DECREASE);
                rate = Math.max(MIN_RATE, Math.min(rate, cut));
                if (before == Double.POSITIVE_INFINITY) {
                    tokens = 0;
                    tokensAt = nowMillis;
                }
            } else if (rate != Double.POSITIVE_INFINITY) {
                rate = sending < rate / 2 ? Double.POSITIVE_INFINITY : rate * GROWTH;   // lifted, or grows
            }
        }
        if (epoch != lastEpoch || highest >= lastHighest) {          // a new epoch (a rekey) is a new baseline
            lastEpoch = epoch;
            lastHighest = highest;
            lastOpened = opened;
            lastSentHere = sentHere;
            receiptAt = nowMillis;
        }
        boolean changed = (before == Double.POSITIVE_INFINITY) != (rate == Double.POSITIVE_INFINITY);
        return changed ? rate : Double.NaN;
    }

    /**
     * A new pair of the same peers taking a TURN path (a retry for direct makes one every few seconds while the
     * pair is on TURN) starts at the rate its predecessor was paced to, rather than flooding the server again
     * until its own receipts say so. Its receipts are measured from its own first one.
     */
    synchronized void startAt(TurnPacer predecessor, long nowMillis) {
        double r = predecessor.rate();
        if (r == Double.POSITIVE_INFINITY) return;
        rate = r;
        tokens = 0;
        tokensAt = nowMillis;
    }

    /** The rate paced to, datagrams per second; infinite when not paced. */
    synchronized double rate() {
        return rate;
    }
}
