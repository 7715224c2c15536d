package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.limits.TokenBucket;
import holepunch.log.Log;
import holepunch.metrics.Metrics;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import holepunch.protocol.P2pConnectionDecline;
import holepunch.protocol.P2pConnectionError;
import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.P2pConnectionStatus;
import holepunch.protocol.RequestP2pConnection;
import holepunch.protocol.Role;

/**
 * Introduces workers to each other (README: Peer connections). {@code request_p2p_connection} gets a
 * {@code p2p_connection_offer} to both workers, carrying a fresh per-pair key for authenticating
 * probes and a start delay computed from each worker's WebSocket round-trip time, so both sides'
 * first probes leave at about the same moment; or a {@code p2p_connection_error} to the requester.
 *
 * <p>A live pair belongs to the two sessions it introduced and lives exactly as long as both do;
 * the relay and declines work on live pairs only. Each worker takes part in at most
 * MAX_PAIRS_PER_WORKER live pairs, and receives at most P2P_OFFERS_PER_MIN introductions, so that
 * nobody can make a worker probe on someone's behalf without bound or push others' pairs out.
 * The last pairs and the outcome each side reports are kept apart, for the debug list only
 * ({@link PairHistory}).
 */
final class PeerBroker {
    /** Added to the slower side's one-way delay, so both offers have arrived before anyone starts. */
    static final long START_MARGIN_MILLIS = 150;
    /** Assumed round trip for a session whose first ping is not answered yet. */
    static final long DEFAULT_RTT_MILLIS = 100;
    static final SecureRandom RANDOM = new SecureRandom();

    private final Registry registry;
    private final Log log;
    private final Metrics metrics;
    private final RelayMeter relayMeter;
    private final Relay relay;
    private final int offersPerMinute;
    private final int maxPairsPerWorker;
    /** Live pairs by id; guarded by {@code this}. */
    private final Map<String, LivePair> live = new HashMap<>();
    /** The same pairs by their id's 64 bits, read without the lock by the relay (one lookup per datagram). */
    private final Map<Long, LivePair> liveByNumber = new java.util.concurrent.ConcurrentHashMap<>();
    /** Each session's live pairs; guarded by {@code this}. */
    private final Map<WorkerEntry, List<LivePair>> bySession = new HashMap<>();
    private final FleetStats stats;
    private final PairHistory history;

    /** One side of a pair: a session of this instance, or a worker held by another instance of the cluster. */
    sealed interface Party permits Here, Elsewhere {
        String id();
    }

    record Here(WorkerEntry w) implements Party {
        public String id() {
            return w.id;
        }
    }

    record Elsewhere(String id, String instance) implements Party {
    }

    /** How this broker reaches the other instances of a cluster (messages on their channels). */
    interface Cluster {
        void send(String instance, Map<String, Object> message);

        /** The other instance holding {@code workerId}'s session, or null (blocking: a Redis lookup). */
        String holderOf(String workerId);
    }

    private volatile Cluster cluster;
    private volatile ClusterPairs clusterPairs;

    void cluster(Cluster c) {
        cluster = c;
        clusterPairs = new ClusterPairs(this, c, registry, log, metrics);
    }

    Cluster clusterLink() {
        return cluster;
    }

    Relay relay() {
        return relay;
    }

    RelayMeter relayMeter() {
        return relayMeter;
    }

    int offersPerMinute() {
        return offersPerMinute;
    }

    int maxPairsPerWorker() {
        return maxPairsPerWorker;
    }

    synchronized LivePair live(String pairId) {
        return pairId == null ? null : live.get(pairId);
    }

    /** Every live pair (for the sweep of dead instances). */
    synchronized List<LivePair> livePairs() {
        return new ArrayList<>(live.values());
    }

    /** An outcome a worker on another instance reported for a pair that spans both. */
    void recordOutcome(String pairId, String reporter, Map<String, Object> outcome) {
        history.reported(pairId, reporter, outcome);
    }

    /**
     * A pair between two parties, as introduced; at least one of them is a session here. {@code number}
     * is the id's 64 bits (the binary relay names pairs by it); {@code relay} its relay account.
     */
    record LivePair(String pairId, long number, Party initiator, Party responder, RelayMeter.Pair relay) {
        LivePair(String pairId, Party initiator, Party responder, RelayMeter.Pair relay) {
            this(pairId, numberOf(pairId), initiator, responder, relay);
        }

