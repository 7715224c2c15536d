package holepunch.peer;

import holepunch.metrics.Metrics;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code holepunch_worker_path_bytes_total}: application bytes by peer, path and direction. Peers
 * the rendezvous introduces come and go, so the series of at most {@value #MAX_PEERS} peers are
 * kept, those counted most recently; an older peer's series are removed. Each series is looked up
 * once per peer, not named again for every datagram.
 */
final class PathBytes {
    static final int MAX_PEERS = 256;
    static final String NAME = "holepunch_worker_path_bytes_total";

    private final Metrics metrics;
    /** Per peer: direct sent, direct received, relay sent, relay received (made on first use). */
    private final Map<String, Metrics.Counter[]> byPeer = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Metrics.Counter[]> eldest) {
            if (size() <= MAX_PEERS) return false;
            for (int i = 0; i < 4; i++) {
                if (eldest.getValue()[i] != null) metrics.remove(NAME, labels(eldest.getKey(), i));
            }
            return true;
        }
    };

    PathBytes(Metrics metrics) {
        this.metrics = metrics;
    }

    synchronized void add(String peer, boolean direct, boolean sent, int bytes) {
        Metrics.Counter[] series = byPeer.computeIfAbsent(peer, p -> new Metrics.Counter[4]);
        int i = (direct ? 0 : 2) + (sent ? 0 : 1);
        if (series[i] == null) series[i] = metrics.counter(NAME, labels(peer, i));
        series[i].add(bytes);
    }

    private static String[] labels(String peer, int i) {
        return new String[] {"peer", peer, "path", i < 2 ? "direct" : "relay", "direction", i % 2 == 0 ? "sent" : "received"};
    }
}
