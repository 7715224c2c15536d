package holepunch.testing;

import holepunch.config.Env;
import holepunch.json.Json;
import holepunch.rendezvous.RendezvousConfig;
import holepunch.rendezvous.RendezvousServer;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;

/** A rendezvous on a free loopback port for one test class, with helpers to read its lists. */
public final class TestRendezvous implements AutoCloseable {
    public final RendezvousServer server;
    public final int port;
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    public TestRendezvous(Map<String, String> env) throws IOException {
        // SETUP_NICE=0: in the test's process, workers and clients share the virtual threads' carriers,
        // which a lowered setup would leave at its priority (SetupPriorityTest runs the real process).
        Map<String, String> all = new HashMap<>(Map.of("PORT", "0", "STUN_UDP_PORT", "0", "BIND_ADDRESS", "127.0.0.1", "SETUP_NICE", "0"));
        all.putAll(env);
        server = RendezvousServer.start(RendezvousConfig.from(new Env(all)));
        port = server.port();
    }

    public TestRendezvous() throws IOException {
        this(Map.of());
    }

    public String base() {
        return "http://127.0.0.1:" + port;
    }

    public HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base() + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> workers() throws Exception {
        Map<String, Object> list = Json.parseObject(get("/debug/list_workers").body());
        return (Map<String, Object>) list.get("workers");
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> worker(String id) throws Exception {
        return (Map<String, Object>) workers().get(id);
    }

    @Override
    public void close() {
        server.close();
    }
}
