package holepunch.peer;

/**
 * Paces what one pair sends over a TURN path to what reaches the peer. A TURN server relaying for
 * many is a shared, CPU-bound hop: offered far more than it carries (an application sending as
 * fast as it can), it drops the excess after the sender has paid to seal and send it, and on a
 * shared machine the flood takes the very CPU the server would relay with. The peer's receipts
 * ({@link Probe.Kind#RECEIPT}, twice a second while data arrives) say how many datagrams arrived
 * in all; set against what was sent between two receipts, they give what the path delivers and
 * what it lost.
 *
 * <p>The rule, per receipt interval (a multiplicative increase and decrease): more than {@value #LOSS_PERCENT}% lost
 * sets the rate just above what was delivered; less lets a paced rate grow by a quarter; a rate the
 * sender no longer comes near lifts the pacing. Unpaced until a loss is seen, and never below
 * {@value #MIN_RATE}/s, so a few lost receipts cannot starve a pair. What is over the rate is
 * dropped before it is sealed, counted {@code turn_paced} by the caller.
 */
final class TurnPacer {
    static final double MIN_RATE = 100;
    static final int LOSS_PERCENT = 10;
    /** Tokens the bucket holds at most: this many ms of the rate (a burst that small keeps the server's queue short). */
    static final double BURST_MILLIS = 20;
    /** A paced rate grows by this much a receipt without loss: from a tenth back to the whole in about 5 s. */
    static final double GROWTH = 1.25;
    /** Fewer datagrams than this between two receipts say nothing about loss. */
    static final long MIN_SAMPLE = 64;

    private double rate = Double.POSITIVE_INFINITY;     // datagrams per second; infinite: not paced
    private double tokens;
    private long tokensAt;
    private long lastReceived = -1;
    private long sentAtReceipt;
    private long receiptAt;

    /** Whether one more datagram may go now ({@code nowMillis}); false: over the rate. */
    synchronized boolean take(long nowMillis) {
        if (rate == Double.POSITIVE_INFINITY) return true;
        double cap = Math.max(32, rate * BURST_MILLIS / 1000);
        tokens = Math.min(cap, tokens + rate * Math.max(0, nowMillis - tokensAt) / 1000);
        tokensAt = nowMillis;
        if (tokens < 1) return false;
        tokens -= 1;
        return true;
    }

    /**
     * A receipt: the peer has received {@code received} data datagrams of this pair in all, and this
     * side has sent {@code sent} in all. Returns the new rate when pacing starts or its end
     * ({@code Double.POSITIVE_INFINITY}), NaN when neither happened (the caller logs a change of state).
     */
    synchronized double onReceipt(long received, long sent, long nowMillis) {
        double before = rate;
        if (lastReceived >= 0 && received >= lastReceived && nowMillis - receiptAt >= 100) {
            long got = received - lastReceived;
            long gave = sent - sentAtReceipt;
            double seconds = (nowMillis - receiptAt) / 1000.0;
            if (gave >= MIN_SAMPLE && got * 100 < gave * (100 - LOSS_PERCENT)) {
                double delivered = got / seconds;
                rate = Math.max(MIN_RATE, Math.min(rate, delivered * 1.05));
                if (before == Double.POSITIVE_INFINITY) {
                    tokens = 0;
                    tokensAt = nowMillis;
                }
            } else if (rate != Double.POSITIVE_INFINITY) {
                if (gave / seconds < rate / 2) rate = Double.POSITIVE_INFINITY;     // the sender no longer comes near it
                else if (gave >= MIN_SAMPLE) rate *= GROWTH;
            }
        }
        lastReceived = received;
        sentAtReceipt = sent;
        receiptAt = nowMillis;
        boolean changed = (before == Double.POSITIVE_INFINITY) != (rate == Double.POSITIVE_INFINITY);
        return changed ? rate : Double.NaN;
    }

    /** The rate paced to, datagrams per second; infinite when not paced. */
    synchronized double rate() {
        return rate;
    }
}
