package holepunch.rendezvous;

/** A token bucket of messages per second (burst: twice the rate), for one session's loop thread. */
final class MessageRate {
    private final double perSecond;
    private final double burst;
    private double tokens;
    private long last;

    MessageRate(int perSecond) {
        this.perSecond = perSecond;
        this.burst = perSecond * 2.0;
        this.tokens = burst;
        this.last = System.nanoTime();
    }

    boolean allow(long now) {
        tokens = Math.min(burst, tokens + (now - last) / 1e9 * perSecond);
        last = now;
        if (tokens < 1) return false;
        tokens -= 1;
        return true;
    }
}
