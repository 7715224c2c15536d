package holepunch.rendezvous;

import com.sun.net.httpserver.HttpExchange;
import holepunch.json.Json;
import holepunch.limits.InFlight;
import holepunch.log.Log;
import holepunch.metrics.Metrics;

import java.io.IOException;
import java.net.InetAddress;
import java.util.LinkedHashMap;
import java.util.Map;

import static holepunch.rendezvous.HttpReplies.json;

/**
 * {@code GET /debug/list_workers}: every worker of this instance (and of the cluster's others),
 * in the original's shape (README: Protocol), plus the live pairs. Each answer holds the JSON of
 * every worker (about 350 bytes a worker, more with host candidates) until its client has read
 * it, so answers being made or written are capped: {@value #IN_FLIGHT} in total and
 * {@value #IN_FLIGHT_PER_ADDRESS} to one address. A request waits up to {@value #WAIT_MILLIS} ms
 * for a place, then is answered 503 with Retry-After.
 */
final class WorkerList {
    static final int IN_FLIGHT = 4, IN_FLIGHT_PER_ADDRESS = 2;
    static final long WAIT_MILLIS = 5000;

    private final Registry registry;
    /** Null for a single instance. */
    private final ClusterDirectory cluster;
    private final PeerBroker broker;
    private final Metrics metrics;
    private final Log log;
    private final InFlight<InetAddress> answers = new InFlight<>(IN_FLIGHT, IN_FLIGHT_PER_ADDRESS);

    private final java.util.function.BiFunction<HttpExchange, com.sun.net.httpserver.Headers, java.net.InetSocketAddress> clientOf;

    WorkerList(Registry registry, ClusterDirectory cluster, PeerBroker broker, Metrics metrics, Log log,
               java.util.function.BiFunction<HttpExchange, com.sun.net.httpserver.Headers, java.net.InetSocketAddress> clientOf) {
        this.clientOf = clientOf;
        this.registry = registry;
        this.cluster = cluster;
        this.broker = broker;
        this.metrics = metrics;
        this.log = log;
    }

    /** What the original's list has not (LAN candidates, gateway and TURN addresses, who talked to whom): shown only with {@code details}. */
    static final java.util.List<String> DETAIL_FIELDS = java.util.List.of("host_candidates", "mapped_endpoint", "relay_candidate");

    /**
     * Answers the request (a GET its caller has authorized); {@code details}: holepunch's additions that tell
     * about a worker's network and its peers too (README: Security), else the original's fields only.
     */
    void answer(HttpExchange ex, boolean details) throws IOException {
        answer(ex, () -> {
            Map<String, Object> all = toJson();
            if (details) return all;
            @SuppressWarnings("unchecked") Map<String, Object> workers = (Map<String, Object>) all.get("workers");
            for (Object w : workers.values()) {
                if (w instanceof Map<?, ?> m) DETAIL_FIELDS.forEach(m::remove);
            }
            all.remove("pairs");
            return all;
        });
    }

    /** Answers with {@code body}, made and written while holding one of the capped places. */
    void answer(HttpExchange ex, java.util.function.Supplier<Object> body) throws IOException {
        InetAddress from = clientOf.apply(ex, ex.getRequestHeaders()).getAddress();
        boolean entered;
        try {
            entered = answers.enter(from, WAIT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            entered = false;
        }
        if (!entered) {
            metrics.inc("holepunch_refused_total", "reason", "list_busy");
            log.debug(null, "GET /debug/list_workers from " + from.getHostAddress() + ": no place for its answer within "
                    + WAIT_MILLIS + " ms; answered 503");
            ex.getResponseHeaders().set("Retry-After", "1");
            json(ex, 503, Json.obj("detail", "too many /debug/list_workers answers are being sent (at most " + IN_FLIGHT
                    + ", " + IN_FLIGHT_PER_ADDRESS + " to one address); try again"));
            return;
        }
        try {
            json(ex, 200, body.get());
        } finally {
            answers.leave(from);
        }
    }

    Map<String, Object> toJson() {
        Map<String, Object> workers = everyWorker();
        return Json.obj("connected_workers_count", workers.size(), "workers", workers, "pairs", broker.pairsJson());
    }

    /** Every worker of the cluster by id, this instance's first, each with the instance that holds it (in a cluster). */
    private Map<String, Object> everyWorker() {
        Map<String, Object> workers = new LinkedHashMap<>();
        for (WorkerEntry w : registry.snapshot()) {
            Map<String, Object> m = w.toJson();
            if (cluster != null) m.put("instance", cluster.instance);
            workers.put(w.id, m);
        }
        if (cluster != null) {
            Map<String, Object> others = cluster.otherInstancesWorkers();   // null: Redis down, this instance's only
            if (others != null) others.forEach((id, entry) -> {
                if (ClusterDirectory.newer(entry, workers.get(id))) workers.put(id, entry);     // the newest session of an id wins
            });
        }
        return workers;
    }

    /**
     * {@code /debug/workers}: the workers whose id contains {@code query} (all when it is empty), in id
     * order, at most {@code limit} of them, each with its live pairs here; and how many there are. Only
     * the workers shown are turned into JSON (the others of this instance are only counted).
     */
    Map<String, Object> search(String query, int limit) {
        java.util.TreeMap<String, Object> matched = new java.util.TreeMap<>();
        java.util.Set<String> ids = new java.util.HashSet<>();
        for (WorkerEntry w : registry.snapshot()) {
            ids.add(w.id);
            if (query.isEmpty() || w.id.contains(query)) matched.put(w.id, w);
        }
        Map<String, Object> others = cluster == null ? null : cluster.otherInstancesWorkers();
        if (others != null) {
            others.forEach((id, entry) -> {
                ids.add(id);
                Object have = matched.get(id);
                long haveSince = have instanceof WorkerEntry w ? w.registeredMillis : have == null ? -1 : ClusterDirectory.since(have);
                if ((query.isEmpty() || id.contains(query)) && ClusterDirectory.since(entry) > haveSince) {
                    matched.put(id, entry);             // the newest session of an id wins
                }
            });
        }
        Map<String, Integer> pairs = broker.livePairsPerWorker();
        java.util.List<Object> out = new java.util.ArrayList<>();
        for (Map.Entry<String, Object> e : matched.entrySet()) {
            if (out.size() == limit) break;
            Map<String, Object> m;
            if (e.getValue() instanceof WorkerEntry w) {
                m = w.toJson();
                if (cluster != null) m.put("instance", cluster.instance);
            } else {
                @SuppressWarnings("unchecked") Map<String, Object> entry = new LinkedHashMap<>((Map<String, Object>) e.getValue());
                m = entry;
            }
            m.put("worker_id", e.getKey());
            m.put("live_pairs", pairs.getOrDefault(e.getKey(), 0));
            out.add(m);
        }
        return Json.obj("connected_workers_count", ids.size(), "matched", matched.size(), "workers", out);
    }
}
