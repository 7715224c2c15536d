package holepunch.bench;

import com.sun.net.httpserver.HttpServer;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

/**
 * The floor under the tail bench's CPU figure: the JDK {@code HttpServer} alone (which the rendezvous is built on,
 * per the design card), on virtual threads as ours, answering each request with a small JSON body and nothing else.
 * TailBench starts it with the rendezvous's JVM settings and has node_http_floor.js open as many connections as the
 * pattern has sessions, 200 at a time, one plain request each. What it costs is what any rendezvous on this server
 * pays before a WebSocket frame, a registration, a log line or an echo. {@code PORT} names the port.
 */
public final class HttpFloor {
    private HttpFloor() {
    }

    public static void main(String[] args) throws Exception {
        byte[] body = "{\"type\":\"ok\"}".getBytes(StandardCharsets.US_ASCII);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(System.getenv("PORT"))), 1024);
        server.createContext("/", exchange -> {
            exchange.getRequestBody().readAllBytes();
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.start();
    }
}