        /** A pair id's 64 bits (16 hex digits); -1 for one that is not (never looked up by number then). */
        static long numberOf(String pairId) {
            try {
                return pairId.length() == 16 ? Long.parseUnsignedLong(pairId, 16) : -1;
            } catch (NumberFormatException e) {
                return -1;
            }
        }

        Party other(WorkerEntry w) {
            return is(initiator, w) ? responder : is(responder, w) ? initiator : null;
        }

        private static boolean is(Party p, WorkerEntry w) {
            return p instanceof Here h && h.w() == w;
        }
    }

    PeerBroker(Registry registry, Log log, Metrics metrics, RendezvousConfig config) {
        this.registry = registry;
        this.log = log;
        this.metrics = metrics;
        this.relayMeter = new RelayMeter(config.relayBytesPerSec(), config.relayTotalBytesPerSec(), System.nanoTime());
        this.stats = new FleetStats(metrics, () -> metrics.value("holepunch_relay_bytes_total"), System::currentTimeMillis);
        this.history = new PairHistory(stats, relayMeter::admitted, System::currentTimeMillis);
        this.offersPerMinute = config.offersPerMinute();
        this.maxPairsPerWorker = config.maxPairsPerWorker();
        metrics.counterFamily("holepunch_offers_total", "Peer introductions made (p2p_connection_offer pairs).");
        metrics.counterFamily("holepunch_p2p_errors_total", "request_p2p_connection refused (p2p_connection_error).");
        metrics.counterFamily("holepunch_p2p_declined_total", "Introductions a worker declined (p2p_connection_decline).");
        metrics.counterFamily("holepunch_p2p_outcomes_total", "Outcomes reported by workers, by state.");
        metrics.gauge("holepunch_live_pairs", "Pairs whose two sessions are both open.", this::liveCount);
        this.relay = new Relay(this, log, metrics);
    }

    /** The per-target limit on introductions: P2P_OFFERS_PER_MIN, a third of it at once. */
    TokenBucket newOfferBucket() {
        return new TokenBucket(offersPerMinute / 60.0, Math.max(1, offersPerMinute / 3), System.nanoTime());
    }

    private synchronized int liveCount() {
        return live.size();
    }

    void request(WorkerEntry requester, RequestP2pConnection message) {
        String target = message.targetWorkerId();
        WorkerEntry peer = target == null ? null : registry.get(target);
        String error = null;
        if (target == null || target.isEmpty()) {
            error = "target_worker_id is missing: send the id of the worker to connect to";
        } else if (target.equals(requester.id)) {
            error = "cannot connect a worker to itself";
        } else if (peer == null) {
            error = "unknown worker id '" + Log.excerpt(target) + "': it is not connected to this rendezvous";
        } else if (requester.endpoint() == null) {
            error = "report your own UDP endpoint (update_udp_endpoint) before asking for a peer";
        } else if (peer.endpoint() == null) {
            error = "worker '" + target + "' has not reported a UDP endpoint yet";
        }
        String pairId = null;
        if (error == null) {
            byte[] id = new byte[8];
            RANDOM.nextBytes(id);
            pairId = HexFormat.of().formatHex(id);
            error = open(pairId, requester, peer);
        }
        Cluster c = cluster;
        if (error != null && peer == null && c != null && target != null && !target.isEmpty() && !target.equals(requester.id)) {
            lookUp(c, requester, target, error);
            return;
        }
        if (error != null) {
            refuse(requester, target, error);
            return;
        }
        byte[] key = new byte[32];
        RANDOM.nextBytes(key);
        String pairKey = Base64.getEncoder().encodeToString(key);
        long oneWayA = oneWayMillis(requester);
        long oneWayB = oneWayMillis(peer);
        long base = Math.max(oneWayA, oneWayB) + START_MARGIN_MILLIS;
        WorkerEntry.Endpoint a = requester.endpoint();
        WorkerEntry.Endpoint b = peer.endpoint();
        requester.connection.sendText(offer(pairId, pairKey, Role.INITIATOR, peer, b, base - oneWayA).encodeUtf8());
        peer.connection.sendText(offer(pairId, pairKey, Role.RESPONDER, requester, a, base - oneWayB).encodeUtf8());
        metrics.inc("holepunch_offers_total");
        log.info(requester.id, "introduced to " + peer.id + " (pair " + pairId + "): " + a + " <-> " + b
                + ", start in " + (base - oneWayA) + "/" + (base - oneWayB) + " ms");
    }

