package holepunch.worker;

import holepunch.log.Log;
import holepunch.metrics.Metrics;

import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Once a second: adds the datagrams the kernel dropped at our sockets' full receive buffers to
 * {@code holepunch_worker_dropped_total} ({@code peer_socket_overflow}, {@code app_socket_overflow}),
 * and says in one log line when a reason starts dropping and one when it has stopped for
 * {@value #QUIET_SECONDS} s: never a line per datagram.
 */
final class DropWatch {
    static final String FAMILY = "holepunch_worker_dropped_total";
    static final int QUIET_SECONDS = 5;

    /** What a reason means for a person reading the log. */
    static String explain(String reason) {
        return switch (reason) {
            case "peer_socket_overflow" -> "this worker reads its UDP socket more slowly than datagrams arrive (CPU)";
            case "app_socket_overflow" -> "an application sends into a forward faster than the path carries it, or reads its replies too slowly";
            case "no_path" -> "forwarded datagrams found no path to the peer (not connected yet)";
            case "too_large" -> "datagrams over " + Forwarder.MAX_DATAGRAM + " bytes are not forwarded";
            case "send_buffer_full" -> "a socket's send buffer was full";
            case "relay_budget" -> "relayed traffic over the rendezvous's budget for a pair (RELAY_BYTES_PER_SEC) is dropped here";
            case "relay_queue_full" -> "the rendezvous session takes relayed datagrams more slowly than they come";
            case "relay_send_failed" -> "relayed datagrams were lost with a rendezvous session that failed";
            case "unauthenticated", "replay" -> "datagrams that did not authenticate or came again (forged, stale or replayed)";
            default -> "see holepunch_worker_dropped_total";
        };
    }

    private final Log log = Log.of("worker");
    private final String selfId;
    private final Metrics metrics;
    private final Map<String, LongSupplier> kernel = new HashMap<>();
    private final Map<String, Long> kernelSeen = new HashMap<>();
    private final Map<String, Long> last = new HashMap<>();
    private final Map<String, Long> spellStart = new HashMap<>();
    private final Map<String, Integer> quiet = new HashMap<>();

    DropWatch(String selfId, Metrics metrics) {
        this.selfId = selfId;
        this.metrics = metrics;
    }

    /** A kernel counter (it only grows) whose growth is counted as {@code reason}. */
    DropWatch kernel(String reason, LongSupplier drops) {
        kernel.put(reason, drops);
        kernelSeen.put(reason, drops.getAsLong());        // what came before this worker's sockets are ours is not counted
        metrics.add(FAMILY, 0, "reason", reason);
        return this;
    }

    /** One second's look; called by the scheduler. */
    synchronized void tick() {
        for (Map.Entry<String, LongSupplier> k : kernel.entrySet()) {
            long now = k.getValue().getAsLong(), seen = kernelSeen.get(k.getKey());
            if (now > seen) metrics.add(FAMILY, now - seen, "reason", k.getKey());
            kernelSeen.put(k.getKey(), Math.max(now, seen));
        }
        for (Map.Entry<String, Long> e : metrics.counterSeries(FAMILY).entrySet()) {
            String reason = e.getKey().startsWith("reason=\"") ? e.getKey().substring(8, e.getKey().length() - 1) : e.getKey();
            long value = e.getValue(), before = last.getOrDefault(reason, value);
            last.put(reason, value);
            if (value > before) {
                quiet.put(reason, 0);
                if (spellStart.putIfAbsent(reason, before) == null) {
                    log.warn(selfId, "dropping datagrams (" + reason + "): " + (value - before) + " in the last second; " + explain(reason));
                }
            } else if (spellStart.containsKey(reason) && quiet.merge(reason, 1, Integer::sum) >= QUIET_SECONDS) {
                log.info(selfId, "no more datagrams dropped (" + reason + ") for " + QUIET_SECONDS + " s; " + (value - spellStart.remove(reason))
                        + " in that spell");
                quiet.remove(reason);
            }
        }
    }
}
