package holepunch.rendezvous;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sums the operator figures of a cluster's instances (each shares its own, {@link OperatorApi}): the
 * minutes by their start, the time-to-direct buckets, the NAT grid by its pair of mappings, the totals,
 * sessions and live pairs; and merges their newest pairs. Every instance counts a pair once (where its
 * initiator is), so the sums count each pair once.
 */
final class ClusterFigures {
    private ClusterFigures() {
    }

    private static long num(Object o) {
        return o instanceof Number n ? n.longValue() : 0;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return o instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }

    private static List<Object> list(Object o) {
        return o instanceof List<?> l ? new ArrayList<>(l) : List.of();
    }

    /** Adds {@code other}'s figures (a snapshot) into {@code into} (this instance's /debug/stats answer). */
    static void add(Map<String, Object> into, Map<String, Object> other) {
        into.put("sessions", num(into.get("sessions")) + num(other.get("sessions")));
        into.put("live_pairs", num(into.get("live_pairs")) + num(other.get("live_pairs")));
        Map<String, Object> stats = map(other.get("stats"));
        Map<Long, Map<String, Object>> byStart = new LinkedHashMap<>();
        for (Object m : list(into.get("minutes"))) byStart.put(num(map(m).get("start_ms")), map(m));
        for (Object m : list(stats.get("minutes"))) {
            Map<String, Object> mine = byStart.get(num(map(m).get("start_ms")));
            if (mine == null) continue;                      // outside this instance's hour (clocks apart by a minute)
            for (String k : List.of("introduced", "direct", "relay", "failed", "relayed_bytes")) {
                mine.put(k, num(mine.get(k)) + num(map(m).get(k)));
            }
        }
        Map<String, Object> ttd = map(into.get("time_to_direct"));
        List<Object> counts = list(ttd.get("counts"));
        List<Object> theirs = list(map(stats.get("time_to_direct")).get("counts"));
        for (int i = 0; i < counts.size() && i < theirs.size(); i++) counts.set(i, num(counts.get(i)) + num(theirs.get(i)));
        ttd.put("counts", counts);
        Map<String, Map<String, Object>> grid = new LinkedHashMap<>();
        for (Object g : list(into.get("nat_grid"))) grid.put(map(g).get("initiator_nat") + "|" + map(g).get("responder_nat"), map(g));
        for (Object g : list(stats.get("nat_grid"))) {
            Map<String, Object> cell = grid.computeIfAbsent(map(g).get("initiator_nat") + "|" + map(g).get("responder_nat"),
                    k -> new LinkedHashMap<>(Map.of("initiator_nat", String.valueOf(map(g).get("initiator_nat")),
                            "responder_nat", String.valueOf(map(g).get("responder_nat")), "direct", 0L, "relay", 0L, "failed", 0L)));
            for (String k : List.of("direct", "relay", "failed")) cell.put(k, num(cell.get(k)) + num(map(g).get(k)));
        }
        into.put("nat_grid", new ArrayList<>(grid.values()));
        Map<String, Object> totals = map(into.get("totals"));
        for (String k : List.of("introduced", "direct", "relay", "failed", "relayed_bytes")) {
            totals.put(k, num(totals.get(k)) + num(map(stats.get("totals")).get(k)));
        }
    }

    /** This instance's matching pairs and the others' shared ones that match, newest first, one record per pair. */
    static Map<String, Object> pairs(Map<String, Object> local, List<Map<String, Object>> others, String query, int limit) {
        Map<String, Map<String, Object>> byId = new LinkedHashMap<>();
        for (Object p : list(local.get("pairs"))) byId.put(String.valueOf(map(p).get("pair_id")), map(p));
        long matched = num(local.get("matched"));
        for (Map<String, Object> o : others) {
            for (Object x : list(o.get("pairs"))) {
                Map<String, Object> p = map(x);
                String id = String.valueOf(p.get("pair_id"));
                if (!query.isEmpty() && !id.contains(query) && !String.valueOf(p.get("initiator")).contains(query)
                        && !String.valueOf(p.get("responder")).contains(query)) continue;
                Map<String, Object> have = byId.get(id);
                if (have == null) matched++;
                // A pair spanning two instances: each heard its own side; the one with more outcomes wins.
                if (have == null || map(p.get("outcomes")).size() > map(have.get("outcomes")).size()) byId.put(id, p);
            }
        }
        List<Map<String, Object>> all = new ArrayList<>(byId.values());
        all.sort(Comparator.comparingLong((Map<String, Object> p) -> num(p.get("created_ms"))).reversed());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("matched", matched);
        out.put("pairs", new ArrayList<>(all.subList(0, Math.min(limit, all.size()))));
        return out;
    }
}