    /** Lookups of a target on other instances (a Redis round trip or two each): at most this many at once in all. */
    static final int LOOKUPS_IN_FLIGHT = 32;
    /** A target no instance held is answered from memory this long (the same unknown id asked again and again). */
    static final long NOT_FOUND_MILLIS = 2000;
    private final java.util.concurrent.Semaphore lookups = new java.util.concurrent.Semaphore(LOOKUPS_IN_FLIGHT);
    private final java.util.LinkedHashMap<String, Long> notFound = new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > 10_000;
        }
    };

    /**
     * Finds which instance holds {@code target} (off the session's loop) and asks it for the introduction;
     * bounded per session ({@link WorkerEntry#lookups}), in total ({@value #LOOKUPS_IN_FLIGHT} at once) and for
     * the same unknown id ({@value #NOT_FOUND_MILLIS} ms from memory). Every request gets its answer.
     */
    private void lookUp(Cluster c, WorkerEntry requester, String target, String unknown) {
        long now = System.nanoTime();
        synchronized (notFound) {
            Long at = notFound.get(target);
            if (at != null && now - at < NOT_FOUND_MILLIS * 1_000_000L) {
                refuse(requester, target, unknown);
                return;
            }
        }
        if (!requester.lookups.take(1, now)) {
            refuse(requester, target, "too many requests for workers held by other instances: at most "
                    + (int) WorkerEntry.LOOKUPS_PER_SEC + " a second; ask again in a moment");
            return;
        }
        if (!lookups.tryAcquire()) {
            refuse(requester, target, "the rendezvous is busy finding other workers across its instances; ask again in a moment");
            return;
        }
        Thread.ofVirtual().start(() -> {
            try {
                String holder = c.holderOf(target);
                if (holder == null) {
                    synchronized (notFound) {
                        notFound.put(target, System.nanoTime());
                    }
                    refuse(requester, target, unknown);
                } else {
                    clusterPairs.request(requester, target, holder);
                }
            } finally {
                lookups.release();
            }
        });
    }

    void refuse(WorkerEntry requester, String target, String error) {
        metrics.inc("holepunch_p2p_errors_total");
        // A peer that is not connected, or has not reported its endpoint, yet: the usual race while
        // workers start (the requester asks again). Anything else is worth a warning.
        boolean notYet = error.startsWith("unknown worker id") || error.contains("has not reported a UDP endpoint yet");
        if (notYet) log.info(requester.id, "request_p2p_connection refused: " + error);
        else log.warn(requester.id, "request_p2p_connection refused: " + error);
        requester.connection.sendText(new P2pConnectionError(target, null, error).encodeUtf8());
    }

    /** A message from instance {@code from} about pairs that span it and this one ({@link ClusterPairs}). */
    void onCluster(String from, Map<String, Object> m) {
        ClusterPairs c = clusterPairs;
        if (c != null) c.onMessage(from, m);
    }

    /** Pairs that span an instance no longer alive end here too (its workers' sessions are gone with it). */
    void instancesAlive(java.util.Set<String> alive) {
        ClusterPairs c = clusterPairs;
        if (c != null) c.instancesAlive(alive);
    }

    /** Registers a live pair; the reason it cannot be, or null. */
    synchronized String open(String pairId, WorkerEntry requester, WorkerEntry peer) {
        if (pairsOf(requester).size() >= maxPairsPerWorker) {
            return "you take part in " + maxPairsPerWorker + " live pairs already (MAX_PAIRS_PER_WORKER)";
        }
        if (pairsOf(peer).size() >= maxPairsPerWorker) {
            return "worker '" + peer.id + "' takes part in its maximum of " + maxPairsPerWorker + " live pairs (MAX_PAIRS_PER_WORKER)";
        }
        if (!peer.offers.take(1, System.nanoTime())) {
            return "too many introductions to worker '" + peer.id + "': at most " + offersPerMinute + " a minute (P2P_OFFERS_PER_MIN)";
        }
        if (!requester.connection.isOpen() || !peer.connection.isOpen()) return "worker '" + peer.id + "' is not connected";
        LivePair fresh = new LivePair(pairId, new Here(requester), new Here(peer), newRelayBucket());
        add(fresh);
        supersede(requester, peer, fresh);
        return null;
    }

    /**
     * A new pair of the same two workers supersedes their earlier ones: the one before it stays
     * live (its keys carry traffic while the new pair gets its own), older ones end. So retries never
     * pile up against MAX_PAIRS_PER_WORKER. The caller holds this broker's lock.
     */
    private void supersede(WorkerEntry a, WorkerEntry b, LivePair fresh) {
        List<LivePair> same = new ArrayList<>();
        for (LivePair p : pairsOf(a)) {
            if (p != fresh && p.other(a) instanceof Here h && h.w() == b) same.add(p);
        }
        for (int i = 0; i < same.size() - 1; i++) closePair(same.get(i));
    }

    RelayMeter.Pair newRelayBucket() {
        return relayMeter.newPair(System.nanoTime());
    }

    /** Registers a pair (the caller holds this broker's lock). */
    void add(LivePair pair) {
        add(pair, null);
    }

    /** As above; {@code elsewhereNat}: the NAT mapping of the side another instance holds, when known. */
    void add(LivePair pair, String elsewhereNat) {
        live.put(pair.pairId(), pair);
        if (pair.number() != -1) liveByNumber.put(pair.number(), pair);
        for (Party p : List.of(pair.initiator(), pair.responder())) {
            if (p instanceof Here h) bySession.computeIfAbsent(h.w(), k -> new ArrayList<>()).add(pair);
        }
        String initiatorNat = pair.initiator() instanceof Here ? natOf(pair.initiator()) : elsewhereNat;
        String responderNat = pair.responder() instanceof Here ? natOf(pair.responder()) : elsewhereNat;
        history.opened(pair.pairId(), pair.initiator().id(), pair.responder().id(), initiatorNat, responderNat, pair.relay(),
                pair.initiator() instanceof Here);     // a pair spanning two instances is counted once, where its initiator is
    }

    /** A party's reported NAT mapping, when its session is here (null otherwise). */
    private static String natOf(Party p) {
        return p instanceof Here h ? h.w().natMapping : null;
    }

    /** The caller holds this broker's lock. */
    List<LivePair> pairsOf(WorkerEntry w) {
        return bySession.getOrDefault(w, List.of());
    }

    /** A session ended: its pairs end with it (on the other instance too, for a pair that spans two). */
    synchronized void sessionEnded(WorkerEntry w) {
        List<LivePair> pairs = bySession.remove(w);
        if (pairs == null) return;
        for (LivePair p : pairs) {
            forget(p);
            Party other = p.other(w);
            if (other instanceof Here h) {
                List<LivePair> others = bySession.get(h.w());
                if (others != null) {
                    others.remove(p);
                    if (others.isEmpty()) bySession.remove(h.w());
                }
            } else if (other instanceof Elsewhere e && cluster != null) {
                cluster.send(e.instance(), Json.obj("op", "pair_ended", "pair", p.pairId()));
            }
        }
    }

    /** Removes a pair from both maps (the caller holds this broker's lock); false when it was not live. */
    private boolean forget(LivePair p) {
        if (live.remove(p.pairId()) == null) return false;
        liveByNumber.remove(p.number(), p);
        return true;
    }

    synchronized LivePair livePair(String pairId, WorkerEntry member) {
        LivePair p = pairId == null ? null : live.get(pairId);
        return p != null && p.other(member) != null ? p : null;
    }

    /** The live pair numbered {@code number} that {@code member} takes part in, or null (no lock: once per relayed datagram). */
    LivePair livePair(long number, WorkerEntry member) {
        LivePair p = liveByNumber.get(number);
        return p != null && p.other(member) != null ? p : null;
    }

    synchronized void closePair(LivePair p) {
        if (!forget(p)) return;
        for (Party party : List.of(p.initiator(), p.responder())) {
            if (!(party instanceof Here h)) continue;
            List<LivePair> list = bySession.get(h.w());
            if (list != null) {
                list.remove(p);
                if (list.isEmpty()) bySession.remove(h.w());
            }
        }
    }

    /** Sends a text message to a party: its session here, or through its instance. */
    void send(Party p, String text) {
        if (p instanceof Here h) {
            h.w().connection.sendText(text);
        } else if (p instanceof Elsewhere e && cluster != null) {
            cluster.send(e.instance(), Json.obj("op", "deliver", "worker", e.id(), "text", text));
        }
    }

    static long oneWayMillis(WorkerEntry w) {
        long rtt = w.connection.rttNanos();
        return (rtt < 0 ? DEFAULT_RTT_MILLIS : rtt / 1_000_000) / 2;
    }

    static P2pConnectionOffer offer(String pairId, String key, Role role, WorkerEntry peer, WorkerEntry.Endpoint at,
                                            long startInMillis) {
        return new P2pConnectionOffer(peer.id, at.ip(), at.port(), peer.hostCandidates, peer.natMapping, pairId, key, role, startInMillis,
                peer.identity, peer.mappedEndpoint, peer.observedIp, peer.relayCandidate, peer.identity != null && peer.ephemeralKey, peer.probeNonce);
    }

    /**
     * {@code p2p_connection_decline}: a worker will not take part in a pair (its P2P_ALLOW does not
     * name the peer). The pair ends, and the other worker hears why as a {@code p2p_connection_error}.
     */
    void decline(WorkerEntry decliner, P2pConnectionDecline message) {
        LivePair pair = livePair(message.pairId(), decliner);
        if (pair == null) {
            log.warn(decliner.id, "p2p_connection_decline: field 'pair_id' names no pair of this worker");
            return;
        }
        closePair(pair);
        String why = message.detail();
        metrics.inc("holepunch_p2p_declined_total");
        Party other = pair.other(decliner);
        log.info(decliner.id, "declined pair " + pair.pairId() + " with " + other.id() + (why == null ? "" : ": " + why));
        if (other instanceof Elsewhere e && cluster != null) cluster.send(e.instance(), Json.obj("op", "pair_ended", "pair", pair.pairId()));
        send(other, new P2pConnectionError(decliner.id, pair.pairId(), "worker '" + decliner.id + "' declined the connection"
                + (why == null ? "" : ": " + why)).encode());
    }

    /** {@code p2p_connection_status}: a worker reports how its side of a pair ended up. */
    void status(WorkerEntry reporter, P2pConnectionStatus message) {
        String pairId = message.pairId();
        Map<String, Object> outcome = Json.obj("state", message.state().wire(), "remote", message.remote(),
                "rtt_ms", message.rttMs(), "detail", message.detail(),
                "technique", message.technique() == null ? null : FleetStats.technique(message.technique()), "at", System.currentTimeMillis());
        if (!history.reported(pairId, reporter.id, outcome)) {
            log.warn(reporter.id, "p2p_connection_status: field 'pair_id' names no pair of this worker");
            return;
        }
        LivePair spanning = livePair(pairId, reporter);
        if (spanning != null && spanning.other(reporter) instanceof Elsewhere e && cluster != null) {
            cluster.send(e.instance(), Json.obj("op", "status", "pair", pairId, "worker", reporter.id, "outcome", outcome));
        }
        metrics.inc("holepunch_p2p_outcomes_total", "state", message.state().wire());
        log.info(reporter.id, "pair " + pairId + ": " + message.state().wire() + (message.remote() == null ? "" : " via " + message.remote())
                + (message.detail() == null ? "" : " (" + message.detail() + ")"));
    }

    /** {@code /debug/pairs}: the newest pairs that match {@code query}, at most {@code limit}. */
    Map<String, Object> searchPairs(String query, int limit) {
        return history.search(query, limit, id -> liveByNumber.containsKey(LivePair.numberOf(id)));   // ids the broker made: 16 hex digits
    }

    FleetStats stats() {
        return stats;
    }

    /** Live pairs whose initiator is held here (a pair spanning two instances counts once in a cluster's sum). */
    synchronized int livePairCount() {
        int n = 0;
        for (LivePair p : live.values()) if (p.initiator() instanceof Here) n++;
        return n;
    }

    /** Live pairs per worker id of a session here. */
    synchronized Map<String, Integer> livePairsPerWorker() {
        Map<String, Integer> out = new HashMap<>();
        bySession.forEach((w, pairs) -> out.put(w.id, pairs.size()));
        return out;
    }

    List<Map<String, Object>> pairsJson() {
        java.util.Set<String> liveIds;
        synchronized (this) {        // a copy: the history's lock is never taken before this broker's
            liveIds = new java.util.HashSet<>(live.keySet());
        }
        return history.json(liveIds::contains);
    }
}
