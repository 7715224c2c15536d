package holepunch.bench;

import holepunch.json.Json;
import holepunch.testing.Ports;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code BENCH_ONLY=forward}: the direct path's data plane as a user runs it. A rendezvous and
 * two workers started as {@code run.sh} starts them, a forward from worker a (127.0.0.1:L) to a UDP
 * receiver beside worker b; {@code udpblast} (C, built here with gcc: one thread each, batched
 * system calls, as an application would) sends 1,200-byte datagrams at fixed rates and as fast as
 * it can, and counts what arrives. Plain loopback UDP between the same sender and receiver is
 * measured in the same run, as the physical limit. While the 50,000/s run is on, a keepalive
 * round trip on the same path is read from worker a's /status every 100 ms (keepalives every
 * 100 ms here), and a second pair on worker a is checked.
 */
final class ForwardBench {
    static final int SIZE = 1200;
    static final double SECONDS = Double.parseDouble(System.getenv().getOrDefault("BENCH_FORWARD_SECONDS", "3"));
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private ForwardBench() {
    }

    static Path blaster() throws Exception {
        Path out = Path.of("build/udpblast").toAbsolutePath();
        Process p = new ProcessBuilder("gcc", "-O2", "-o", out.toString(), "test/holepunch/bench/udpblast.c").inheritIO().start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IOException("gcc could not build udpblast");
        return out;
    }

    /** Sends at {@code rate} (0: as fast as it can) to {@code sendPort}, counts at {@code recvPort}: {sent, received}. */
    static long[] blast(Path tool, int sendPort, int recvPort, long rate) throws Exception {
        return blast(tool, sendPort, recvPort, rate, List.of(), List.of(), "127.0.0.1");
    }

    /**
     * As above, the sender's and the receiver's commands prefixed (by {@code ip netns exec NS}, say),
     * both to {@code host} (the receiver binds it).
     */
    static long[] blast(Path tool, int sendPort, int recvPort, long rate, List<String> sendPrefix, List<String> recvPrefix, String host)
            throws Exception {
        List<String> recvCmd = new ArrayList<>(recvPrefix);
        recvCmd.addAll(List.of(tool.toString(), "recv", String.valueOf(recvPort), String.valueOf(SECONDS + 10), "1000", host));
        Process recv = new ProcessBuilder(recvCmd).redirectErrorStream(true).start();
        try {
            String ready = new String(recv.getInputStream().readNBytes(6));
            if (!ready.startsWith("ready")) throw new IOException("udpblast recv: " + ready);
            List<String> sendCmd = new ArrayList<>(sendPrefix);
            sendCmd.addAll(List.of(tool.toString(), "send", String.valueOf(sendPort), String.valueOf(rate), String.valueOf(SECONDS),
                    String.valueOf(SIZE), host));
            Process send = new ProcessBuilder(sendCmd).redirectErrorStream(true).start();
            String sent = new String(send.getInputStream().readAllBytes()).trim();
            send.waitFor(30, TimeUnit.SECONDS);
            String got = new String(recv.getInputStream().readAllBytes()).trim();
            recv.waitFor(30, TimeUnit.SECONDS);
            return new long[] {Long.parseLong(sent.split("\\s+")[1]), Long.parseLong(got.split("\\s+")[1])};
        } finally {
            recv.destroyForcibly();
        }
    }

