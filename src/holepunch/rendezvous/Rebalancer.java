package holepunch.rendezvous;

import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.websocket.CloseCode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Evens a cluster out after a restart (REBALANCE_PER_MIN, off by default; README: Draining and readiness).
 * Every {@value #ROUND_MILLIS} ms an instance compares its sessions with its share of the cluster's (from
 * the figures every instance shares on Redis); when it holds more than its share and a tenth, it closes
 * up to a twelfth of REBALANCE_PER_MIN of the excess with 1001, and the workers reconnect through the load
 * balancer, which (balancing by connections) gives them to the emptier instances. Only sessions that take
 * part in no live pair are asked: moving never cuts a pair's relay or introduction.
 */
final class Rebalancer implements AutoCloseable {
    static final long ROUND_MILLIS = 5000;
    static final String REASON = "rebalancing: connect again";

    private final Registry registry;
    private final PeerBroker broker;
    private final ClusterDirectory cluster;
    private final int perMinute;
    private final Log log;
    private final Metrics.Counter moved;
    private final Thread thread;

    Rebalancer(Registry registry, PeerBroker broker, ClusterDirectory cluster, int perMinute, Log log, Metrics metrics) {
        this.registry = registry;
        this.broker = broker;
        this.cluster = cluster;
        this.perMinute = perMinute;
        this.log = log;
        metrics.counterFamily("holepunch_rebalanced_total", "Sessions asked to reconnect because this instance held more than its share.");
        this.moved = metrics.counter("holepunch_rebalanced_total");
        this.thread = Thread.ofPlatform().daemon().name("rebalancer").start(this::loop);
    }

    private void loop() {
        while (true) {
            try {
                Thread.sleep(ROUND_MILLIS);
                round();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                log.warn(null, "rebalancing round failed: " + e);
            }
        }
    }

    /** How many sessions to ask to move now: the excess over the share and a tenth, at most the round's budget. */
    static int toMove(int own, List<Long> others, int budget) {
        if (others.isEmpty()) return 0;
        long total = own;
        for (long n : others) total += n;
        long share = (total + others.size()) / (others.size() + 1);         // rounded up
        long excess = own - share;
        if (excess <= Math.max(2, share / 10)) return 0;
        return (int) Math.min(excess, budget);
    }

    private void round() {
        List<Map<String, Object>> others = cluster.otherSnapshots();
        if (others == null) return;
        List<Long> counts = new ArrayList<>();
        for (Map<String, Object> o : others) counts.add(o.get("sessions") instanceof Number n ? n.longValue() : 0L);
        int own = registry.size();
        int n = toMove(own, counts, Math.max(1, (perMinute + 11) / 12));
        if (n == 0) return;
        Map<String, Integer> paired = broker.livePairsPerWorker();
        int asked = 0;
        for (WorkerEntry w : registry.snapshot()) {
            if (asked == n) break;
            if (paired.containsKey(w.id) || !w.connection.isOpen()) continue;
            w.connection.close(CloseCode.GOING_AWAY, REASON);
            asked++;
        }
        moved.add(asked);
        log.info(null, "rebalancing: " + own + " sessions here against " + counts + " on the other instances; asked " + asked
                + " without live pairs to reconnect (REBALANCE_PER_MIN " + perMinute + ")");
    }

    @Override
    public void close() {
        thread.interrupt();
    }
}
