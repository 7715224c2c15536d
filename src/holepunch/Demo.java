package holepunch;

import holepunch.config.Env;
import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.rendezvous.RendezvousConfig;
import holepunch.rendezvous.RendezvousServer;
import holepunch.worker.Worker;
import holepunch.worker.WorkerConfig;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code demo}: a rendezvous with its STUN server and two workers, all on loopback and in this
 * process, with no internet needed. Shows the rendezvous's worker list once both endpoints are
 * in, then runs until Ctrl-C.
 */
final class Demo {
    private Demo() {
    }

    /**
     * {@code train}: the demo's work once, then exit; the run from which {@code make} records the
     * JDK's ahead-of-time cache ({@code -XX:AOTCacheOutput}, JEPs 483/514/515), so that a worker or
     * a rendezvous started with it loads and links its classes from the cache.
     */
    static void train() throws Exception {
        Log.setLevel(Log.Level.WARNING);
        RendezvousServer server = RendezvousServer.start(RendezvousConfig.from(new Env(Map.of("PORT", "0", "BIND_ADDRESS", "127.0.0.1",
                "STUN_UDP_PORT", String.valueOf(freeUdpOr(0)), "MAX_SESSIONS", "1000"))));
        Worker[] workers = workers(server);
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (System.nanoTime() < deadline && !(bothReported(workers) && direct(workers[0]))) Thread.sleep(20);
        try {
            String base = "http://127.0.0.1:" + server.port();
            for (String path : List.of("/debug/list_workers", "/debug/stats", "/debug/pairs", "/debug/workers", "/ui", "/ui/app.js", "/metrics")) {
                get(base + path);
            }
            echoes(server.port(), 80);          // within MAX_MESSAGES_PER_SEC's burst (100)
        } finally {
            for (Worker w : workers) w.close();
            server.close();
        }
    }

