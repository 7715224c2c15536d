package holepunch.rendezvous;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.stun.StunServer;
import holepunch.websocket.CloseCode;
import holepunch.websocket.ConnectionLoop;
import holepunch.websocket.Handshake;
import holepunch.websocket.HttpServerUpgrade;
import holepunch.websocket.WebSocketConnection;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The rendezvous service: HTTP routes on the JDK {@code HttpServer}, WebSocket sessions on
 * {@link ConnectionLoop}s (one per core).
 */
public final class RendezvousServer implements AutoCloseable {
    static final String WS_PREFIX = "/ws/register/";
    static final String REPLACED_REASON = "New connection from same worker ID";

    private final Log log = Log.of("rendezvous");
    private final RendezvousConfig config;
    private final Registry registry = new Registry();
    private final RendezvousProtocol protocol = new RendezvousProtocol(registry, log);
    private final ConnectionLoop[] loops;
    private final AtomicInteger nextLoop = new AtomicInteger();
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpServer http;
    private StunServer stun;

    private RendezvousServer(RendezvousConfig config) throws IOException {
        this.config = config;
        HttpServerUpgrade.checkAvailable();
        // The JDK server reads these once: a request head must arrive within the handshake timeout,
        // and may not be larger than 16 KB.
        System.setProperty("sun.net.httpserver.maxReqTime", System.getProperty("sun.net.httpserver.maxReqTime",
                String.valueOf(config.handshakeTimeoutSec())));
        System.setProperty("sun.net.httpserver.maxReqHeaderSize", System.getProperty("sun.net.httpserver.maxReqHeaderSize", "16384"));
        ConnectionLoop.Settings settings = new ConnectionLoop.Settings(config.pingIntervalNanos(), config.pingTimeoutNanos(),
                config.maxMessageBytes(), 1 << 20, 2_000_000_000L);
        int n = Math.max(1, Runtime.getRuntime().availableProcessors());
        loops = new ConnectionLoop[n];
        for (int i = 0; i < n; i++) {
            loops[i] = new ConnectionLoop("ws-loop-" + i, settings, line -> log.warn(null, line));
        }
        http = HttpServer.create(new InetSocketAddress(config.bindAddress(), config.port()), 1024);
        http.setExecutor(executor);
        http.createContext("/", this::route);
    }

    public static RendezvousServer start(RendezvousConfig config) throws IOException {
        RendezvousServer server = new RendezvousServer(config);
        if (config.stunUdpPort() != 0) {
            server.stun = StunServer.start(new InetSocketAddress(config.bindAddress(), config.stunUdpPort()), config.stunMaxPerSource());
        }
        for (ConnectionLoop loop : server.loops) loop.start();
        server.http.start();
        server.log.info(null, "listening on " + config.bindAddress() + ":" + server.port() + " (HTTP and WebSocket)");
        return server;
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /** The built-in STUN server's UDP port, or 0 when it is disabled. */
    public int stunPort() {
        return stun == null ? 0 : stun.port();
    }

    public int sessionCount() {
        return registry.size();
    }

    // ---- HTTP

    private void route(HttpExchange ex) {
        try {
            String path = ex.getRequestURI().getPath();
            String method = ex.getRequestMethod();
            if (path.startsWith(WS_PREFIX)) {
                if (upgrade(ex, path.substring(WS_PREFIX.length()))) return;   // the exchange is gone
                ex.close();
                return;
            }
            switch (path) {
                case "/" -> {
                    if (getOnly(ex, method)) {
                        json(ex, 200, Json.obj("message", "Rendezvous Service (holepunch) is running."));
                    }
                }
                case "/debug/list_workers" -> {
                    if (getOnly(ex, method)) json(ex, 200, listWorkers());
                }
                default -> json(ex, 404, Json.obj("detail", "Not Found"));
            }
            ex.close();
        } catch (IOException | RuntimeException e) {
            log.warn(null, "HTTP " + ex.getRequestMethod() + " " + ex.getRequestURI().getPath() + " failed: " + e);
            ex.close();
        }
    }

    private boolean getOnly(HttpExchange ex, String method) throws IOException {
        if (method.equals("GET") || method.equals("HEAD")) return true;
        ex.getResponseHeaders().set("Allow", "GET");
        json(ex, 405, Json.obj("detail", "Method Not Allowed"));
        return false;
    }

    private Map<String, Object> listWorkers() {
        Map<String, Object> workers = new LinkedHashMap<>();
        for (WorkerEntry w : registry.snapshot()) workers.put(w.id, w.toJson());
        return Json.obj("connected_workers_count", workers.size(), "workers", workers);
    }

    static void json(HttpExchange ex, int status, Object body) throws IOException {
        byte[] bytes = Json.write(body).getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head ? -1 : bytes.length);
        if (!head) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    // ---- WebSocket

    /** True when the connection was upgraded (and so is no longer the exchange's). */
    private boolean upgrade(HttpExchange ex, String workerId) throws IOException {
        if (!WorkerIds.isValid(workerId)) {
            log.warn(null, "refused a WebSocket upgrade: invalid worker id '" + RendezvousProtocol.excerpt(workerId) + "'");
            json(ex, 400, Json.obj("detail", "invalid worker id: " + WorkerIds.RULE));
            return false;
        }
        com.sun.net.httpserver.Headers headers = ex.getRequestHeaders();   // a fresh copy per call: take it once
        Handshake.Result hs = Handshake.check(ex.getRequestMethod(), headers::get);
        if (!hs.accepted()) {
            log.warn(workerId, "refused a WebSocket upgrade: " + hs.message());
            hs.headers().forEach((k, v) -> ex.getResponseHeaders().set(k, v));
            json(ex, hs.status(), Json.obj("detail", hs.message()));
            return false;
        }
        InetSocketAddress remote = ex.getRemoteAddress();
        SocketChannel channel = HttpServerUpgrade.channel(ex);
        WebSocketConnection connection = new WebSocketConnection(channel, remote, protocol, config.maxMessageBytes());
        String ip = remote.getAddress().getHostAddress();
        WorkerEntry entry = new WorkerEntry(workerId, ip, remote.getPort(), connection);
        connection.attach(entry);
        byte[] response = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: " + hs.accept() + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        ConnectionLoop loop = loops[Math.floorMod(nextLoop.getAndIncrement(), loops.length)];
        WorkerEntry old = registry.register(entry);
        if (old != null) {
            log.info(workerId, "re-connecting; closing the old session from " + old.observedIp + ":" + old.observedPort);
            old.connection.close(CloseCode.NORMAL, REPLACED_REASON);
        }
        byte[] leftover;
        try {
            leftover = HttpServerUpgrade.upgrade(ex, response);
        } catch (IOException | RuntimeException e) {
            registry.remove(entry);
            channel.close();
            log.warn(workerId, "WebSocket upgrade failed: " + e);
            return true;
        }
        loop.adopt(connection, leftover);
        log.info(workerId, "registered from WebSocket " + ip + ":" + remote.getPort() + ". Total: " + registry.size());
        return true;
    }

    /** Closes every session with 1001 (going away), then stops. */
    @Override
    public void close() {
        http.stop(0);
        for (ConnectionLoop loop : loops) loop.closeAll(CloseCode.GOING_AWAY, "server shutting down");
        long deadline = System.nanoTime() + 3_000_000_000L;   // bounded: sessions that do not read are cut
        while (registry.size() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (ConnectionLoop loop : loops) loop.stop();
        if (stun != null) stun.close();
        executor.shutdownNow();
        log.info(null, "stopped");
    }
}
