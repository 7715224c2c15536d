package holepunch.peer;

import holepunch.limits.TokenBucket;

import java.util.LinkedHashMap;

/**
 * One link's account of its control datagrams (PROBE, KEEPALIVE and their answers): our counters
 * that wait for an answer, with when each went out (the oldest forgotten past
 * {@value Peers#MAX_OUTSTANDING}); the peer's counters seen (a replay window, and at most
 * {@value Peers#MAX_PROBE_LAG} behind its newest); and how many of the peer's probes we may still
 * answer and of its handshakes work out: a peer holds its probe key, so it could otherwise have
 * every probe it makes answered, from any address it spoofs, and every handshake it starts cost
 * us Diffie-Hellman work and move our keys. The counters are guarded by the link's lock; the two
 * budgets are token buckets, safe from any thread.
 */
final class ProbeLedger {
    /**
     * Answers per second and at once: an offer's whole burst (at most
     * {@value Peers#MAX_PROBES_PER_OFFER} probes) and the hard-NAT technique's 256 sockets fit in
     * the burst.
     */
    static final int ANSWERS_PER_SEC = 200, ANSWER_BURST = 512;
    /** The same over all of a worker's peers (Peers keeps that bucket). */
    static final int WORKER_ANSWERS_PER_SEC = 2000, WORKER_ANSWER_BURST = 4096;
    /** New handshakes the peer may start, per minute and at once (the initiator rekeys every 2 minutes). */
    static final int HANDSHAKES_PER_MIN = 10, HANDSHAKE_BURST = 5;

    private final LinkedHashMap<Long, Long> outstanding = new LinkedHashMap<>();
    private final ReplayWindow window = new ReplayWindow();
    private final TokenBucket answers;
    private final TokenBucket handshakes;

    ProbeLedger(long nowMillis) {
        answers = new TokenBucket(ANSWERS_PER_SEC, ANSWER_BURST, nowMillis * 1_000_000L);
        handshakes = new TokenBucket(HANDSHAKES_PER_MIN / 60.0, HANDSHAKE_BURST, nowMillis * 1_000_000L);
    }

    /** One of our counters went out at {@code nowMillis}. */
    void sent(long counter, long nowMillis) {
        if (outstanding.size() >= Peers.MAX_OUTSTANDING) outstanding.remove(outstanding.keySet().iterator().next());
        outstanding.put(counter, nowMillis);
    }

    /** When our {@code counter} went out, if it waited for an answer (it no longer does); else null. */
    Long answered(long counter) {
        return outstanding.remove(counter);
    }

    /** A PROBE or KEEPALIVE counter of the peer's: not too far behind its newest, and not seen before (now it is). */
    boolean fresh(long counter) {
        return counter > window.highest() - Peers.MAX_PROBE_LAG && window.accept(counter);
    }

    /** Any other control counter of the peer's: not seen before (now it is). */
    boolean unseen(long counter) {
        return window.accept(counter);
    }

    /** Whether one more of the peer's may be answered now (and if so, one is spent). */
    boolean mayAnswer(long nowMillis) {
        return answers.take(1, nowMillis * 1_000_000L);
    }

    /** Whether one more new handshake of the peer's may be worked out now (and if so, one is spent). */
    boolean mayHandshake(long nowMillis) {
        return handshakes.take(1, nowMillis * 1_000_000L);
    }
}
