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
        if (rendezvous.send(new RequestP2pConnection(peer))) log.info(selfId, "asked the rendezvous for a path to " + peer);
    }

    /** The rendezvous could not introduce {@code peer}: a configured peer is asked for again later. */
    void refused(String peer) {
        if (!connectTo.contains(peer)) return;
        int n = unanswered.merge(peer, 1, Integer::sum);
        if (askingAgain.add(peer)) {
            scheduler.schedule(Backoff.delay(n - 1, ASK_AGAIN_MILLIS, ASK_AGAIN_CAP_MILLIS), () -> {
                askingAgain.remove(peer);
                if (!linked.test(peer)) ask(peer);
            });
        }
    }

    /** An offer for {@code peer} came: its refusals in a row start again from none. */
    void answered(String peer) {
        unanswered.remove(peer);
    }

    void close() {
        closed = true;
    }
}
