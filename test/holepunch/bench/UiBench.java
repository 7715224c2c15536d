package holepunch.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The operator page's cost with a large fleet (BENCH_ONLY=ui): a rendezvous started by run.sh holds
 * BENCH_SESSIONS sessions (10,000), and one viewer polls as the page does (/debug/stats,
 * /debug/pairs?limit=100, /debug/workers?limit=200, and a search): the time each poll takes, the
 * bytes it moves, and the server's CPU per poll (from /proc). The page itself draws at most 200
 * worker rows and 100 pair rows whatever the fleet.
 */
final class UiBench {
    private UiBench() {
    }

    static void run(int sessions) throws Exception {
        RvServer server = RvServer.start("holepunch", List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous"));
        try (WsLoad load = new WsLoad(server.target)) {
            load.register(sessions, 256, "ui-", 300_000_000_000L);
            HttpClient http = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + server.port;
            List<String> poll = List.of("/debug/stats", "/debug/pairs?limit=100&q=", "/debug/workers?limit=200&q=");
            for (int i = 0; i < 20; i++) for (String p : poll) get(http, base + p);      // warm: the JIT, the page's first loads
            int rounds = 100;
            long[] took = new long[rounds];
            long bytes = 0;
            long cpu0 = ProcStats.cpuMillis(server.pid());
            for (int i = 0; i < rounds; i++) {
                long t0 = System.nanoTime();
                for (String p : poll) bytes += get(http, base + p);
                took[i] = System.nanoTime() - t0;
                load.hold(0.02, () -> { });       // the sessions keep answering pings meanwhile
            }
            long cpu = ProcStats.cpuMillis(server.pid()) - cpu0;
            Arrays.sort(took);
            long searchBytes = 0;
            long s0;
            for (int i = 0; i < 20; i++) get(http, base + "/debug/workers?limit=200&q=ui-9");      // warm
            s0 = System.nanoTime();
            for (int i = 0; i < 20; i++) searchBytes += get(http, base + "/debug/workers?limit=200&q=ui-99");
            double searchMs = (System.nanoTime() - s0) / 20 / 1e6;
            System.out.printf(Locale.ROOT, "operator page, %d workers: one poll (stats, 100 pairs, 200 workers) p50 %.1f ms, p99 %.1f ms, %.0f KB;"
                            + " server CPU %.1f ms a poll (a viewer polls every 3 s: %.2f%% of a core); a search by id %.1f ms, %.0f KB%n",
                    sessions, took[rounds / 2] / 1e6, took[rounds * 99 / 100] / 1e6, bytes / rounds / 1024.0,
                    (double) cpu / rounds, (double) cpu / rounds / 3000 * 100, searchMs, searchBytes / 20 / 1024.0);
        } finally {
            server.stop();
        }
    }

    private static long get(HttpClient http, String url) throws Exception {
        HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) throw new IllegalStateException(url + ": HTTP " + r.statusCode());
        return r.body().length;
    }
}
