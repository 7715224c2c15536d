package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.limits.TokenBucket;
import holepunch.log.Log;
import holepunch.metrics.Metrics;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Introduces workers to each other (PROTOCOL.md Part 3). {@code request_p2p_connection} gets a
 * {@code p2p_connection_offer} to both workers, carrying a fresh per-pair key for authenticating
 * probes and a start delay computed from each worker's WebSocket round-trip time, so both sides'
 * first probes leave at about the same moment; or a {@code p2p_connection_error} to the requester.
 * The last {@value #MAX_PAIRS} pairs and the outcome each side reports are kept for the debug list.
 */
final class PeerBroker {
    static final int MAX_PAIRS = 1000;
    /** Added to the slower side's one-way delay, so both offers have arrived before anyone starts. */
    static final long START_MARGIN_MILLIS = 150;
    /** Assumed round trip for a session whose first ping is not answered yet. */
    static final long DEFAULT_RTT_MILLIS = 100;
    private static final Set<String> STATES = Set.of("connecting", "direct", "relay", "failed");
    private static final SecureRandom RANDOM = new SecureRandom();

    static final int MAX_RELAY_BYTES = 1500;

    private final Registry registry;
    private final Log log;
    private final Metrics metrics;
    private final int relayBytesPerSec;
    private final LinkedHashMap<String, PairRecord> pairs = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, PairRecord> eldest) {
            return size() > MAX_PAIRS;
        }
    };

    /** One brokered pair; outcomes by worker id. */
    record PairRecord(String pairId, String initiator, String responder, long createdMillis, Map<String, Map<String, Object>> outcomes,
                      TokenBucket relay) {
    }

    PeerBroker(Registry registry, Log log, Metrics metrics, int relayBytesPerSec) {
        this.registry = registry;
        this.log = log;
        this.metrics = metrics;
        this.relayBytesPerSec = relayBytesPerSec;
        metrics.counterFamily("holepunch_relay_bytes_total", "Bytes relayed between the workers of a pair.");
        metrics.counterFamily("holepunch_relay_dropped_total", "relay_data messages refused, by reason.");
        metrics.counterFamily("holepunch_offers_total", "Peer introductions made (p2p_connection_offer pairs).");
        metrics.counterFamily("holepunch_p2p_errors_total", "request_p2p_connection refused (p2p_connection_error).");
        metrics.counterFamily("holepunch_p2p_outcomes_total", "Outcomes reported by workers, by state.");
    }

    void request(WorkerEntry requester, Map<String, Object> message) {
        Object t = message.get("target_worker_id");
        String target = t instanceof String s ? s : null;
        WorkerEntry peer = target == null ? null : registry.get(target);
        String error = null;
        if (target == null || target.isEmpty()) {
            error = "target_worker_id is missing: send the id of the worker to connect to";
        } else if (target.equals(requester.id)) {
            error = "cannot connect a worker to itself";
        } else if (peer == null) {
            error = "unknown worker id '" + RendezvousProtocol.excerpt(target) + "': it is not connected to this rendezvous";
        } else if (requester.stunIp == null) {
            error = "report your own UDP endpoint (update_udp_endpoint) before asking for a peer";
        } else if (peer.stunIp == null) {
            error = "worker '" + target + "' has not reported a UDP endpoint yet";
        }
        if (error != null) {
            metrics.inc("holepunch_p2p_errors_total");
            log.warn(requester.id, "request_p2p_connection refused: " + error);
            requester.connection.sendText(Json.write(Json.obj("type", "p2p_connection_error",
                    "target_worker_id", t instanceof String ? t : null, "detail", error)));
            return;
        }
        byte[] id = new byte[8];
        byte[] key = new byte[32];
        RANDOM.nextBytes(id);
        RANDOM.nextBytes(key);
        String pairId = HexFormat.of().formatHex(id);
        String pairKey = Base64.getEncoder().encodeToString(key);
        long oneWayA = oneWayMillis(requester);
        long oneWayB = oneWayMillis(peer);
        long base = Math.max(oneWayA, oneWayB) + START_MARGIN_MILLIS;
        synchronized (pairs) {
            pairs.put(pairId, new PairRecord(pairId, requester.id, peer.id, System.currentTimeMillis(), new LinkedHashMap<>(),
                    new TokenBucket(relayBytesPerSec, 2.0 * relayBytesPerSec, System.nanoTime())));
        }
        requester.connection.sendText(Json.write(offer(pairId, pairKey, "initiator", peer, base - oneWayA)));
        peer.connection.sendText(Json.write(offer(pairId, pairKey, "responder", requester, base - oneWayB)));
        metrics.inc("holepunch_offers_total");
        log.info(requester.id, "introduced to " + peer.id + " (pair " + pairId + "): " + requester.stunIp + ":" + requester.stunPort
                + " <-> " + peer.stunIp + ":" + peer.stunPort + ", start in " + (base - oneWayA) + "/" + (base - oneWayB) + " ms");
    }

    private static long oneWayMillis(WorkerEntry w) {
        long rtt = w.connection.rttNanos();
        return (rtt < 0 ? DEFAULT_RTT_MILLIS : rtt / 1_000_000) / 2;
    }

    private static Map<String, Object> offer(String pairId, String key, String role, WorkerEntry peer, long startInMillis) {
        return Json.obj("type", "p2p_connection_offer",
                "peer_worker_id", peer.id,
                "peer_udp_ip", peer.stunIp,
                "peer_udp_port", peer.stunPort,
                "peer_host_candidates", peer.hostCandidates,
                "peer_nat_mapping", peer.natMapping,
                "pair_id", pairId,
                "pair_key", key,
                "role", role,
                "start_in_ms", startInMillis);
    }

    /** {@code p2p_connection_status}: a worker reports how its side of a pair ended up. */
    void status(WorkerEntry reporter, Map<String, Object> message) {
        Object pairId = message.get("pair_id");
        Object state = message.get("state");
        if (!(state instanceof String s) || !STATES.contains(s)) {
            log.warn(reporter.id, "p2p_connection_status: field 'state' must be one of " + STATES + ", got " + Json.typeName(state));
            return;
        }
        PairRecord pair;
        synchronized (pairs) {
            pair = pairId instanceof String p ? pairs.get(p) : null;
        }
        if (pair == null || !(pair.initiator().equals(reporter.id) || pair.responder().equals(reporter.id))) {
            log.warn(reporter.id, "p2p_connection_status: field 'pair_id' names no pair of this worker");
            return;
        }
        Map<String, Object> outcome = Json.obj("state", s, "remote", bounded(message.get("remote")),
                "rtt_ms", message.get("rtt_ms") instanceof Number n ? n : null, "detail", bounded(message.get("detail")),
                "at", System.currentTimeMillis());
        synchronized (pairs) {
            pair.outcomes().put(reporter.id, outcome);
        }
        metrics.inc("holepunch_p2p_outcomes_total", "state", s);
        log.info(reporter.id, "pair " + pair.pairId() + ": " + s + (outcome.get("remote") == null ? "" : " via " + outcome.get("remote"))
                + (outcome.get("detail") == null ? "" : " (" + outcome.get("detail") + ")"));
    }

    /**
     * {@code relay_data}: a datagram for the other worker of a pair, carried over the two
     * WebSocket sessions when no direct path exists. At most {@value #MAX_RELAY_BYTES} bytes each and
     * RELAY_BYTES_PER_SEC per pair; anything else is refused with {@code relay_error}.
     */
    void relay(WorkerEntry sender, Map<String, Object> message) {
        Object pairId = message.get("pair_id");
        PairRecord pair;
        synchronized (pairs) {
            pair = pairId instanceof String p ? pairs.get(p) : null;
        }
        String error = null;
        byte[] data = null;
        WorkerEntry peer = null;
        if (pair == null || !(pair.initiator().equals(sender.id) || pair.responder().equals(sender.id))) {
            error = "pair_id names no pair of this worker";
        } else {
            try {
                data = message.get("data") instanceof String d ? Base64.getDecoder().decode(d) : null;
            } catch (IllegalArgumentException e) {
                data = null;
            }
            peer = registry.get(pair.initiator().equals(sender.id) ? pair.responder() : pair.initiator());
            if (data == null) error = "data must be base64";
            else if (data.length > MAX_RELAY_BYTES) error = "data over " + MAX_RELAY_BYTES + " bytes";
            else if (peer == null) error = "the peer is not connected";
            else if (!pair.relay().take(data.length, System.nanoTime())) error = "relay rate over " + relayBytesPerSec + " bytes/s for this pair (RELAY_BYTES_PER_SEC)";
        }
        if (error != null) {
            metrics.inc("holepunch_relay_dropped_total", "reason", error.startsWith("relay rate") ? "rate" : "invalid");
            sender.connection.sendText(Json.write(Json.obj("type", "relay_error", "pair_id", pairId instanceof String ? pairId : null,
                    "detail", error)));
            return;
        }
        metrics.add("holepunch_relay_bytes_total", data.length);
        peer.connection.sendText(Json.write(Json.obj("type", "relay_data", "pair_id", pair.pairId(), "from_worker_id", sender.id,
                "data", message.get("data"))));
    }

    private static String bounded(Object v) {
        return v instanceof String s ? (s.length() <= 200 ? s : s.substring(0, 200)) : null;
    }

    List<Map<String, Object>> pairsJson() {
        List<Map<String, Object>> out = new ArrayList<>();
        synchronized (pairs) {
            for (PairRecord p : pairs.values()) {
                out.add(Json.obj("pair_id", p.pairId(), "initiator", p.initiator(), "responder", p.responder(),
                        "created_ms", p.createdMillis(), "outcomes", new LinkedHashMap<>(p.outcomes())));
            }
        }
        return out;
    }
}
