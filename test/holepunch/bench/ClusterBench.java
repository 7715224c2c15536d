package holepunch.bench;

import holepunch.testing.RedisServer;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * {@code BENCH_ONLY=cluster make bench}: registrations/s of three instances sharing one redis-server beside one
 * standalone instance, Redis round trips per registration, and the time to list the whole cluster.
 */
final class ClusterBench {
    private ClusterBench() {
    }

    static void run(int sessions) throws Exception {
        if (!new java.io.File("/usr/bin/redis-server").canExecute()) {
            System.out.println("cluster: redis-server is not installed (make test-tools); skipped");
            return;
        }
        String runSh = Path.of("run.sh").toAbsolutePath().toString();
        int waves = Integer.parseInt(System.getenv().getOrDefault("BENCH_WAVES", "3"));
        System.out.printf("# cluster bench: %d sessions a wave, %d cores%n", sessions, Runtime.getRuntime().availableProcessors());
        List<RvServer> started = new ArrayList<>();
        try (RedisServer redis = new RedisServer()) {
            RvServer single = RvServer.start("standalone", List.of(runSh, "rendezvous"));
            started.add(single);
            for (int w = 1; w <= waves; w++) single.rates.add(Bench.wave(single, sessions, w));
            single.stop();
            started.remove(single);

            List<RvServer> cluster = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                RvServer s = RvServer.start("instance-" + i, List.of(runSh, "rendezvous"), Map.of("REDIS_URL", redis.url(),
                        "P2P_OFFERS_PER_MIN", "1000000", "MAX_PAIRS_PER_WORKER", "100000"));
                cluster.add(s);
                started.add(s);
            }
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            double[] rates = new double[waves];
            for (int w = 0; w < waves; w++) {
                for (RvServer s : cluster) Bench.awaitNoWorkers(s.port);
                long trips0 = 0;
                for (RvServer s : cluster) trips0 += metric(http, s.port, "holepunch_cluster_redis_round_trips_total");
                List<WsLoad> loads = new ArrayList<>();
                try {
                    List<CompletableFuture<Double>> runs = new ArrayList<>();
                    for (int i = 0; i < 3; i++) {
                        WsLoad load = new WsLoad(cluster.get(i).target);
                        loads.add(load);
                        String prefix = "c" + i + "-";
                        runs.add(CompletableFuture.supplyAsync(() -> {
                            try {
                                return load.register(sessions / 3, 512 / 3, prefix, 300_000_000_000L);
                            } catch (java.io.IOException e) {
                                throw new java.io.UncheckedIOException(e);
                            }
                        }));
                    }
                    double secs = 0;
                    for (CompletableFuture<Double> r : runs) secs = Math.max(secs, r.get());
                    int total = 3 * (sessions / 3);
                    rates[w] = total / secs;
                    // the batched writes of the wave's last changes land within one batch interval
                    long deadline = System.nanoTime() + 10_000_000_000L;
                    while (listedCount(http, cluster.get(0).port) < total && System.nanoTime() < deadline) Thread.sleep(20);
                    long trips = -trips0;
                    for (RvServer s : cluster) trips += metric(http, s.port, "holepunch_cluster_redis_round_trips_total");
                    long[] listMicros = new long[20];
                    for (int i = 0; i < listMicros.length; i++) {
                        long t0 = System.nanoTime();
                        int n = listedCount(http, cluster.get(i % 3).port);
                        listMicros[i] = (System.nanoTime() - t0) / 1000;
                        if (n != total) throw new AssertionError("instance " + (i % 3) + " lists " + n + " of " + total);
                    }
                    Arrays.sort(listMicros);
                    System.out.printf(Locale.ROOT, "cluster (3 instances + redis): wave %d: %d registrations in %.2f s = %.0f registrations/s;"
                                    + " %.3f Redis round trips per registration (listing included); GET /debug/list_workers of %d workers p50 %.1f ms%n",
                            w + 1, total, secs, rates[w], trips / (double) total, total, listMicros[10] / 1000.0);
                } finally {
                    for (WsLoad l : loads) l.close();
                }
            }
            introductions("same instance", cluster.get(0).port, cluster.get(0).port);
            introductions("across instances", cluster.get(0).port, cluster.get(1).port);
            Arrays.sort(rates);
            System.out.printf(Locale.ROOT, "cluster: registrations/s, median of %d waves: 3 instances + redis %.0f, standalone %.0f%n",
                    waves, rates[waves / 2], single.medianRate());
        } finally {
            for (RvServer s : started) s.stop();
        }
    }

    /** request_p2p_connection to both offers received, 300 times in a row (after 50 unmeasured). */
    private static void introductions(String name, int portA, int portB) throws Exception {
        String a = "intro-a-" + name.charAt(0), b = "intro-b-" + name.charAt(0);
        try (holepunch.testing.RawWebSocket x = holepunch.testing.RawWebSocket.connect(portA, a);
             holepunch.testing.RawWebSocket y = holepunch.testing.RawWebSocket.connect(portB, b)) {
            for (holepunch.testing.RawWebSocket w : List.of(x, y)) {
                w.sendText("{\"type\": \"update_udp_endpoint\", \"udp_ip\": \"203.0.113.7\", \"udp_port\": 4000}");
                w.readSkippingPings();
            }
            // the directory is written in batches: wait until a's instance sees b (at most 10 s)
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + portA + "/debug/list_workers")).build(),
                    HttpResponse.BodyHandlers.ofString()).body().contains("\"" + b + "\"") && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            long[] micros = new long[300];
            for (int i = -50; i < micros.length; i++) {
                long t0 = System.nanoTime();
                x.sendText("{\"type\": \"request_p2p_connection\", \"target_worker_id\": \"" + b + "\"}");
                String ox = x.readSkippingPings().text();
                if (!ox.contains("p2p_connection_offer")) throw new AssertionError("no offer: " + ox);
                String oy = y.readSkippingPings().text();
                if (!oy.contains("p2p_connection_offer")) throw new AssertionError("no offer: " + oy);
                if (i >= 0) micros[i] = (System.nanoTime() - t0) / 1000;
            }
            Arrays.sort(micros);
            System.out.printf(Locale.ROOT, "cluster: introduction %s (request to both offers): p50 %.2f ms, p99 %.2f ms (%d requests)%n",
                    name, micros[micros.length / 2] / 1000.0, micros[(int) (micros.length * 0.99) - 1] / 1000.0, micros.length);
        }
    }

    private static int listedCount(HttpClient http, int port) throws Exception {
        String body = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/debug/list_workers")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        return ((Number) holepunch.json.Json.parseObject(body).get("connected_workers_count")).intValue();
    }

    private static long metric(HttpClient http, int port, String name) throws Exception {
        String body = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        for (String line : body.split("\n")) {
            if (line.startsWith(name + " ")) return (long) Double.parseDouble(line.substring(name.length() + 1).trim());
        }
        throw new AssertionError(name + " not in /metrics of port " + port);
    }
}
