package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.protocol.P2pConnectionError;
import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.RelayData;
import holepunch.protocol.RelayError;
import holepunch.protocol.Role;
import holepunch.rendezvous.PeerBroker.Elsewhere;
import holepunch.rendezvous.PeerBroker.Here;
import holepunch.rendezvous.PeerBroker.LivePair;
import holepunch.rendezvous.PeerBroker.Party;

import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The half of {@link PeerBroker} for pairs that span two instances of a cluster. The requester's
 * instance (A) asks the target's instance (B) with the requester's half of an offer
 * ({@code introduce}); B applies the target's limits, opens its half of the pair, sends the target
 * its offer and returns the requester's ({@code offer}); A opens its half and delivers it. Relay
 * ({@code relay}, metered once per pair at the responder's instance), declines and outcomes
 * ({@code deliver}, {@code status}) and session ends ({@code pair_ended}) travel the same way;
 * pairs spanning an instance that died end with it. The pairs themselves stay in the broker, under
 * its lock.
 */
final class ClusterPairs {
    /** An introduction the target's instance has not answered within this gets a p2p_connection_error (never silence). */
    static final long ANSWER_MILLIS = 3000;
    /** Introductions waiting for another instance's answer, at most (each is a session's request, itself rate-limited). */
    static final int MAX_WAITING = 10_000;

    /** An introduction asked of another instance, not answered yet. */
    private record Waiting(WorkerEntry requester, String target, String instance) {
    }

    private final Map<String, Waiting> waiting = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.ScheduledExecutorService timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().daemon().name("cluster-introductions").unstarted(r));
    private final PeerBroker broker;
    private final PeerBroker.Cluster cluster;
    private final Registry registry;
    private final Log log;
    private final Metrics metrics;

    ClusterPairs(PeerBroker broker, PeerBroker.Cluster cluster, Registry registry, Log log, Metrics metrics) {
        this.broker = broker;
        this.cluster = cluster;
        this.registry = registry;
        this.log = log;
        this.metrics = metrics;
    }

    /** Asks {@code instance}, which holds {@code target}, to introduce it to {@code requester}. */
    void request(WorkerEntry requester, String target, String instance) {
        String error = null;
        synchronized (broker) {
            if (broker.pairsOf(requester).size() >= broker.maxPairsPerWorker()) {
                error = "you take part in " + broker.maxPairsPerWorker() + " live pairs already (MAX_PAIRS_PER_WORKER)";
            }
        }
        if (error == null && requester.endpoint() == null) error = "report your own UDP endpoint (update_udp_endpoint) before asking for a peer";
        if (error == null && waiting.size() >= MAX_WAITING) {
            error = "the rendezvous is waiting for other instances' answers to " + MAX_WAITING + " introductions already; ask again";
        }
        if (error != null) {
            broker.refuse(requester, target, error);
            return;
        }
        byte[] id = new byte[8];
        PeerBroker.RANDOM.nextBytes(id);
        String pairId = HexFormat.of().formatHex(id);
        byte[] key = new byte[32];
        PeerBroker.RANDOM.nextBytes(key);
        String card = PeerBroker.offer(pairId, Base64.getEncoder().encodeToString(key), Role.RESPONDER, requester, requester.endpoint(), 0).encode();
        waiting.put(pairId, new Waiting(requester, target, instance));
        timer.schedule(() -> unanswered(pairId), ANSWER_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS);
        cluster.send(instance, Json.obj("op", "introduce", "pair", pairId, "target", target, "card", card,
                "one_way_ms", PeerBroker.oneWayMillis(requester)));
        log.info(requester.id, "asked instance " + instance + " to introduce " + target + " (pair " + pairId + ")");
    }

    /** The target's instance did not answer in time (it may have died since the lookup): the requester is told. */
    private void unanswered(String pairId) {
        Waiting w = waiting.remove(pairId);
        if (w == null || !w.requester().connection.isOpen()) return;
        metrics.inc("holepunch_refused_total", "reason", "cluster_unanswered");
        broker.refuse(w.requester(), w.target(), "worker '" + w.target() + "' is held by rendezvous instance " + w.instance()
                + ", which did not answer within " + ANSWER_MILLIS + " ms (it may have stopped); ask again");
    }

    /** A message from instance {@code from} about pairs that span it and this one. */
    void onMessage(String from, Map<String, Object> m) {
        String op = String.valueOf(m.get("op"));
        String pairId = m.get("pair") instanceof String p ? p : null;
        switch (op) {
            case "introduce" -> introduceFromElsewhere(from, m, pairId);
            case "offer" -> {
                if (pairId == null) return;
                if (waiting.remove(pairId) == null) {           // answered late (the requester was told), or never asked: its half ends
                    cluster.send(from, Json.obj("op", "pair_ended", "pair", pairId));
                    return;
                }
                WorkerEntry requester = m.get("worker") instanceof String w ? registry.get(w) : null;
                String peer = m.get("peer") instanceof String p ? p : null;
                if (pairId == null || peer == null) return;
                if (requester == null || !requester.connection.isOpen()) {
                    cluster.send(from, Json.obj("op", "pair_ended", "pair", pairId));
                    return;
                }
                String peerNat = null;         // the peer's mapping, from the offer its instance wrote (for the fleet's figures)
                try {
                    if (Json.parseObject(String.valueOf(m.get("text"))).get("peer_nat_mapping") instanceof String n) peerNat = n;
                } catch (Json.ParseException e) {
                    peerNat = null;
                }
                synchronized (broker) {
                    broker.add(new LivePair(pairId, new Here(requester), new Elsewhere(peer, from), broker.newRelayBucket()), peerNat);
                }
                requester.connection.sendText(String.valueOf(m.get("text")));
                metrics.inc("holepunch_offers_total");
                log.info(requester.id, "introduced to " + peer + " on instance " + from + " (pair " + pairId + ")");
            }
            case "deliver" -> {
                if (pairId != null && waiting.remove(pairId) == null) return;     // an introduction's refusal, after its time ran out
                WorkerEntry w = m.get("worker") instanceof String id ? registry.get(id) : null;
                if (w != null && m.get("text") instanceof String text) w.connection.sendText(text);
            }
            case "relay" -> broker.relay().fromCluster(from, m);
            case "status" -> {
                if (!(m.get("worker") instanceof String reporter) || !(m.get("outcome") instanceof Map<?, ?> outcome)) return;
                Map<String, Object> copy = new LinkedHashMap<>();
                outcome.forEach((k, v) -> copy.put(String.valueOf(k), v));
                broker.recordOutcome(pairId, reporter, copy);
            }
            case "pair_ended" -> {
                LivePair pair;
                synchronized (broker) {
                    pair = broker.live(pairId);
                }
                boolean spans = pair != null && (pair.initiator() instanceof Elsewhere a && a.instance().equals(from)
                        || pair.responder() instanceof Elsewhere b && b.instance().equals(from));
                if (spans) broker.closePair(pair);
            }
            default -> log.warn(null, "cluster: unknown message '" + Log.excerpt(op) + "' from instance " + Log.excerpt(from));
        }
    }

    /** Pairs that span an instance no longer alive end here too (its workers' sessions are gone with it). */
    void instancesAlive(java.util.Set<String> alive) {
        List<LivePair> dead = new ArrayList<>();
        for (LivePair p : broker.livePairs()) {
            if (p.initiator() instanceof Elsewhere a && !alive.contains(a.instance())
                    || p.responder() instanceof Elsewhere b && !alive.contains(b.instance())) {
                dead.add(p);
            }
        }
        for (LivePair p : dead) broker.closePair(p);
        if (!dead.isEmpty()) log.info(null, "cluster: ended " + dead.size() + " pairs whose other instance is gone");
    }

    private void introduceFromElsewhere(String from, Map<String, Object> m, String pairId) {
        P2pConnectionOffer card;
        try {
            card = (P2pConnectionOffer) holepunch.protocol.Message.parse(Json.parseObject(String.valueOf(m.get("card"))));
        } catch (Exception e) {
            log.warn(null, "cluster: unreadable introduction from instance " + Log.excerpt(from) + ": " + e.getMessage());
            return;
        }
        String target = m.get("target") instanceof String t ? t : "";
        WorkerEntry peer = registry.get(target);
        String error = null;
        if (peer == null) {
            error = "unknown worker id '" + Log.excerpt(target) + "': it is not connected to this rendezvous";
        } else if (peer.endpoint() == null) {
            error = "worker '" + target + "' has not reported a UDP endpoint yet";
        } else {
            synchronized (broker) {
                if (broker.pairsOf(peer).size() >= broker.maxPairsPerWorker()) {
                    error = "worker '" + peer.id + "' takes part in its maximum of " + broker.maxPairsPerWorker() + " live pairs (MAX_PAIRS_PER_WORKER)";
                } else if (!peer.offers.take(1, System.nanoTime())) {
                    error = "too many introductions to worker '" + peer.id + "': at most " + broker.offersPerMinute() + " a minute (P2P_OFFERS_PER_MIN)";
                } else {
                    broker.add(new LivePair(card.pairId(), new Elsewhere(card.peerWorkerId(), from), new Here(peer), broker.newRelayBucket()),
                            card.peerNatMapping());
                }
            }
        }
        if (error != null) {
            metrics.inc("holepunch_p2p_errors_total");
            cluster.send(from, Json.obj("op", "deliver", "pair", card.pairId(), "worker", card.peerWorkerId(),
                    "text", new P2pConnectionError(target, null, error).encode()));
            return;
        }
        long oneWayA = m.get("one_way_ms") instanceof Number n ? Math.clamp(n.longValue(), 0, 5000) : PeerBroker.DEFAULT_RTT_MILLIS / 2;
        long oneWayB = PeerBroker.oneWayMillis(peer);
        long base = Math.max(oneWayA, oneWayB) + PeerBroker.START_MARGIN_MILLIS;
        peer.connection.sendText(new P2pConnectionOffer(card.peerWorkerId(), card.peerUdpIp(), card.peerUdpPort(), card.peerHostCandidates(),
                card.peerNatMapping(), card.pairId(), card.pairKey(), Role.RESPONDER, base - oneWayB, card.peerIdentity(),
                card.peerMappedEndpoint(), card.peerObservedIp(), card.peerRelayCandidate(), card.peerKeyEphemeral(), card.peerProbeNonce()).encode());
        String forRequester = PeerBroker.offer(card.pairId(), card.pairKey(), Role.INITIATOR, peer, peer.endpoint(), base - oneWayA).encode();
        cluster.send(from, Json.obj("op", "offer", "pair", card.pairId(), "worker", card.peerWorkerId(), "peer", peer.id, "text", forRequester));
        log.info(peer.id, "introduced to " + card.peerWorkerId() + " on instance " + from + " (pair " + card.pairId() + "), start in "
                + (base - oneWayA) + "/" + (base - oneWayB) + " ms");
    }
}
