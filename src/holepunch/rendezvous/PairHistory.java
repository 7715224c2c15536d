package holepunch.rendezvous;

import holepunch.json.Json;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The last {@value #SIZE} pairs the broker introduced and the outcome each side reported
 * ({@code p2p_connection_status}), for {@code /debug/list_workers} only: a pair's life is the
 * broker's live pairs, not this record. Bounded: the oldest pair goes first.
 */
final class PairHistory {
    static final int SIZE = 1000;

    /** A brokered pair as the debug list shows it; outcomes by worker id. */
    private record PairRecord(String pairId, String initiator, String responder, long createdMillis, Map<String, Map<String, Object>> outcomes) {
    }

    private final LinkedHashMap<String, PairRecord> pairs = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, PairRecord> eldest) {
            return size() > SIZE;
        }
    };

    synchronized void opened(String pairId, String initiator, String responder) {
        pairs.put(pairId, new PairRecord(pairId, initiator, responder, System.currentTimeMillis(), new LinkedHashMap<>()));
    }

    /** Records {@code reporter}'s outcome; false when {@code pairId} names no pair {@code reporter} is in. */
    synchronized boolean reported(String pairId, String reporter, Map<String, Object> outcome) {
        PairRecord pair = pairId == null ? null : pairs.get(pairId);
        if (pair == null || !(pair.initiator().equals(reporter) || pair.responder().equals(reporter))) return false;
        pair.outcomes().put(reporter, outcome);
        return true;
    }

    /** The pairs, oldest first, as the debug list shows them; {@code live} tells a live pair id. */
    synchronized List<Map<String, Object>> json(Predicate<String> live) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (PairRecord p : pairs.values()) {
            out.add(Json.obj("pair_id", p.pairId(), "initiator", p.initiator(), "responder", p.responder(),
                    "created_ms", p.createdMillis(), "live", live.test(p.pairId()), "outcomes", new LinkedHashMap<>(p.outcomes())));
        }
        return out;
    }
}
