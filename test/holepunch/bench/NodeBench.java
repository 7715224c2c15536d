package holepunch.bench;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * {@code BENCH_ONLY=node}: echo during and right after a 10,000-session registration burst, with
 * an independent client (node_load.js: node and Debian's ws, no code of ours) in two processes,
 * one holding 100 sessions that echo in a closed loop, one registering the burst; the burst's
 * sessions stay open until the echo has been measured 2 s past its end, so their closes do not
 * fall in that window. Against run.sh's rendezvous, and the original's with BENCH_SEED=1;
 * BENCH_REPEAT runs each (default 3). Skipped when node or ws is missing.
 * <p>
 * It also reads each server's RSS the way {@link Bench#memory} does, but under this client's pace of
 * registration: freshly started, then at the end of the window right after the burst, with the
 * burst's sessions still open. The design card's own command ({@code java -jar}, JVM defaults)
 * runs here too, for memory and echo alike.
 */
final class NodeBench {
    static final double AFTER_SECONDS = 2.0;

    private NodeBench() {
    }

    static void run(int sessions) throws Exception {
        Path script = Path.of("test/holepunch/bench/node_load.js").toAbsolutePath();
        String ws = System.getenv().getOrDefault("NODE_WS", "/usr/share/nodejs/ws");
        if (!nodeRuns() || !new File(ws).exists()) {
            System.out.println("node: skipped (needs node and ws: apt-get install nodejs node-ws, or NODE_WS=<path to ws>)");
            return;
        }
        int repeat = Integer.parseInt(System.getenv().getOrDefault("BENCH_REPEAT", "3"));
        List<RvServer> servers = new ArrayList<>();
        try {
            servers.add(RvServer.start("holepunch", List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous")));
            List<String> plain = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
            String diag = System.getenv("BENCH_PLAIN_JAVA_OPTIONS");     // diagnosis only, e.g. a GC log: the figure is without
            if (diag != null) plain.addAll(List.of(diag.trim().split("\\s+")));
            plain.addAll(List.of("-jar", Path.of("build/holepunch.jar").toAbsolutePath().toString(), "rendezvous"));
            servers.add(RvServer.start("holepunch (java -jar, JVM defaults)", plain));
            if ("1".equals(System.getenv("BENCH_SEED"))) {
                File seed = new File("../shared/anchors/seed_rendezvous.sh");
                if (seed.exists()) servers.add(RvServer.start("original", List.of("bash", seed.getAbsolutePath())));
            }
            long[] fresh = new long[servers.size()];
            for (int i = 0; i < fresh.length; i++) fresh[i] = ProcStats.rssKb(servers.get(i).pid());
            for (int i = 0; i < repeat; i++) {
                for (int k = 0; k < servers.size(); k++) {
                    RvServer server = servers.get(k);
                    Bench.quiesce(servers);
                    once(server, script, sessions, i == 0 ? fresh[k] : -1);
                    Bench.awaitNoWorkers(server.port);
                }
            }
        } finally {
            for (RvServer server : servers) server.stop();
        }
    }

    /** One run; {@code freshKb}: the server's RSS when it started, for its first run (else -1). */
    private static void once(RvServer server, Path script, int sessions, long freshKb) throws Exception {
        Path out = Files.createTempFile("node-echo", ".json");
        Process echo = new ProcessBuilder("node", script.toString(), "echo", String.valueOf(server.port), out.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Process[] burst = {null};
        // Every read below waits on a node process: a client that hangs is ended after 5 minutes.
        Thread watchdog = Thread.ofPlatform().daemon().start(() -> {
            try {
                Thread.sleep(300_000);
                echo.destroyForcibly();
                if (burst[0] != null) burst[0].destroyForcibly();
            } catch (InterruptedException done) {
                // the run ended in time
            }
        });
        try {
            BufferedReader echoOut = new BufferedReader(new InputStreamReader(echo.getInputStream(), StandardCharsets.UTF_8));
            if (!"ready".equals(echoOut.readLine())) throw new IllegalStateException("the node echo client did not start");
            burst[0] = new ProcessBuilder("node", script.toString(), "burst", String.valueOf(server.port), String.valueOf(sessions))
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String line = new BufferedReader(new InputStreamReader(burst[0].getInputStream(), StandardCharsets.UTF_8)).readLine();
            if (line == null || !line.startsWith("burst ")) throw new IllegalStateException("the node burst client failed");
            String[] f = line.split(" ");
            long t0 = Long.parseLong(f[1]), t1 = Long.parseLong(f[2]);
            Thread.sleep((long) (AFTER_SECONDS * 1000) + 100);     // the measuring window after the burst, not a wait for an event
            long held = ProcStats.rssKb(server.pid());               // the burst's sessions are still open
            echo.getOutputStream().close();                          // the echo client writes its figures and ends
            if (!echo.waitFor(30, TimeUnit.SECONDS)) throw new IllegalStateException("the node echo client did not end");
            String text = Files.readString(out).trim();
            String[] pairs = text.length() <= 2 ? new String[0] : text.substring(1, text.length() - 1).split(",");  // [at, ms, at, ms, ...]
            List<Double> during = new ArrayList<>(), after = new ArrayList<>();
            for (int i = 0; i + 1 < pairs.length; i += 2) {
                long at = Long.parseLong(pairs[i]);
                double ms = Double.parseDouble(pairs[i + 1]);
                if (at >= t0 && at <= t1) during.add(ms);
                else if (at > t1 && at <= t1 + (long) (AFTER_SECONDS * 1000)) after.add(ms);
            }
            System.out.printf(Locale.ROOT, "%s rendezvous, node client: burst %d in %.2f s = %.0f/s; echo during it %.0f msg/s, p50 %.2f ms,"
                            + " p99 %.2f ms; right after it (%.0f s) %.0f msg/s, p50 %.2f ms, p99 %.2f ms%n",
                    server.name, sessions, (t1 - t0) / 1000.0, sessions * 1000.0 / (t1 - t0), during.size() * 1000.0 / (t1 - t0),
                    pct(during, 0.5), pct(during, 0.99), AFTER_SECONDS, after.size() / AFTER_SECONDS, pct(after, 0.5), pct(after, 0.99));
            if (freshKb > 0) {
                System.out.printf(Locale.ROOT, "%s rendezvous, node client: RSS %.1f MB freshly started, %.1f MB right after the burst"
                        + " holding %d sessions: %.1f KB/session%n", server.name, freshKb / 1024.0, held / 1024.0, sessions,
                        (held - freshKb) / (double) sessions);
            } else {
                System.out.printf(Locale.ROOT, "%s rendezvous, node client: RSS %.1f MB right after this burst%n", server.name, held / 1024.0);
            }
        } finally {
            watchdog.interrupt();
            if (burst[0] != null) {
                burst[0].getOutputStream().close();                  // its sessions close now, after the windows
                if (!burst[0].waitFor(30, TimeUnit.SECONDS)) burst[0].destroyForcibly();
            }
            echo.destroyForcibly();
            Files.deleteIfExists(out);
        }
    }

    private static boolean nodeRuns() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (java.io.IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    static double pct(List<Double> v, double p) {
        if (v.isEmpty()) return Double.NaN;
        double[] a = v.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        return a[Math.min(a.length - 1, (int) (p * a.length))];
    }
}
