package holepunch.peer;

import holepunch.limits.TokenBucket;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How many offers this worker follows: the rendezvous chooses the addresses an offer makes it
 * probe (up to {@value Peers#MAX_PROBES_PER_OFFER} datagrams), so one that offered again and
 * again would have it probe wherever and as often as it liked. At most {@value #BURST_PER_PEER}
 * at once and {@value #PER_PEER_PER_MIN} a minute for one peer, {@value #BURST} at once and
 * {@value #PER_MIN} a minute in all (a restart that asks for {@value Peers#MAX_LINKS} peers at once
 * fits). The per-peer table keeps the {@value #PEERS_KEPT} peers offered most recently.
 */
final class OfferBudget {
    static final int BURST_PER_PEER = 3, PER_PEER_PER_MIN = 6;
    static final int BURST = Peers.MAX_LINKS, PER_MIN = 60;
    static final int PEERS_KEPT = 1024;
    /** Why an offer past the budget is declined. */
    static final String REFUSAL = "too many offers: this worker follows at most " + PER_PEER_PER_MIN + " a minute for one peer and "
            + PER_MIN + " in all";

    private final TokenBucket total;
    private final Map<String, TokenBucket> perPeer = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, TokenBucket> eldest) {
            return size() > PEERS_KEPT;
        }
    };

    OfferBudget(long nowMillis) {
        total = new TokenBucket(PER_MIN / 60.0, BURST, nowMillis * 1_000_000L);
    }

    /**
     * How long, in ms, until an offer for {@code peer} could be followed (0: now); nothing is counted.
     * A worker asks for a peer only then: an offer it asked for and then declined would cost the peer
     * its pair too.
     */
    synchronized long waitMillis(String peer, long nowMillis) {
        long now = nowMillis * 1_000_000L;
        TokenBucket mine = perPeer.get(peer);
        return Math.max(mine == null ? 0 : mine.millisUntil(1, now), total.millisUntil(1, now));
    }

    /** Whether an offer for {@code peer} may be followed now (and if so, it is counted). */
    synchronized boolean take(String peer, long nowMillis) {
        long now = nowMillis * 1_000_000L;
        TokenBucket mine = perPeer.computeIfAbsent(peer, p -> new TokenBucket(PER_PEER_PER_MIN / 60.0, BURST_PER_PEER, now));
        if (!mine.take(1, now)) return false;
        return total.take(1, now);
    }
}
