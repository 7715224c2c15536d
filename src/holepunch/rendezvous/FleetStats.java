package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.metrics.Metrics;
import holepunch.protocol.NatBehaviour;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * What the operator page charts ({@code GET /debug/stats}): the last hour in one-minute slots
 * (introductions, each pair's first outcome, relayed bytes, time to direct) and outcomes by the two
 * sides' NAT mapping behaviour since start. Fixed size whatever the traffic: {@value #MINUTES}
 * slots of a few counters, and a grid keyed by the four {@link NatBehaviour} values.
 * Also Prometheus's view: {@code holepunch_pairs_total{outcome,technique}} and the
 * {@code holepunch_time_to_direct_seconds} histogram.
 */
final class FleetStats {
    static final int MINUTES = 60;
    /** Time-to-direct buckets' upper bounds, seconds. */
    static final double[] TTD_BOUNDS = {0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60};
    /** A pair's outcome as the page counts it. */
    static final List<String> OUTCOMES = List.of("direct", "relay", "failed");
    /** Techniques a worker may name; anything else is counted as {@code other} (labels stay bounded). */
    private static final List<String> TECHNIQUES = List.of("stun", "host", "ipv6", "peer-reflexive", "port-mapping", "hard-nat", "turn");
    private static final int INTRODUCED = 0, DIRECT = 1, RELAY = 2, FAILED = 3;

    private final LongSupplier clockMillis;
    private final LongSupplier relayedBytes;
    private final Metrics metrics;
    private final Metrics.Histogram timeToDirect;
    /** Which minute (since the epoch) each slot holds; -1 for none yet. */
    private final long[] minuteOf = new long[MINUTES];
    private final long[][] counts = new long[MINUTES][4];
    private final long[][] ttd = new long[MINUTES][TTD_BOUNDS.length + 1];
    /** Relayed bytes (the instance's running total) when each slot began. */
    private final long[] relayedAtStart = new long[MINUTES];
    /** "initiator's mapping|responder's mapping" to direct, relay, failed: at most 16 keys. */
    private final Map<String, long[]> grid = new TreeMap<>();
    private final long[] totals = new long[4];

    FleetStats(Metrics metrics, LongSupplier relayedBytes, LongSupplier clockMillis) {
        this.metrics = metrics;
        this.relayedBytes = relayedBytes;
        this.clockMillis = clockMillis;
        java.util.Arrays.fill(minuteOf, -1);
        metrics.counterFamily("holepunch_pairs_total", "Introduced pairs by their first outcome either side reported, and its technique.");
        this.timeToDirect = metrics.histogram("holepunch_time_to_direct_seconds",
                "From a pair's introduction to its first direct path, as either side reported it.", TTD_BOUNDS);
    }

    /** A technique as a bounded label: a known one, {@code other}, or {@code none}. */
    static String technique(String t) {
        return t == null ? "none" : TECHNIQUES.contains(t) ? t : "other";
    }

    synchronized void introduced() {
        count(slot(), INTRODUCED);
    }

    /** A pair's first decided outcome ({@code direct}, {@code relay} or {@code failed}). */
    synchronized void decided(String outcome, String technique, String initiatorNat, String responderNat) {
        int i = switch (outcome) {
            case "direct" -> DIRECT;
            case "relay" -> RELAY;
            default -> FAILED;
        };
        count(slot(), i);
        String key = NatBehaviour.ofWire(initiatorNat).wire + "|" + NatBehaviour.ofWire(responderNat).wire;
        grid.computeIfAbsent(key, k -> new long[3])[i - 1]++;
        metrics.inc("holepunch_pairs_total", "outcome", outcome, "technique", technique(technique));
    }

    /** A pair's first direct path, {@code millis} after its introduction. */
    synchronized void directAfter(long millis) {
        double seconds = millis / 1000.0;
        timeToDirect.observe(seconds);
        int b = 0;
        while (b < TTD_BOUNDS.length && seconds > TTD_BOUNDS[b]) b++;
        ttd[slot()][b]++;
    }

    private void count(int slot, int what) {
        counts[slot][what]++;
        totals[what]++;
    }

    /** The slot of the current minute, emptied first when it last held an older minute. */
    private int slot() {
        long minute = Math.floorDiv(clockMillis.getAsLong(), 60_000L);
        int s = (int) Math.floorMod(minute, (long) MINUTES);
        if (minuteOf[s] != minute) {
            minuteOf[s] = minute;
            java.util.Arrays.fill(counts[s], 0);
            java.util.Arrays.fill(ttd[s], 0);
            relayedAtStart[s] = relayedBytes.getAsLong();
        }
        return s;
    }

    /** The last hour, oldest minute first, with the grid and totals since start. */
    synchronized Map<String, Object> json() {
        int now = slot();
        long current = minuteOf[now];
        long relayedNow = relayedBytes.getAsLong();
        List<Object> minutes = new ArrayList<>(MINUTES);
        long[] ttdHour = new long[TTD_BOUNDS.length + 1];
        for (long m = current - MINUTES + 1; m <= current; m++) {
            int s = (int) Math.floorMod(m, (long) MINUTES);
            boolean held = minuteOf[s] == m;
            long relayed = 0;
            if (held) {
                long end = relayedNow;       // to the next minute that began since (minutes nobody touched hold nothing)
                for (long n = m + 1; n <= current; n++) {
                    int t = (int) Math.floorMod(n, (long) MINUTES);
                    if (minuteOf[t] == n) {
                        end = relayedAtStart[t];
                        break;
                    }
                }
                relayed = Math.max(0, end - relayedAtStart[s]);
                for (int b = 0; b < ttdHour.length; b++) ttdHour[b] += ttd[s][b];
            }
            minutes.add(Json.obj("start_ms", m * 60_000L,
                    "introduced", held ? counts[s][INTRODUCED] : 0L, "direct", held ? counts[s][DIRECT] : 0L,
                    "relay", held ? counts[s][RELAY] : 0L, "failed", held ? counts[s][FAILED] : 0L, "relayed_bytes", relayed));
        }
        List<Object> gridJson = new ArrayList<>();
        grid.forEach((k, v) -> gridJson.add(Json.obj("initiator_nat", k.substring(0, k.indexOf('|')),
                "responder_nat", k.substring(k.indexOf('|') + 1), "direct", v[0], "relay", v[1], "failed", v[2])));
        List<Object> bounds = new ArrayList<>();
        for (double b : TTD_BOUNDS) bounds.add(b);
        List<Object> ttdCounts = new ArrayList<>();
        for (long c : ttdHour) ttdCounts.add(c);
        return Json.obj("minutes", minutes,
                "time_to_direct", Json.obj("bounds_s", bounds, "counts", ttdCounts),
                "nat_grid", gridJson,
                "totals", Json.obj("introduced", totals[INTRODUCED], "direct", totals[DIRECT], "relay", totals[RELAY],
                        "failed", totals[FAILED], "relayed_bytes", relayedNow));
    }
}
