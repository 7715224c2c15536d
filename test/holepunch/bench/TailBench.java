package holepunch.bench;

import holepunch.json.Json;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code BENCH_ONLY=tail}: issue 25's pattern with an independent client (node_tail.js: node and Debian's
 * ws): 10,000 sessions registered 200 at a time, each batch waiting for its acks, then one
 * {@code GET /debug/list_workers}, then 100 sessions echoing 100 rounds each, one message in flight.
 * Each run on a fresh server started by run.sh, and (BENCH_SEED=1) the original's in the same run, taken
 * in turn; BENCH_REPEAT runs (3). Prints each run's echo p50/p99, the list's time, the server's CPU for
 * the whole of it (from /proc, JIT and GC included) and its RSS per session after; then the median and
 * worst p99 and the CPU beside the original's.
 */
final class TailBench {
    private TailBench() {
    }

    record Run(double p50, double p99, double max, double listMs, long cpuMillis, double kbPerSession) {
    }

    static void run(int sessions, int repeat) throws Exception {
        Path script = Path.of("test/holepunch/bench/node_tail.js").toAbsolutePath();
        if (!new File(System.getenv().getOrDefault("NODE_WS", "/usr/share/nodejs/ws")).exists()) {
            System.out.println("tail: skipped (needs node and ws: apt-get install nodejs node-ws)");
            return;
        }
        boolean seed = "1".equals(System.getenv("BENCH_SEED")) && new File("../shared/anchors/seed_rendezvous.sh").exists();
        List<Run> ours = new ArrayList<>(), theirs = new ArrayList<>();
        for (int r = 0; r < repeat; r++) {
            ours.add(once("holepunch", List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous"), script, sessions, r + 1));
            if (seed) {
                theirs.add(once("original", List.of("bash", new File("../shared/anchors/seed_rendezvous.sh").getAbsolutePath()), script, sessions, r + 1));
            }
        }
        summary("holepunch", ours);
        if (seed) {
            summary("original", theirs);
            double cpuOurs = ours.stream().mapToLong(Run::cpuMillis).sorted().toArray()[ours.size() / 2];
            double cpuTheirs = theirs.stream().mapToLong(Run::cpuMillis).sorted().toArray()[theirs.size() / 2];
            System.out.printf(Locale.ROOT, "tail: server CPU for the same work, median run: %.2fx the original's (target <= 0.15x)%n", cpuOurs / cpuTheirs);
            long[] floor = new long[repeat];
            for (int r = 0; r < repeat; r++) floor[r] = floorCpuMillis(sessions);
            Arrays.sort(floor);
            System.out.printf(Locale.ROOT, "tail: the JDK HttpServer alone (HttpFloor, the rendezvous's JVM settings), %d plain requests 200 at a time on"
                    + " fresh connections: server CPU %d ms in the median of %d runs, %.2fx the original's for the whole pattern%n",
                    sessions, floor[repeat / 2], repeat, floor[repeat / 2] / cpuTheirs);
        }
    }

    /** The server CPU, in ms, that {@link HttpFloor} spends on {@code requests} plain requests from node_http_floor.js, on a fresh JVM. */
    private static long floorCpuMillis(int requests) throws Exception {
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(javaBin));
        command.addAll(java.nio.file.Files.readAllLines(Path.of("build/jvm.options")));
        command.addAll(List.of("-cp", "build/test-classes", HttpFloor.class.getName()));
        RvServer server = RvServer.start("floor", command, Map.of());
        try {
            Thread.sleep(1000);
            long pid = server.pid();
            long cpu0 = ProcStats.cpuMillis(pid);
            Process p = new ProcessBuilder("node", Path.of("test/holepunch/bench/node_http_floor.js").toAbsolutePath().toString(),
                    String.valueOf(server.port), String.valueOf(requests)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IllegalStateException("node_http_floor.js failed: " + out);
            long cpu = ProcStats.cpuMillis(pid) - cpu0;
            Map<String, Object> m = Json.parseObject(out);
            if (num(m.get("ok")) != requests) throw new IllegalStateException("the floor server answered " + m.get("ok") + " of " + requests);
            return cpu;
        } finally {
            server.stop();
        }
    }

    private static void summary(String name, List<Run> runs) {
        double[] p99 = runs.stream().mapToDouble(Run::p99).sorted().toArray();
        System.out.printf(Locale.ROOT, "tail %s: echo p99 right after the burst, median of %d runs %.1f ms, worst %.1f ms (targets <= 10, <= 20)%n",
                name, runs.size(), p99[p99.length / 2], p99[p99.length - 1]);
    }

    private static Run once(String name, List<String> command, Path script, int sessions, int n) throws Exception {
        RvServer server = RvServer.start(name, command, Map.of("MAX_MESSAGES_PER_SEC", "50", "MAX_SESSIONS_PER_IP", "1000000"));
        try {
            Thread.sleep(1000);                               // started: what follows is the pattern's work alone
            long pid = server.pid();
            long rss0 = ProcStats.rssKb(pid);
            long cpu0 = ProcStats.cpuMillis(pid);
            Process p = new ProcessBuilder("node", script.toString(), String.valueOf(server.port), String.valueOf(sessions))
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IllegalStateException("node_tail.js failed: " + out);
            long cpu = ProcStats.cpuMillis(pid) - cpu0;
            long rss = ProcStats.rssKb(pid);
            Map<String, Object> m = Json.parseObject(out.lines().reduce((a, b) -> b).orElse("{}"));
            Run run = new Run(num(m.get("echo_p50_ms")), num(m.get("echo_p99_ms")), num(m.get("echo_max_ms")), num(m.get("list_ms")), cpu,
                    (rss - rss0) / (double) sessions);
            System.out.printf(Locale.ROOT, "tail %s run %d: %d sessions in %.1f s, list %.0f ms (%s bytes), echo p50 %.1f ms p99 %.1f ms max %.1f ms;"
                            + " server CPU %d ms; %.1f KB RSS per session; the client in the echo window: event loop delayed up to %.1f ms,"
                            + " GC %.1f ms (longest %.1f)%n", name, n, ((Number) m.get("sessions")).intValue(), num(m.get("burst_s")),
                    run.listMs(), m.get("list_bytes"), run.p50(), run.p99(), run.max(), cpu, run.kbPerSession(),
                    num(m.get("client_loop_delay_max_ms")), num(m.get("client_gc_ms")), num(m.get("client_gc_max_ms")));
            return run;
        } finally {
            server.stop();
        }
    }

    private static double num(Object o) {
        return o instanceof Number x ? x.doubleValue() : Double.NaN;
    }

    /**
     * The same pattern with our own Java client (WsLoad, one thread, non-blocking; BENCH_TAIL_CLIENT=java): 200
     * handshakes in flight rather than batches of 200, then the list, then 100 sessions echoing for one second.
     * Tells the server's part of the tail from the client's.
     */
    static void runJava(int sessions, int repeat) throws Exception {
        for (int r = 0; r < repeat; r++) {
            RvServer server = RvServer.start("holepunch", List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous"),
                    Map.of("MAX_MESSAGES_PER_SEC", "50", "MAX_SESSIONS_PER_IP", "1000000"));
            try (WsLoad load = new WsLoad(server.target)) {
                Thread.sleep(1000);
                double took = load.register(sessions, 200, "jtail-", 300_000_000_000L);
                long l0 = System.nanoTime();
                try (java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient()) {
                    http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + server.port + "/debug/list_workers")).build(),
                            java.net.http.HttpResponse.BodyHandlers.discarding());
                }
                double listMs = (System.nanoTime() - l0) / 1e6;
                double[] echo = load.echo(100, 1.0);
                System.out.printf(Locale.ROOT, "tail java client run %d: %d sessions in %.1f s, list %.0f ms, echo %.0f/s p50 %.1f ms p99 %.1f ms%n",
                        r + 1, sessions, took, listMs, echo[0], echo[1], echo[2]);
            } finally {
                server.stop();
            }
        }
    }
}