    /**
     * A client as the original's speaks: registers, then echoes {@code rounds} times, one in flight, so that the
     * training run's record holds the echo path's classes and profiles too (a server whose sessions never echoed
     * before loaded them on its first echoes). Measured with BENCH_ONLY=tail, it did not change the tail after a
     * burst (issue 25: p99 16-205 ms in three runs, against 77-177 before): that stall is elsewhere.
     */
    private static void echoes(int port, int rounds) throws Exception {
        java.util.concurrent.LinkedBlockingQueue<String> in = new java.util.concurrent.LinkedBlockingQueue<>();
        try (HttpClient c = HttpClient.newHttpClient()) {
            java.net.http.WebSocket ws = c.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:" + port + "/ws/register/train-echo"),
                    new java.net.http.WebSocket.Listener() {
                        private final StringBuilder text = new StringBuilder();

                        @Override
                        public java.util.concurrent.CompletionStage<?> onText(java.net.http.WebSocket w, CharSequence data, boolean last) {
                            text.append(data);
                            if (last) {
                                in.add(text.toString());
                                text.setLength(0);
                            }
                            w.request(1);
                            return null;
                        }
                    }).get(10, java.util.concurrent.TimeUnit.SECONDS);
            ws.sendText("{\"type\":\"register_public_ip\",\"ip\":\"203.0.113.9\"}", true).get(10, java.util.concurrent.TimeUnit.SECONDS);
            ws.sendText("{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"198.51.100.9\",\"udp_port\":4000}", true).get(10, java.util.concurrent.TimeUnit.SECONDS);
            in.poll(10, java.util.concurrent.TimeUnit.SECONDS);
            for (int i = 0; i < rounds; i++) {
                ws.sendText("{\"type\":\"echo_request\",\"payload\":\"train " + i + "\"}", true).get(10, java.util.concurrent.TimeUnit.SECONDS);
                if (in.poll(10, java.util.concurrent.TimeUnit.SECONDS) == null) break;
            }
            ws.sendClose(1000, "trained").get(10, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    private static Worker[] workers(RendezvousServer server) throws IOException {
        String base = "http://127.0.0.1:" + server.port();
        Worker[] workers = new Worker[2];
        for (int i = 0; i < workers.length; i++) {
            Map<String, String> env1 = new HashMap<>(Map.of(
                    "RENDEZVOUS_SERVICE_URL", base,
                    "WORKER_ID", "demo-worker-" + (i + 1),
                    "STUN_HOST_ENV", "127.0.0.1",
                    "STUN_PORT_ENV", String.valueOf(server.stunPort()),
                    "INTERNAL_UDP_PORT_ENV", "0",
                    "PORT", "0",
                    "IP_ECHO_URL", "",
                    "HOST_CANDIDATES", "false"));      // loopback only
            if (i == 0) env1.put("P2P_CONNECT_TO", "demo-worker-2");
            else env1.put("P2P_ALLOW", "demo-worker-1");       // a worker takes part only in connections it accepts
            workers[i] = Worker.start(WorkerConfig.from(new Env(env1)));
        }
        return workers;
    }

    static void run(Env env) throws Exception {
        Log log = Log.of("demo");
        int httpPort = env.port("PORT", freeOr(8080), true);
        Map<String, String> rv = new HashMap<>(Map.of("PORT", String.valueOf(httpPort), "BIND_ADDRESS", "127.0.0.1",
                "STUN_UDP_PORT", String.valueOf(env.port("STUN_UDP_PORT", freeUdpPairOr(3478), false)), "MAX_SESSIONS", "1000",
                "SETUP_NICE", "0"));     // the workers share this process's virtual-thread carriers: not lowered
        RendezvousServer server = RendezvousServer.start(RendezvousConfig.from(new Env(rv)));
        String base = "http://127.0.0.1:" + server.port();
        Worker[] workers = workers(server);
        Shutdown.onSignal(() -> {
            for (Worker w : workers) w.close();
            server.close();
        });
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < deadline && !(bothReported(workers) && direct(workers[0]))) Thread.sleep(50);
        String list = get(base + "/debug/list_workers");
        StringBuilder out = new StringBuilder("\n=== holepunch demo ===\n");
        out.append("rendezvous:  ").append(base).append("   (STUN on UDP 127.0.0.1:").append(server.stunPort()).append(")\n");
        out.append("operator page: ").append(base).append("/ui   (the fleet, its pairs and why each is direct or relayed)\n");
        for (Worker w : workers) {
            out.append("worker ").append(w.id()).append(": UDP port ").append(w.udpPort())
                    .append(", status http://127.0.0.1:").append(w.healthPort()).append("/status\n");
        }
        out.append("\nGET ").append(base).append("/debug/list_workers\n").append(Json.writePretty(Json.parse(list))).append('\n');
        out.append(bothReported(workers) ? "\nBoth workers are registered with their STUN-discovered UDP endpoints.\n"
                : "\nThe workers have not reported their endpoints yet; see the log above.\n");
        out.append("\nGET worker demo-worker-1 /status peers: ").append(Json.write(workers[0].status().get("peers"))).append('\n');
        out.append("Press Ctrl-C to stop.\n");
        Log.flush(2000);
        System.out.println(out);
        log.info(null, "demo running");
        Shutdown.forever();
    }

    @SuppressWarnings("unchecked")
    private static boolean direct(Worker w) {
        List<Map<String, Object>> peers = (List<Map<String, Object>>) w.status().get("peers");
        return !peers.isEmpty() && "direct".equals(peers.getFirst().get("state"));
    }

    private static boolean bothReported(Worker[] workers) {
        for (Worker w : workers) {
            Map<String, Object> s = w.status();
            if (w.publicEndpoint() == null || !"success".equals(s.get("last_udp_endpoint_ack"))) return false;
        }
        return true;
    }

    private static String get(String url) throws IOException, InterruptedException {
        try (HttpClient c = HttpClient.newHttpClient()) {
            return c.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
        }
    }

    /**
     * A UDP port whose next one is free too (the STUN server's OTHER-ADDRESS takes it): {@code preferred} when it
     * and its neighbour are, else a pair below the system's ephemeral range (20000-32767), where no other program's
     * socket is handed a port while the server starts (a pair inside that range lost its second port so, twice in
     * CI). The demo warns of nothing it chose itself.
     */
    private static int freeUdpPairOr(int preferred) {
        java.util.Random random = new java.util.Random();
        for (int i = 0; i < 50; i++) {
            int p = i == 0 ? preferred : 20000 + 2 * random.nextInt(6383);
            try (java.net.DatagramSocket a = new java.net.DatagramSocket(new InetSocketAddress("127.0.0.1", p));
                 java.net.DatagramSocket b = new java.net.DatagramSocket(new InetSocketAddress("127.0.0.1", p + 1))) {
                if (a.isBound() && b.isBound()) return p;                   // both free: closed again, the server takes them
            } catch (IOException e) {
                // taken: try another
            }
        }
        return freeUdpOr(0);
    }

    private static int freeUdpOr(int preferred) {
        for (int p : List.of(preferred, 0)) {
            try (java.net.DatagramSocket s = new java.net.DatagramSocket(new InetSocketAddress("127.0.0.1", p))) {
                return s.getLocalPort();
            } catch (IOException e) {
                // taken: try the next
            }
        }
        return 0;
    }

    private static int freeOr(int preferred) {
        for (int p : List.of(preferred, 0)) {
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress("127.0.0.1", p));
                return s.getLocalPort();
            } catch (IOException e) {
                // taken: try the next
            }
        }
        return 0;
    }
}
