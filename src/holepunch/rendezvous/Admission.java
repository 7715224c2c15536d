package holepunch.rendezvous;

import com.sun.net.httpserver.HttpServer;
import holepunch.limits.InFlight;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.websocket.HttpServerUpgrade;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Who may hold a connection, before and after the upgrade. Sessions are capped in total
 * (MAX_SESSIONS, 503) and per source address (MAX_SESSIONS_PER_IP, 429). Connections that have not
 * upgraded yet are capped in total (MAX_PENDING_CONNECTIONS: the JDK server closes more at accept)
 * and per source address (MAX_PENDING_PER_IP: a guard closes the excess, idle ones first, within
 * {@value #GUARD_PERIOD_MILLIS} ms); the JDK server closes those that do not deliver a request head
 * within HANDSHAKE_TIMEOUT_SEC. Both caps are held under the process's open-file limit, so that
 * {@code accept} never fails for lack of descriptors (the JDK dispatcher spins when it does).
 * Browsers' upgrades are checked against ALLOWED_ORIGINS when it is set (403).
 */
final class Admission implements AutoCloseable {
    static final int GUARD_PERIOD_MILLIS = 50;
    /** Descriptors kept for the JVM itself (jars, selectors, the STUN socket, logs). */
    static final int RESERVED_FDS = 64;

    /** A refusal: the HTTP status, the reason counted in metrics, the log line and the client's detail. */
    record Refusal(int status, String reason, String why, String detail, Map<String, String> headers) {
    }

    private final Log log;
    private final Metrics metrics;
    private final RendezvousConfig config;
    private final int maxSessions;
    private final int maxPending;
    private final int maxPendingPerIp;
    /** Sessions held, in total (MAX_SESSIONS) and per source address (MAX_SESSIONS_PER_IP). */
    private final InFlight<String> slots;
    private final LinkedHashMap<InetAddress, Long> warned = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<InetAddress, Long> eldest) {
            return size() > 1024;
        }
    };
    private ScheduledExecutorService guard;
    private boolean pendingFull;

    Admission(RendezvousConfig config, Metrics metrics, Log log) {
        this.config = config;
        this.metrics = metrics;
        this.log = log;
        long fds = openFileLimit();
        int sessionsWanted = config.maxSessions();
        int pendingWanted = config.maxPendingConnections();
        int perIpWanted = config.maxPendingPerIp();
        if (fds > 0 && (long) sessionsWanted + pendingWanted + RESERVED_FDS > fds) {
            int room = (int) Math.max(2, fds - RESERVED_FDS);
            pendingWanted = Math.max(1, Math.min(pendingWanted, room / 4));
            sessionsWanted = Math.max(1, Math.min(sessionsWanted, room - pendingWanted));
            perIpWanted = Math.max(1, Math.min(perIpWanted, pendingWanted / 4));
            // The JVM has raised the soft limit to the hard one already (HotSpot's MaxFDLimit, as Go's runtime does):
            // a warning only when what the operator set does not fit; defaults are sized to the machine.
            String text = "the open-file limit (ulimit -n " + fds + ") allows " + sessionsWanted + " sessions and "
                    + pendingWanted + " connections before the upgrade (" + perIpWanted + " per address)";
            if (config.connectionLimitsSet()) {
                log.warn(null, text + ", below MAX_SESSIONS=" + config.maxSessions() + " / MAX_PENDING_CONNECTIONS="
                        + config.maxPendingConnections() + "; raise the hard limit to serve more");
            } else {
                log.info(null, text + " (the defaults, sized to it)");
            }
        }
        maxSessions = sessionsWanted;
        slots = new InFlight<>(maxSessions, config.maxSessionsPerIp());
        maxPending = pendingWanted;
        maxPendingPerIp = perIpWanted;
    }

    int maxSessions() {
        return maxSessions;
    }

    int maxPending() {
        return maxPending;
    }

    int openSessions() {
        return slots.taken();
    }

    /** The soft limit on open files from /proc/self/limits, or -1 where that cannot be read. */
    static long openFileLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    return soft.equals("unlimited") ? -1 : Long.parseLong(soft);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no clamp
        }
        return -1;
    }

    /** ALLOWED_ORIGINS: a browser's upgrade from another origin is refused; clients that send no Origin pass. */
    Refusal checkOrigin(String origin) {
        if (config.allowedOrigins().isEmpty() || origin == null) return null;
        if (config.allowedOrigins().contains(origin.trim().toLowerCase(java.util.Locale.ROOT))) return null;
        return new Refusal(403, "origin", "refused a WebSocket upgrade from origin '" + Log.excerpt(origin) + "' (not in ALLOWED_ORIGINS)",
                "origin not allowed: this rendezvous accepts browser connections only from ALLOWED_ORIGINS", Map.of());
    }

    /** Takes a session slot for {@code ip}; a refusal when the service or that address is full. */
    Refusal takeSlot(String ip) {
        InFlight.Full full = slots.tryEnter(ip);
        if (full == InFlight.Full.TOTAL) {
            return new Refusal(503, "max_sessions", "refused: the rendezvous holds its maximum of " + maxSessions + " sessions (MAX_SESSIONS)",
                    "server full: at most " + maxSessions + " sessions (MAX_SESSIONS)", Map.of("Retry-After", "5"));
        }
        if (full == InFlight.Full.PER_KEY) {
            return new Refusal(429, "max_sessions_per_ip", "refused: " + ip + " already holds " + config.maxSessionsPerIp()
                    + " sessions (MAX_SESSIONS_PER_IP)", "too many sessions from " + ip + ": at most " + config.maxSessionsPerIp()
                    + " (MAX_SESSIONS_PER_IP)", Map.of("Retry-After", "5"));
        }
        return null;
    }

    void releaseSlot(String ip) {
        slots.leave(ip);
    }

    /** Starts the guard over {@code http}'s connections that have not upgraded. */
    void guard(HttpServer http) {
        guard = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().name("http-guard").daemon(true).unstarted(r));
        guard.scheduleWithFixedDelay(() -> {
            try {
                enforcePendingCaps(http);
            } catch (RuntimeException e) {
                log.warn(null, "connection guard: " + e);
            }
        }, GUARD_PERIOD_MILLIS, GUARD_PERIOD_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** Closes the connections past MAX_PENDING_PER_IP of each source, those that sent nothing first. */
    void enforcePendingCaps(HttpServer http) {
        int count = HttpServerUpgrade.pendingCount(http);
        if (count <= maxPendingPerIp && !pendingFull) return;      // no address can be over: nothing to list
        List<HttpServerUpgrade.Pending> all = HttpServerUpgrade.pending(http);
        boolean full = all.size() >= maxPending;
        if (full != pendingFull) {
            pendingFull = full;
            if (full) log.warn(null, maxPending + " connections are waiting to upgrade (MAX_PENDING_CONNECTIONS); new ones are closed at once");
            else log.info(null, "connections waiting to upgrade are below MAX_PENDING_CONNECTIONS again");
        }
        for (Map.Entry<InetAddress, Integer> e : HttpServerUpgrade.closeExcess(http, all, maxPendingPerIp).entrySet()) {
            int held = e.getValue(), excess = held - maxPendingPerIp;
            metrics.add("holepunch_refused_total", excess, "reason", "max_pending_per_ip");
            long now = System.nanoTime();
            Long last = warned.get(e.getKey());
            if (last == null || now - last > 60_000_000_000L) {
                warned.put(e.getKey(), now);
                log.warn(null, "closed " + excess + " connections from " + e.getKey().getHostAddress() + ": it held " + held
                        + " connections before the upgrade, over MAX_PENDING_PER_IP=" + maxPendingPerIp + " (logged once a minute)");
            }
        }
    }

    @Override
    public void close() {
        if (guard != null) guard.shutdownNow();
    }
}
