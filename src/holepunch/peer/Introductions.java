package holepunch.peer;

import holepunch.log.Log;
import holepunch.protocol.RequestP2pConnection;
import holepunch.timer.Backoff;
import holepunch.timer.Scheduler;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * This worker's questions to the rendezvous for paths to the peers it is configured to reach
 * ({@code P2P_CONNECT_TO}). A peer that is not registered yet (both were started together) is
 * asked for again soon, then less often; one question per peer at a time, and none once it has a
 * link. Its tables are keyed by configured peers only, so they are bounded by the configuration.
 */
final class Introductions {
    /** When the rendezvous could not introduce a peer we ask for: again after this, doubling up to the cap. */
    static final long ASK_AGAIN_MILLIS = 250;
    static final long ASK_AGAIN_CAP_MILLIS = 5000;
    /** Refusals in a row that are expected at start (both started together) and logged at INFO; the next is a warning. */
    static final int QUIET_REFUSALS = 5;
    /** A question the rendezvous neither answers with an offer nor an error within this is "unanswered". */
    static final long ANSWER_WAIT_MILLIS = 10_000;

    private final String selfId;
    private final Set<String> connectTo;           // in the configured order
    private final Peers.Rendezvous rendezvous;
    private final Scheduler scheduler;
    private final Predicate<String> linked;
    private final Log log;
    /** Introductions refused in a row, per configured peer. */
    private final Map<String, Integer> unanswered = new ConcurrentHashMap<>();
    /** The configured peers a question to the rendezvous is scheduled for. */
    private final Set<String> askingAgain = ConcurrentHashMap.newKeySet();
    /** Per configured peer: when the question still unanswered was sent (scheduler millis). */
    private final Map<String, Long> waiting = new ConcurrentHashMap<>();
    /** The configured peers whose last question got no answer at all within ANSWER_WAIT_MILLIS. */
    private final Set<String> unansweredPeers = ConcurrentHashMap.newKeySet();
    private volatile boolean saidSilent;
    private volatile boolean closed;

    /** @param linked whether a peer has a link now (then it is not asked for) */
    Introductions(String selfId, List<String> connectTo, Peers.Rendezvous rendezvous, Scheduler scheduler, Predicate<String> linked, Log log) {
        this.selfId = selfId;
        this.connectTo = new LinkedHashSet<>(connectTo);
        this.rendezvous = rendezvous;
        this.scheduler = scheduler;
        this.linked = linked;
        this.log = log;
    }

    /** Whether {@code peer} is one this worker asks for. */
    boolean wanted(String peer) {
        return connectTo.contains(peer);
    }

    /** After each successful endpoint report: asks for the configured peers that have no link. */
    void askForMissing() {
        for (String peer : connectTo) {
            if (!linked.test(peer)) ask(peer);
        }
    }

    /** Asks the rendezvous for a path to {@code peer} (not to itself, not once closed). */
    void ask(String peer) {
        if (closed || peer.equals(selfId)) return;
        if (!rendezvous.send(new RequestP2pConnection(peer))) return;
        log.info(selfId, "asked the rendezvous for a path to " + peer);
        if (!connectTo.contains(peer)) return;
        long asked = scheduler.nowMillis();
        if (waiting.putIfAbsent(peer, asked) == null) {
            scheduler.schedule(ANSWER_WAIT_MILLIS, () -> checkAnswered(peer, asked));
        }
    }

    /**
     * No offer and no error for {@code peer} since {@code asked}: the rendezvous does not introduce
     * workers (the original service does not), or lost the question. Said once, and in /status.
     */
    private void checkAnswered(String peer, long asked) {
        if (closed || !waiting.remove(peer, asked) || linked.test(peer)) return;
        unansweredPeers.add(peer);
        if (!saidSilent) {
            saidSilent = true;
            log.warn(selfId, "the rendezvous did not answer the request for a path to " + peer + " within "
                    + ANSWER_WAIT_MILLIS / 1000 + " s (neither an offer nor an error): it may not introduce workers, as the"
                    + " original rendezvous does not; P2P_CONNECT_TO needs a holepunch rendezvous (logged once; /status: introductions)");
        }
    }

    /** The configured peers whose last question the rendezvous left unanswered. */
    Set<String> unanswered() {
        return Set.copyOf(unansweredPeers);
    }

    private void heard(String peer) {
        waiting.remove(peer);
        unansweredPeers.remove(peer);
    }

    /**
     * The rendezvous could not introduce {@code peer}: a configured peer is asked for again later.
     * Returns the refusals in a row (0 for a peer not configured).
     */
    int refused(String peer) {
        heard(peer);
        if (!connectTo.contains(peer)) return 0;
        int n = unanswered.merge(peer, 1, Integer::sum);
        if (askingAgain.add(peer)) {
            scheduler.schedule(Backoff.delay(n - 1, ASK_AGAIN_MILLIS, ASK_AGAIN_CAP_MILLIS), () -> {
                askingAgain.remove(peer);
                if (!linked.test(peer)) ask(peer);
            });
        }
        return n;
    }

    /** An offer for {@code peer} came: its refusals in a row start again from none. */
    void answered(String peer) {
        heard(peer);
        unanswered.remove(peer);
    }

    void close() {
        closed = true;
    }
}
