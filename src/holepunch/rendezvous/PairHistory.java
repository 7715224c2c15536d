package holepunch.rendezvous;

import holepunch.json.Json;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import java.util.function.ToLongFunction;

/**
 * The last {@value #SIZE} pairs the broker introduced and the outcome each side reported
 * ({@code p2p_connection_status}), for {@code /debug/list_workers} and {@code /debug/pairs}: a pair's
 * life is the broker's live pairs, not this record. Bounded: the oldest pair goes first. Each pair's
 * first decided outcome and first direct path are counted once in {@link FleetStats}.
 */
final class PairHistory {
    static final int SIZE = 1000;

    /** A brokered pair as the pages show it; outcomes by worker id. Guarded by the history's lock. */
    private static final class PairRecord {
        final String pairId, initiator, responder, initiatorNat, responderNat;
        final long createdMillis;
        /** The pair's relay account, or null. */
        final RelayMeter.Pair relay;
        final Map<String, Map<String, Object>> outcomes = new LinkedHashMap<>();
        /** Counted in the fleet's figures: the pair's initiator is held here (a pair spanning two instances counts once). */
        final boolean counted;
        /** The last decided outcome (direct, relay, failed) either side reported, and its technique; null before. */
        String outcome, technique;
        long timeToDirectMillis = -1;

        PairRecord(String pairId, String initiator, String responder, String initiatorNat, String responderNat, long created,
                   RelayMeter.Pair relay, boolean counted) {
            this.counted = counted;
            this.pairId = pairId;
            this.initiator = initiator;
            this.responder = responder;
            this.initiatorNat = initiatorNat;
            this.responderNat = responderNat;
            this.createdMillis = created;
            this.relay = relay;
        }
    }

    private final LinkedHashMap<String, PairRecord> pairs = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, PairRecord> eldest) {
            return size() > SIZE;
        }
    };
    private final FleetStats stats;
    private final ToLongFunction<RelayMeter.Pair> relayed;
    private final LongSupplier clockMillis;

    PairHistory(FleetStats stats, ToLongFunction<RelayMeter.Pair> relayed, LongSupplier clockMillis) {
        this.stats = stats;
        this.relayed = relayed;
        this.clockMillis = clockMillis;
    }

    synchronized void opened(String pairId, String initiator, String responder, String initiatorNat, String responderNat, RelayMeter.Pair relay) {
        opened(pairId, initiator, responder, initiatorNat, responderNat, relay, true);
    }

    /** A pair introduced; {@code counted}: its figures are this instance's to count (README: Operator page). */
    synchronized void opened(String pairId, String initiator, String responder, String initiatorNat, String responderNat, RelayMeter.Pair relay,
                             boolean counted) {
        pairs.put(pairId, new PairRecord(pairId, initiator, responder, initiatorNat, responderNat, clockMillis.getAsLong(), relay, counted));
        if (counted) stats.introduced();
    }

    /** How a reported state counts: direct (not through TURN), relay (the rendezvous's or TURN), failed, or null (not decided). */
    static String outcomeOf(Object state, Object technique) {
        return switch (String.valueOf(state)) {
            case "direct" -> "turn".equals(technique) ? "relay" : "direct";
            case "relay" -> "relay";
            case "failed" -> "failed";
            default -> null;
        };
    }

    /** Records {@code reporter}'s outcome; false when {@code pairId} names no pair {@code reporter} is in. */
    synchronized boolean reported(String pairId, String reporter, Map<String, Object> outcome) {
        PairRecord pair = pairId == null ? null : pairs.get(pairId);
        if (pair == null || !(pair.initiator.equals(reporter) || pair.responder.equals(reporter))) return false;
        pair.outcomes.put(reporter, outcome);
        String decided = outcomeOf(outcome.get("state"), outcome.get("technique"));
        if (decided != null) {
            String technique = outcome.get("technique") instanceof String t ? FleetStats.technique(t) : null;
            if (pair.outcome == null && pair.counted) stats.decided(decided, technique, pair.initiatorNat, pair.responderNat);
            if (decided.equals("direct") && pair.timeToDirectMillis < 0) {
                pair.timeToDirectMillis = Math.max(0, clockMillis.getAsLong() - pair.createdMillis);
                if (pair.counted) stats.directAfter(pair.timeToDirectMillis);
            }
            pair.outcome = decided;
            pair.technique = technique;
        }
        return true;
    }

    private Map<String, Object> json(PairRecord p, Predicate<String> live) {
        return Json.obj("pair_id", p.pairId, "initiator", p.initiator, "responder", p.responder,
                "created_ms", p.createdMillis, "live", live.test(p.pairId), "outcomes", new LinkedHashMap<>(p.outcomes),
                "outcome", p.outcome, "technique", p.technique, "time_to_direct_ms", p.timeToDirectMillis < 0 ? null : p.timeToDirectMillis,
                "initiator_nat", p.initiatorNat, "responder_nat", p.responderNat,
                "relayed_bytes", p.relay == null ? 0L : relayed.applyAsLong(p.relay));
    }

    /** The pairs, oldest first, as the debug list shows them; {@code live} tells a live pair id. */
    synchronized List<Map<String, Object>> json(Predicate<String> live) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (PairRecord p : pairs.values()) out.add(json(p, live));
        return out;
    }

    /**
     * Up to {@code limit} pairs, newest first, whose id or either worker's id contains {@code query}
     * (any, when it is empty); with the number that matched.
     */
    synchronized Map<String, Object> search(String query, int limit, Predicate<String> live) {
        List<PairRecord> all = new ArrayList<>(pairs.values());
        List<Object> out = new ArrayList<>();
        int matched = 0;
        for (int i = all.size() - 1; i >= 0; i--) {
            PairRecord p = all.get(i);
            if (!query.isEmpty() && !p.pairId.contains(query) && !p.initiator.contains(query) && !p.responder.contains(query)) continue;
            if (matched++ < limit) out.add(json(p, live));
        }
        return Json.obj("matched", matched, "pairs", out);
    }
}
