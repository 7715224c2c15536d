package holepunch.worker;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import holepunch.auth.BearerToken;
import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.websocket.HttpServerUpgrade;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * The worker's HTTP server on PORT. Every GET path answers the health text, as the original's does
 * (so probes at {@code /healthz} or {@code /} both pass), except {@code /status} (JSON) and
 * {@code /metrics} (Prometheus text), which need {@code Authorization: Bearer <RENDEZVOUS_TOKEN>}
 * when the worker has a token: they show its addresses and peers. It holds at most
 * {@value #MAX_CONNECTIONS} connections, and at most {@value #PER_ADDRESS} from one address
 * (checked every {@value #GUARD_MILLIS} ms, those that sent nothing closed first), so one client
 * cannot take every slot from the platform's health checks.
 */
final class HealthServer implements AutoCloseable {
    static final String HEALTH_TEXT = "Worker active - health check OK";

    private static final Log LOG = Log.of("worker");
    static final int MAX_CONNECTIONS = 256;
    static final int PER_ADDRESS = 64;
    static final long GUARD_MILLIS = 100;
    private final HttpServer server;
    private final Thread guard;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

    HealthServer(int port, Supplier<Map<String, Object>> status, Supplier<String> metrics, String token) throws IOException {
        HttpServerUpgrade.configure(5, 16 * 1024, MAX_CONNECTIONS);
        BearerToken bearer = new BearerToken(token);
        try {
            server = HttpServer.create(new InetSocketAddress(port), 64);
        } catch (java.net.BindException e) {
            throw holepunch.config.ConfigException.cannotBind("TCP", null, port, "PORT", e);
        }
        server.setExecutor(executor);
        server.createContext("/", ex -> {
            try {
                String path = ex.getRequestURI().getPath();
                if (!ex.getRequestMethod().equals("GET")) {
                    reply(ex, 405, "text/plain", "only GET is served here");
                } else if (!path.equals("/status") && !path.equals("/metrics")) {
                    reply(ex, 200, "text/plain", HEALTH_TEXT);
                } else if (!bearer.allows(ex.getRequestHeaders().getFirst("Authorization"))) {
                    ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"holepunch\"");
                    reply(ex, 401, "text/plain", path + " needs 'Authorization: Bearer <token>' (this worker's RENDEZVOUS_TOKEN)");
                } else if (path.equals("/status")) {
                    reply(ex, 200, "application/json", Json.write(status.get()));
                } else {
                    reply(ex, 200, "text/plain; version=0.0.4", metrics.get());
                }
                ex.close();
            } catch (IOException e) {       // the client went away while answered
                HttpServerUpgrade.abortOrClose(ex);          // the JDK server would keep its connection (HttpServerUpgrade.abort)
            } catch (RuntimeException e) {
                LOG.warn(null, "health port: " + Log.excerpt(ex.getRequestURI().getPath()) + " failed: " + e);
                HttpServerUpgrade.abortOrClose(ex);
            }
        });
        server.start();
        guard = startGuard();
    }

    /** The per-address cap, where this JDK's server internals are reachable (they are from the jar); null where not. */
    private Thread startGuard() {
        try {
            HttpServerUpgrade.checkAvailable();
        } catch (IllegalStateException e) {
            LOG.warn(null, "health port: connections per address are not capped: " + e.getMessage());
            return null;
        }
        return Thread.ofPlatform().daemon().name("health-guard").start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(GUARD_MILLIS);      // a periodic check: a connection that sends nothing makes no event
                    if (HttpServerUpgrade.pendingCount(server) > PER_ADDRESS) {
                        HttpServerUpgrade.closeExcess(server, HttpServerUpgrade.pending(server), PER_ADDRESS).forEach((a, held) ->
                                LOG.debug(null, "health port: closed " + (held - PER_ADDRESS) + " connections from "
                                        + a.getHostAddress() + " (it held " + held + ", over " + PER_ADDRESS + ")"));
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (RuntimeException e) {
                    LOG.warn(null, "health port guard: " + e);
                }
            }
        });
    }

    /** Connections the server holds now (tests). */
    int connections() {
        HttpServerUpgrade.checkAvailable();
        return HttpServerUpgrade.pendingCount(server);
    }

    int port() {
        return server.getAddress().getPort();
    }

    private static void reply(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    @Override
    public void close() {
        if (guard != null) guard.interrupt();
        server.stop(0);
        executor.shutdownNow();
    }
}
