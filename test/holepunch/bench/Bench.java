package holepunch.bench;

import holepunch.testing.Ports;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code make bench}: prints the performance figures. Each server runs as its own process so its
 * RSS can be read from /proc. {@code BENCH_SEED=1} also runs the original Python rendezvous
 * (../shared/anchors/seed_rendezvous.sh) for a side-by-side figure. {@code BENCH_SESSIONS}
 * (default 10000) sets how many sessions are held.
 */
public final class Bench {
    private Bench() {
    }

    public static void main(String[] args) throws Exception {
        String holdPort = System.getenv("BENCH_HOLD_PORT");
        if (holdPort != null) {     // diagnosis: hold sessions against a server started by hand
            try (WsLoad load = new WsLoad(new InetSocketAddress("127.0.0.1", Integer.parseInt(holdPort)))) {
                int n = Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000"));
                load.register(n, 512, "hold-", 300_000_000_000L);
                System.out.println("holding " + n + " sessions");
                load.hold(Double.parseDouble(System.getenv().getOrDefault("BENCH_HOLD_SECONDS", "60")), () -> { });
            }
            return;
        }
        String only = System.getenv().getOrDefault("BENCH_ONLY", "");
        if (only.isEmpty() || only.equals("stun")) stun();
        if (only.isEmpty() || only.equals("worker")) worker();
        if (only.isEmpty() || only.equals("alloc")) AllocBench.run();
        if (only.isEmpty() || only.equals("forward")) ForwardBench.run();
        if (only.isEmpty() || only.equals("relay")) RelayBench.run();
        if (only.isEmpty() || only.equals("p2p")) {
            if ("0".equals(new String(new ProcessBuilder("id", "-u").start().getInputStream().readAllBytes()).trim())) LabBench.run();
            else System.out.println("p2p: the NAT lab needs root; skipped");
        }
        if (only.equals("node")) {
            NodeBench.run(Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000")));
            return;
        }
        if (only.isEmpty() || only.equals("ui")) UiBench.run(Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000")));
        if (only.equals("tail") && "java".equals(System.getenv("BENCH_TAIL_CLIENT"))) {
            TailBench.runJava(Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000")),
                    Integer.parseInt(System.getenv().getOrDefault("BENCH_REPEAT", "3")));
            return;
        }
        if (only.equals("tail")) {
            TailBench.run(Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000")),
                    Integer.parseInt(System.getenv().getOrDefault("BENCH_REPEAT", "3")));
            return;
        }
        if (only.equals("cluster")) {
            ClusterBench.run(Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000")));
            return;
        }
        if (only.equals("stun") || only.equals("worker") || only.equals("p2p") || only.equals("alloc") || only.equals("forward")
                || only.equals("relay") || only.equals("ui")) return;
        if (only.equals("burst")) {     // only the echo-during-a-burst figure, BENCH_REPEAT times on one server
            burstOnly(Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000")),
                    Integer.parseInt(System.getenv().getOrDefault("BENCH_REPEAT", "3")));
            return;
        }
        int sessions = Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000"));
        boolean seed = "1".equals(System.getenv("BENCH_SEED"));
        System.out.printf("# holepunch bench: %d sessions, %d cores%n", sessions, Runtime.getRuntime().availableProcessors());
        // The server is started the way users start it: ./run.sh (same JVM settings as the container).
        List<RvServer> servers = new ArrayList<>();
        try {
            servers.add(RvServer.start("holepunch", List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous")));
            // The design card's own command, with the JVM's defaults on this machine: memory only.
            RvServer plain = RvServer.start("holepunch (java -jar, JVM defaults)", List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-jar", Path.of("build/holepunch.jar").toAbsolutePath().toString(), "rendezvous"));
            try {
                memory(plain, sessions);
            } finally {
                plain.stop();
            }
            if (seed) {
                File script = new File("../shared/anchors/seed_rendezvous.sh");
                if (script.exists()) servers.add(RvServer.start("original", List.of("bash", script.getAbsolutePath())));
                else System.out.println("seed: ../shared/anchors/seed_rendezvous.sh not found, skipped");
            }
            for (RvServer server : servers) memory(server, sessions);
            if (only.equals("memory")) return;    // memory per session only (java -jar, run.sh, the original with BENCH_SEED=1)
            // Throughput: waves taken in turn from each server, so a slow spell of the machine (its
            // speed drifts by ±20% over minutes) falls on both; the median wave is the figure.
            int waves = Integer.parseInt(System.getenv().getOrDefault("BENCH_WAVES", "3"));
            for (int w = 0; w < waves; w++) {
                for (RvServer server : servers) {
                    quiesce(servers);    // the other server's clean-up would take CPU from this wave
                    server.rates.add(wave(server, sessions, w + 1));
                }
            }
            for (RvServer server : servers) {
                System.out.printf(Locale.ROOT, "%s rendezvous: registrations/s, median of %d waves: %.0f%n", server.name, waves, server.medianRate());
            }
            for (RvServer server : servers) {
                quiesce(servers);
                echo(server, sessions);
            }
            for (RvServer server : servers) {
                quiesce(servers);
                echoDuringBurst(server, sessions, 1);
            }
            if (servers.size() == 2) {
                RvServer ours = servers.get(0), theirs = servers.get(1);
                System.out.printf(Locale.ROOT, "side by side: registrations/s %.1fx the original's (target >= 4x, PERFORMANCE.md); memory per session %.0f%% of the original's (target <= 20%%)%n",
                        ours.medianRate() / theirs.medianRate(), 100 * ours.kbPerSession / theirs.kbPerSession);
            }
        } finally {
            for (RvServer server : servers) server.stop();
        }
        NodeBench.run(sessions);      // the same burst with an independent client, on fresh servers (memory alone returned above)
    }

    /**
     * Waits until every server lists no workers and has been idle (under 5% of a core) for 200 ms;
     * at most 120 s.
     */
    static void quiesce(List<RvServer> servers) throws Exception {
        for (RvServer server : servers) awaitNoWorkers(server.port);
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (System.nanoTime() < deadline) {
            long busy = 0;
            long[] before = new long[servers.size()];
            for (int i = 0; i < before.length; i++) before[i] = ProcStats.cpuMillis(servers.get(i).pid());
            Thread.sleep(200);    // the measuring window, not a wait for an event
            for (int i = 0; i < before.length; i++) busy += ProcStats.cpuMillis(servers.get(i).pid()) - before[i];
            if (busy <= 10) return;
        }
        System.out.println("note: the servers did not become idle within 120 s");
    }

    /** Memory, the same way for every server: RSS freshly started, then holding N sessions. */
    static void memory(RvServer server, int sessions) throws Exception {
        long fresh = ProcStats.rssKb(server.pid());
        long cpu0 = ProcStats.cpuMillis(server.pid());
        try (WsLoad first = new WsLoad(server.target)) {
            first.register(sessions, 512, "first-", 300_000_000_000L);
            long cold = ProcStats.cpuMillis(server.pid()) - cpu0;
            // Echo at once after the burst, while its garbage is still being collected.
            double[] after = first.echo(100, 2.0);
            long held = ProcStats.rssKb(server.pid());
            // Then as it settles, holding the sessions (answering pings): RSS once it has not fallen for 7 s
            // (over twice the rendezvous's idle-collection period under G1's defaults), within 30 s.
            long settled = held;
            long until = System.nanoTime() + 30_000_000_000L;
            long last = Long.MAX_VALUE;
            int steady = 0;
            while (System.nanoTime() < until && steady < 7) {
                first.hold(1.0, () -> { });
                settled = ProcStats.rssKb(server.pid());
                steady = settled >= last - 256 ? steady + 1 : 0;
                last = Math.min(last, settled);
            }
            server.kbPerSession = (settled - fresh) / (double) sessions;
            System.out.printf(Locale.ROOT, "%s rendezvous: RSS %.1f MB freshly started, %.1f MB holding %d sessions right after the burst"
                            + " (%.1f KB/session), %.1f MB settled: %.1f KB/session%n",
                    server.name, fresh / 1024.0, held / 1024.0, sessions, (held - fresh) / (double) sessions, settled / 1024.0, server.kbPerSession);
            System.out.printf(Locale.ROOT, "%s rendezvous: cold burst (a fresh process, JIT included): server CPU %.3f ms per registration;"
                    + " echo right after it: %.0f msg/s, p50 %.2f ms, p99 %.2f ms%n", server.name, cold / (double) sessions, after[0], after[1], after[2]);
            if (System.getenv("BENCH_HISTO") != null) histogram(server.pid());
        }
    }

    /**
     * Echo latency during a registration burst: 100 held sessions echo in a closed loop while another
     * client registers {@code sessions} more (its own thread and selector), on a warmed-up server.
     */
    static void echoDuringBurst(RvServer server, int sessions, int number) throws Exception {
        try (WsLoad held = new WsLoad(server.target); WsLoad burst = new WsLoad(server.target)) {
            held.register(100, 100, "held" + number + "-", 60_000_000_000L);
            java.util.concurrent.atomic.AtomicBoolean running = new java.util.concurrent.atomic.AtomicBoolean(true);
            java.util.concurrent.atomic.AtomicReference<Exception> failure = new java.util.concurrent.atomic.AtomicReference<>();
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    burst.register(sessions, 512, "burst" + number + "-", 300_000_000_000L);
                } catch (Exception e) {
                    failure.set(e);
                } finally {
                    running.set(false);
                }
            });
            double[] during = held.echoWhile(100, running::get);
            t.join();
            if (failure.get() != null) throw failure.get();
            double[] after = held.echo(100, 2.0);
            System.out.printf(Locale.ROOT, "%s rendezvous: echo during a %d-session registration burst: %.0f msg/s, p50 %.2f ms, p99 %.2f ms;"
                    + " right after it: p50 %.2f ms, p99 %.2f ms%n", server.name, sessions, during[0], during[1], during[2], after[1], after[2]);
        }
        awaitNoWorkers(server.port);
    }

    /**
     * The echo-during-a-burst figure alone, {@code repeat} times, after one warm-up wave and
     * BENCH_WAVES (default 0) measured waves.
     */
    static void burstOnly(int sessions, int repeat) throws Exception {
        RvServer server = RvServer.start("holepunch", List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous"));
        System.out.println("server log: " + server.log);
        try {
            wave(server, sessions, 0);
            int waves = Integer.parseInt(System.getenv().getOrDefault("BENCH_WAVES", "0"));
            for (int w = 1; w <= waves; w++) {
                quiesce(List.of(server));
                server.rates.add(wave(server, sessions, w));
            }
            if (waves > 0) System.out.printf(Locale.ROOT, "registrations/s, median of %d waves: %.0f%n", waves, server.medianRate());
            for (int i = 1; i <= repeat; i++) {
                quiesce(List.of(server));
                echoDuringBurst(server, sessions, i);
            }
            dumpRecording(server);
        } finally {
            server.stop();
        }
    }

    /** Diagnosis: with BENCH_JFR set (the server started with a recording), dumps it there. */
    static void dumpRecording(RvServer server) throws Exception {
        if (System.getenv("BENCH_JFR") == null) return;
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        new ProcessBuilder(jcmd, String.valueOf(server.pid()), "JFR.dump", "filename=" + System.getenv("BENCH_JFR")).inheritIO().start().waitFor();
    }

    /** One registration wave on a warmed-up server that lists no workers; returns registrations/s. */
    static double wave(RvServer server, int sessions, int number) throws Exception {
        awaitNoWorkers(server.port);    // the previous wave's closes are not charged to this one
        long pid = server.pid();
        try (WsLoad load = new WsLoad(server.target)) {
            long cpu0 = ProcStats.cpuMillis(pid);
            long own0 = ProcStats.cpuMillis(ProcessHandle.current().pid());
            long switches0 = ProcStats.contextSwitches(pid);
            double secs = load.register(sessions, 512, "bench-", 300_000_000_000L);
            long cpu = ProcStats.cpuMillis(pid) - cpu0;
            long own = ProcStats.cpuMillis(ProcessHandle.current().pid()) - own0;
            long switches = ProcStats.contextSwitches(pid) - switches0;
            System.out.printf(Locale.ROOT, "%s rendezvous: wave %d: %d registrations in %.2f s = %.0f registrations/s (server CPU %.3f ms per registration, %.2f cores,"
                            + " %.1f thread switches; load client %.3f ms)%n",
                    server.name, number, sessions, secs, sessions / secs, cpu / (double) sessions, cpu / 1000.0 / secs, switches / (double) sessions,
                    own / (double) sessions);
            return sessions / secs;
        }
    }

    /** Echo round trips from 100 closed-loop senders while N sessions are held (and the opt-in soak). */
    static void echo(RvServer server, int sessions) throws Exception {
        awaitNoWorkers(server.port);
        try (WsLoad load = new WsLoad(server.target)) {
            load.register(sessions, 512, "echo-", 300_000_000_000L);
            dumpRecording(server);
            if ("1".equals(System.getenv("BENCH_SOAK")) && server.name.equals("holepunch")) soak(load, server.pid(), sessions);
            load.echo(100, 1.0);
            double[] e = load.echo(100, 5.0);
            System.out.printf(Locale.ROOT, "%s rendezvous: echo, 100 concurrent senders: %.0f msg/s, p50 %.2f ms, p99 %.2f ms%n",
                    server.name, e[0], e[1], e[2]);
        }
    }

    /** STUN Binding answers per second, ours beside coturn's turnserver --stun-only, 64 outstanding from one socket. */
    static void stun() throws Exception {
        int port = Ports.freeUdp();
        Process ours = start(List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous"),
                java.util.Map.of("PORT", String.valueOf(Ports.freeTcp()), "STUN_UDP_PORT", String.valueOf(port), "STUN_MAX_PER_SOURCE", "0"), "bench-stun-ours");
        try {
            InetSocketAddress target = new InetSocketAddress("127.0.0.1", port);
            StunLoad.awaitReady(target);
            StunLoad.run(target, 64, 2.0);   // warm-up
            System.out.printf(Locale.ROOT, "holepunch STUN server: %.0f binding responses/s (64 outstanding, one client socket; STUN_MAX_PER_SOURCE=0)%n",
                    StunLoad.run(target, 64, 5.0));
        } finally {
            stop(ours);
        }
        if (!new File("/usr/bin/turnserver").exists()) {
            System.out.println("coturn STUN server: turnserver not installed (make test-tools), skipped");
            return;
        }
        int cport = Ports.freeUdpAndTcp();
        Process coturn = start(List.of("turnserver", "--stun-only", "-n", "--listening-ip", "127.0.0.1", "--listening-port",
                String.valueOf(cport), "--no-cli", "--no-tls", "--no-dtls", "--log-file", "stdout",
                "--pidfile", "/tmp/holepunch-bench-turnserver.pid"), java.util.Map.of(), "bench-coturn");
        try {
            InetSocketAddress target = new InetSocketAddress("127.0.0.1", cport);
            StunLoad.awaitReady(target);
            StunLoad.run(target, 64, 2.0);
            System.out.printf(Locale.ROOT, "coturn STUN server: %.0f binding responses/s (turnserver --stun-only, same load)%n",
                    StunLoad.run(target, 64, 5.0));
        } finally {
            stop(coturn);
        }
    }

    /** A worker's time from process start to its udp_endpoint_ack, and its idle RSS. */
    static void worker() throws Exception {
        int httpPort = Ports.freeTcp();
        int stunPort = Ports.freeUdp();
        Process rv = start(List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous"),
                java.util.Map.of("PORT", String.valueOf(httpPort), "STUN_UDP_PORT", String.valueOf(stunPort)), "bench-worker-rv");
        try {
            RvServer.waitForPort(httpPort, 60_000);
            ProcessBuilder pb = new ProcessBuilder(Path.of("run.sh").toAbsolutePath().toString(), "worker").redirectErrorStream(true);
            pb.environment().putAll(java.util.Map.of("RENDEZVOUS_SERVICE_URL", "http://127.0.0.1:" + httpPort,
                    "STUN_HOST_ENV", "127.0.0.1", "STUN_PORT_ENV", String.valueOf(stunPort), "INTERNAL_UDP_PORT_ENV", "0",
                    "PORT", String.valueOf(Ports.freeTcp()), "IP_ECHO_URL", ""));
            long t0 = System.nanoTime();
            Process w = pb.start();
            try (var lines = new java.io.BufferedReader(new java.io.InputStreamReader(w.getInputStream()))) {
                String line;
                while ((line = lines.readLine()) != null && !line.contains("received UDP endpoint ack")) {
                    if (System.nanoTime() - t0 > 60_000_000_000L) break;
                }
                double ms = (System.nanoTime() - t0) / 1e6;
                System.out.printf(Locale.ROOT, "holepunch worker: %.0f ms from process start to udp_endpoint_ack (run.sh, loopback)%n", ms);
                Thread.sleep(3000);
                System.out.printf(Locale.ROOT, "holepunch worker: idle RSS %.1f MB%n", ProcStats.rssKb(w.pid()) / 1024.0);
                Thread.ofVirtual().start(() -> {
                    try {
                        lines.transferTo(java.io.Writer.nullWriter());
                    } catch (IOException ignored) {
                        // the worker is gone
                    }
                });
                stop(w);
            }
        } finally {
            stop(rv);
        }
    }

    static Process start(List<String> command, java.util.Map<String, String> env, String name) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        Path log = Files.createTempFile(name, ".log");
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        return pb.start();
    }

    static void stop(Process p) throws InterruptedException {
        p.descendants().forEach(ProcessHandle::destroy);
        p.destroy();
        if (!p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) p.destroyForcibly();
    }

    /** Waits (at most 120 s) until GET /debug/list_workers reports no connected worker. */
    static void awaitNoWorkers(int port) throws Exception {
        // HTTP/1.1: the default h2c upgrade offer is refused by uvicorn.
        java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();
        java.net.http.HttpRequest get = java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/debug/list_workers")).build();
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (true) {
            String body = http.send(get, java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            Object count = holepunch.json.Json.parseObject(body).get("connected_workers_count");
            if (count instanceof Number n && n.longValue() == 0) return;
            if (System.nanoTime() > deadline) throw new IOException("the server still lists workers after 120 s: " + count);
            Thread.sleep(100);
        }
    }

    /** Diagnosis only (BENCH_HISTO=1): the live heap's largest classes and the heap summary. */
    static void histogram(long pid) throws Exception {
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        Process h = new ProcessBuilder(jcmd, String.valueOf(pid), "GC.class_histogram").redirectErrorStream(true).start();
        List<String> lines = new String(h.getInputStream().readAllBytes()).lines().toList();
        lines.stream().limit(25).forEach(System.out::println);
        lines.stream().filter(l -> l.startsWith("Total")).forEach(System.out::println);
        h.waitFor();
        Process g = new ProcessBuilder(jcmd, String.valueOf(pid), "GC.heap_info").redirectErrorStream(true).start();
        System.out.print(new String(g.getInputStream().readAllBytes()));
        g.waitFor();
    }

    /** Opt-in (BENCH_SOAK=1, BENCH_SOAK_SECONDS default 600): holds every session, then reports RSS and losses. */
    static void soak(WsLoad load, long pid, int sessions) throws IOException {
        double seconds = Double.parseDouble(System.getenv().getOrDefault("BENCH_SOAK_SECONDS", "600"));
        long rssStart = ProcStats.rssKb(pid);
        long open = load.hold(seconds, () -> {
            try {
                System.out.printf(Locale.ROOT, "  soak: RSS %.1f MB, %d sessions open%n", ProcStats.rssKb(pid) / 1024.0, load.open());
            } catch (IOException e) {
                System.out.println("  soak: " + e);
            }
        });
        long rssEnd = ProcStats.rssKb(pid);
        System.out.printf(Locale.ROOT, "holepunch rendezvous soak: %.0f s holding %d sessions: RSS %.1f MB at start, %.1f MB at end; %d sessions lost%n",
                seconds, sessions, rssStart / 1024.0, rssEnd / 1024.0, sessions - open);
    }
}