    static Process start(String role, Map<String, String> env, Path log) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String options = role.equals("worker") ? "build/worker-jvm.options" : "build/jvm.options";
        String aot = role.equals("worker") ? "build/holepunch-worker.aot" : "build/holepunch.aot";
        ProcessBuilder pb = new ProcessBuilder(java, "@" + options, "-XX:AOTCache=" + aot, "-Xlog:aot=off", "-Xlog:cds=off",
                "-jar", "build/holepunch.jar", role).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return pb.start();
    }

    static String get(String url) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
        } catch (Exception e) {
            return "";
        }
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> peers(int port) {
        try {
            return (List<Map<String, Object>>) Json.parseObject(get("http://127.0.0.1:" + port + "/status")).get("peers");
        } catch (Exception e) {
            return List.of();
        }
    }

    private static boolean direct(int port, String peer) {
        return peers(port).stream().anyMatch(p -> peer.equals(p.get("peer_worker_id")) && "direct".equals(p.get("state")));
    }

    private static String percentiles(List<Long> v) {
        List<Long> s = new ArrayList<>(v);
        java.util.Collections.sort(s);
        return String.format(Locale.ROOT, "p50 %d ms, p99 %d ms, max %d ms over %d samples", s.get(s.size() / 2),
                s.get(Math.min(s.size() - 1, (int) Math.ceil(s.size() * 0.99) - 1)), s.getLast(), s.size());
    }

    static final long[] RATES = {2_000, 20_000, 50_000, 100_000, 0};

    /** wireguard-go at the same rates, and holepunch's delivered rate beside it (issue 21: at least 2x). */
    private static void yardstick(Path tool, Map<Long, long[]> ours) throws Exception {
        try (WireguardYardstick wg = WireguardYardstick.up()) {
            if (wg == null) return;
            int port = Ports.freeUdp();
            wg.blast(tool, port, 2000);                             // the handshake, before anything is counted
            for (long rate : RATES) {
                long[] r = wg.blast(tool, port, rate);
                double lost = r[0] == 0 ? 0 : 100.0 * (r[0] - r[1]) / r[0];
                long[] h = ours.get(rate);
                System.out.printf(Locale.ROOT, "wireguard-go (namespaces, veth), %s: delivered %,.0f/s (%.2f Gbit/s), lost %.2f%%;"
                                + " holepunch direct delivered %.1fx that%n",
                        rate == 0 ? "as fast as the sender can" : String.format(Locale.ROOT, "%,d/s offered", rate), r[1] / SECONDS,
                        r[1] * SIZE * 8 / SECONDS / 1e9, lost, r[1] == 0 ? 0 : (double) h[1] / r[1]);
            }
        }
    }

    static void run() throws Exception {
        Path tool = blaster();
        int rvPort = Ports.freeTcp(), stunPort = Ports.freeUdp(), local = Ports.freeUdp(), target = Ports.freeUdp();
        int healthA = Ports.freeTcp(), healthB = Ports.freeTcp(), healthC = Ports.freeTcp();
        Path dir = Files.createTempDirectory("forward-bench");
        List<Process> procs = new ArrayList<>();
        try {
            procs.add(start("rendezvous", Map.of("PORT", String.valueOf(rvPort), "STUN_UDP_PORT", String.valueOf(stunPort),
                    "BIND_ADDRESS", "127.0.0.1"), dir.resolve("rv.log")));
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (get("http://127.0.0.1:" + rvPort + "/").isEmpty() && System.nanoTime() < deadline) Thread.sleep(100);
            Map<String, String> common = Map.of("RENDEZVOUS_SERVICE_URL", "http://127.0.0.1:" + rvPort, "STUN_HOST_ENV", "127.0.0.1",
                    "STUN_PORT_ENV", String.valueOf(stunPort), "INTERNAL_UDP_PORT_ENV", "0", "IP_ECHO_URL", "", "P2P_KEEPALIVE_SEC", "0.1");
            Map<String, String> b = new java.util.HashMap<>(common);
            b.putAll(Map.of("WORKER_ID", "bench-b", "PORT", String.valueOf(healthB), "P2P_ALLOW", "bench-a",
                    "FORWARD_ALLOW", "127.0.0.1:" + target));
            Map<String, String> c = new java.util.HashMap<>(common);
            c.putAll(Map.of("WORKER_ID", "bench-c", "PORT", String.valueOf(healthC), "P2P_ALLOW", "bench-a"));
            Map<String, String> a = new java.util.HashMap<>(common);
            a.putAll(Map.of("WORKER_ID", "bench-a", "PORT", String.valueOf(healthA), "FORWARD", local + "=bench-b:127.0.0.1:" + target,
                    "P2P_CONNECT_TO", "bench-b,bench-c"));
            procs.add(start("worker", b, dir.resolve("b.log")));
            procs.add(start("worker", c, dir.resolve("c.log")));
            procs.add(start("worker", a, dir.resolve("a.log")));
            deadline = System.nanoTime() + 60_000_000_000L;
            while (!(direct(healthA, "bench-b") && direct(healthA, "bench-c")) && System.nanoTime() < deadline) Thread.sleep(200);
            if (!direct(healthA, "bench-b")) {
                System.out.println("forward: the pair did not go direct; skipped (logs in " + dir + ")");
                return;
            }
            blast(tool, local, target, 2000);                       // warm-up (JIT)
            System.out.printf(Locale.ROOT, "# forwarding over a direct path, %d-byte datagrams, %.0f s per rate, 2 cores shared with sender and receiver%n",
                    SIZE, SECONDS);
            long[] plain = blast(tool, target, target, 0);
            System.out.printf(Locale.ROOT, "plain loopback UDP, as fast as the sender can: %,.0f/s delivered (%.2f Gbit/s)%n",
                    plain[1] / SECONDS, plain[1] * SIZE * 8 / SECONDS / 1e9);
            Map<Long, long[]> ours = new java.util.LinkedHashMap<>();
            for (long rate : RATES) {
                List<Long> rtts = new ArrayList<>();
                Thread sampler = null;
                if (rate == 50_000) {
                    sampler = Thread.ofVirtual().start(() -> {
                        long end = System.nanoTime() + (long) (SECONDS * 1e9);
                        while (System.nanoTime() < end) {
                            for (Map<String, Object> p : peers(healthA)) {
                                if ("bench-b".equals(p.get("peer_worker_id")) && p.get("rtt_ms") instanceof Number n) rtts.add(n.longValue());
                            }
                            try {
                                Thread.sleep(100);
                            } catch (InterruptedException e) {
                                return;
                            }
                        }
                    });
                }
                long[] r = blast(tool, local, target, rate);
                ours.put(rate, r);
                if (sampler != null) sampler.join();
                double lost = r[0] == 0 ? 0 : 100.0 * (r[0] - r[1]) / r[0];
                System.out.printf(Locale.ROOT, "holepunch direct, %s: sent %,d, delivered %,.0f/s (%.2f Gbit/s), lost %.2f%%%s%n",
                        rate == 0 ? "as fast as the sender can" : String.format(Locale.ROOT, "%,d/s offered", rate), r[0], r[1] / SECONDS,
                        r[1] * SIZE * 8 / SECONDS / 1e9, lost,
                        rtts.isEmpty() ? "" : "; keepalive round trip under this load (whole ms): " + percentiles(rtts));
            }
            System.out.println("under load: second pair (a-c) " + (direct(healthA, "bench-c") ? "still direct" : "NOT direct")
                    + ", worker a's rendezvous session " + (get("http://127.0.0.1:" + healthA + "/status").contains("\"rendezvous_connected\":true")
                    ? "up" : "DOWN"));
            for (Map.Entry<String, Integer> w : Map.of("a", healthA, "b", healthB).entrySet()) {
                get("http://127.0.0.1:" + w.getValue() + "/metrics").lines()
                        .filter(l -> l.startsWith("holepunch_worker_dropped_total{") && !l.endsWith(" 0"))
                        .forEach(l -> System.out.println("  worker " + w.getKey() + " counted: " + l));
            }
            for (Process p : procs) p.destroy();             // the yardstick gets the cores to itself too
            yardstick(tool, ours);
        } finally {
            for (Process p : procs) {
                p.destroy();
                if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly();
            }
        }
    }
}
