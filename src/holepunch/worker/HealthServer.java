package holepunch.worker;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import holepunch.json.Json;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/** The worker's HTTP server on PORT: {@code GET /} for health checks, {@code GET /status} as JSON. */
final class HealthServer implements AutoCloseable {
    static final String HEALTH_TEXT = "Worker active - health check OK";

    private final HttpServer server;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

    HealthServer(int port, Supplier<Map<String, Object>> status, Supplier<String> metrics) throws IOException {
        server = HttpServer.create(new InetSocketAddress(port), 64);
        server.setExecutor(executor);
        server.createContext("/", ex -> {
            try (ex) {
                String path = ex.getRequestURI().getPath();
                if (!ex.getRequestMethod().equals("GET")) {
                    reply(ex, 405, "text/plain", "only GET is served here");
                } else if (path.equals("/")) {
                    reply(ex, 200, "text/plain", HEALTH_TEXT);
                } else if (path.equals("/status")) {
                    reply(ex, 200, "application/json", Json.write(status.get()));
                } else if (path.equals("/metrics")) {
                    reply(ex, 200, "text/plain; version=0.0.4", metrics.get());
                } else {
                    reply(ex, 404, "text/plain", "not found: try /, /status or /metrics");
                }
            }
        });
        server.start();
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
        server.stop(0);
        executor.shutdownNow();
    }
}
