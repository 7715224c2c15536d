package holepunch.rendezvous;

import com.sun.net.httpserver.HttpExchange;
import holepunch.json.Json;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static holepunch.rendezvous.HttpReplies.json;

/**
 * The operator page and the JSON it reads (README: Operator page). {@code GET /ui} serves the page's
 * three files from the jar: they hold no data, so they need no token; the page asks for the token
 * (RENDEZVOUS_TOKEN) and sends it as a bearer token to the JSON routes, which follow the rule of
 * every {@code /debug} route:
 * <ul>
 *   <li>{@code /debug/stats}: this instance's last hour (or the cluster's, summed), live counts;</li>
 *   <li>{@code /debug/workers?q=&limit=}: workers whose id contains {@code q}, in id order;</li>
 *   <li>{@code /debug/pairs?q=&limit=}: the newest pairs whose id or either worker's contains {@code q}.</li>
 * </ul>
 * Nothing is kept per viewer: each request is answered from fixed-size records.
 */
final class OperatorApi {
    static final int DEFAULT_LIMIT = 100, MAX_LIMIT = 1000, MAX_QUERY = 128;
    /** Pairs each instance of a cluster shares with the others' pages (its newest). */
    static final int SHARED_PAIRS = 200;
    /** The page's files: path, resource, content type. */
    private static final Map<String, String[]> FILES = Map.of(
            "/ui", new String[] {"ui/index.html", "text/html; charset=utf-8"},
            "/ui/", new String[] {"ui/index.html", "text/html; charset=utf-8"},
            "/ui/app.js", new String[] {"ui/app.js", "text/javascript; charset=utf-8"},
            "/ui/app.css", new String[] {"ui/app.css", "text/css; charset=utf-8"});
    /** Nothing the page loads or sends leaves its origin; it is never framed. */
    private static final String POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:;"
            + " frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    private final WorkerList workers;
    private final PeerBroker broker;
    private final Registry registry;
    private final ClusterDirectory cluster;
    private final Map<String, byte[]> files = new HashMap<>();

    OperatorApi(WorkerList workers, PeerBroker broker, Registry registry, ClusterDirectory cluster) {
        this.workers = workers;
        this.broker = broker;
        this.registry = registry;
        this.cluster = cluster;
        for (String[] f : FILES.values()) {
            try (InputStream in = OperatorApi.class.getResourceAsStream(f[0])) {
                if (in == null) throw new IllegalStateException("the jar lacks the operator page's " + f[0]);
                files.put(f[0], in.readAllBytes());
            } catch (IOException e) {
                throw new IllegalStateException("cannot read the operator page's " + f[0] + ": " + e.getMessage());
            }
        }
        if (cluster != null) cluster.shareSnapshot(() -> Json.write(localSnapshot()));
    }

    /** This instance's figures and newest pairs, as the other instances of a cluster read them. */
    private Map<String, Object> localSnapshot() {
        return Json.obj("instance", cluster.instance, "sessions", registry.size(), "live_pairs", broker.livePairCount(),
                "stats", broker.stats().json(), "pairs", broker.searchPairs("", SHARED_PAIRS).get("pairs"));
    }

    static boolean isPage(String path) {
        return FILES.containsKey(path);
    }

    static boolean isApi(String path) {
        return path.equals("/debug/stats") || path.equals("/debug/workers") || path.equals("/debug/pairs");
    }

    /** One of the page's files (a GET). */
    void page(HttpExchange ex, String path) throws IOException {
        String[] f = FILES.get(path);
        byte[] body = files.get(f[0]);
        var h = ex.getResponseHeaders();
        h.set("Content-Type", f[1]);
        h.set("Content-Security-Policy", POLICY);
        h.set("X-Content-Type-Options", "nosniff");
        h.set("Referrer-Policy", "no-referrer");
        h.set("Cache-Control", "no-cache");
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(200, head ? -1 : body.length);
        if (!head) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }

    /** {@code /debug/stats}, {@code /debug/workers} or {@code /debug/pairs} ({@link #isApi}; a GET its caller has authorized). */
    void answer(HttpExchange ex, String path, boolean details) throws IOException {
        switch (path) {
            case "/debug/stats" -> json(ex, 200, stats());
            case "/debug/workers", "/debug/pairs" -> {
                if (!details) {
                    json(ex, 403, Json.obj("detail", "workers' and pairs' details are shown with RENDEZVOUS_TOKEN, with DEBUG_DETAILS=true,"
                            + " or to a request from the rendezvous's own host"));
                    return;
                }
                Map<String, String> q;
                try {
                    q = query(ex.getRequestURI().getRawQuery());
                } catch (IllegalArgumentException e) {
                    json(ex, 400, Json.obj("detail", e.getMessage()));
                    return;
                }
                String text = q.getOrDefault("q", "");
                int limit = DEFAULT_LIMIT;
                if (q.containsKey("limit")) {
                    try {
                        limit = Integer.parseInt(q.get("limit"));
                    } catch (NumberFormatException e) {
                        limit = -1;
                    }
                    if (limit < 1 || limit > MAX_LIMIT) {
                        json(ex, 400, Json.obj("detail", "query parameter 'limit' must be a whole number from 1 to " + MAX_LIMIT));
                        return;
                    }
                }
                if (text.length() > MAX_QUERY) {
                    json(ex, 400, Json.obj("detail", "query parameter 'q' is longer than " + MAX_QUERY + " characters"));
                    return;
                }
                int n = limit;
                if (path.equals("/debug/workers")) workers.answer(ex, () -> workers.search(text, n));
                else json(ex, 200, pairs(text, n));
            }
            default -> throw new IllegalArgumentException(path);
        }
    }

    private Map<String, Object> stats() {
        Map<String, Object> m = Json.obj("instance", cluster == null ? null : cluster.instance, "now_ms", System.currentTimeMillis(),
                "sessions", registry.size(), "live_pairs", (long) broker.livePairCount());
        m.putAll(broker.stats().json());
        List<Map<String, Object>> others = cluster == null ? null : cluster.otherSnapshots();
        if (others != null) {
            m.put("instances", 1 + others.size());
            for (Map<String, Object> o : others) ClusterFigures.add(m, o);
        }
        return m;
    }

    /** The newest pairs matching {@code query}: this instance's, and in a cluster the others' newest too. */
    private Map<String, Object> pairs(String query, int limit) {
        Map<String, Object> local = broker.searchPairs(query, limit);
        List<Map<String, Object>> others = cluster == null ? null : cluster.otherSnapshots();
        return others == null || others.isEmpty() ? local : ClusterFigures.pairs(local, others, query, limit);
    }

    /** A query string's parameters (the last of a repeated one); an unknown or undecodable one is an error naming it. */
    static Map<String, String> query(String raw) {
        Map<String, String> out = new HashMap<>();
        if (raw == null || raw.isEmpty()) return out;
        if (raw.length() > 1024) throw new IllegalArgumentException("the query string is longer than 1024 characters");
        for (String part : raw.split("&")) {
            if (part.isEmpty()) continue;
            int eq = part.indexOf('=');
            String key = eq < 0 ? part : part.substring(0, eq);
            if (!key.equals("q") && !key.equals("limit")) {
                throw new IllegalArgumentException("unknown query parameter '" + holepunch.log.Log.excerpt(key) + "' (q and limit are known)");
            }
            try {
                out.put(key, URLDecoder.decode(eq < 0 ? "" : part.substring(eq + 1), StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("query parameter '" + key + "' is not URL-encoded text");
            }
        }
        return out;
    }
}
