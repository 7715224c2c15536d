package holepunch.bench;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
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
        int sessions = Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSIONS", "10000"));
        boolean seed = "1".equals(System.getenv("BENCH_SEED"));
        System.out.printf("# holepunch bench: %d sessions, %d cores%n", sessions, Runtime.getRuntime().availableProcessors());
        // The server is started the way users start it: ./run.sh (same JVM settings as the container).
        rendezvous("holepunch", List.of(Path.of("run.sh").toAbsolutePath().toString(), "rendezvous"), sessions);
        if (seed) {
            File script = new File("../shared/anchors/seed_rendezvous.sh");
            if (!script.exists()) {
                System.out.println("seed: ../shared/anchors/seed_rendezvous.sh not found, skipped");
            } else {
                rendezvous("original", List.of("bash", script.getAbsolutePath()), sessions);
            }
        }
    }

    static void rendezvous(String name, List<String> command, int sessions) throws Exception {
        int port = freePort();
        List<String> cmd = new ArrayList<>(command);
        if (name.equals("original")) cmd.add(String.valueOf(port));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("PORT", String.valueOf(port));
        pb.environment().put("STUN_UDP_PORT", "0");
        Path log = Files.createTempFile("bench-" + name, ".log");
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        Process p = pb.start();
        try {
            waitForPort(port, 60_000);
            long pid = serverPid(p);
            long fresh = rssKb(pid);
            try (WsLoad warm = new WsLoad(new InetSocketAddress("127.0.0.1", port))) {
                warm.register(Math.min(10000, sessions), 512, "warm-", 120_000_000_000L);   // JIT warm-up, then released
            }
            Thread.sleep(1000);
            long idle = rssKb(pid);
            try (WsLoad load = new WsLoad(new InetSocketAddress("127.0.0.1", port))) {
                long cpu0 = cpuMillis(pid);
                double secs = load.register(sessions, 512, "bench-", 300_000_000_000L);
                long cpu = cpuMillis(pid) - cpu0;
                System.out.printf(Locale.ROOT, "%s rendezvous: %d registrations in %.2f s = %.0f registrations/s (server CPU %.3f ms per registration, %.2f cores)%n",
                        name, sessions, secs, sessions / secs, cpu / (double) sessions, cpu / 1000.0 / secs);
                long held = rssKb(pid);
                if (System.getenv("BENCH_CPU_SPLIT") != null) threadCpu(pid);
                if (System.getenv("BENCH_HISTO") != null) histogram(pid);
                System.out.printf(Locale.ROOT, "%s rendezvous: RSS %.1f MB at start, %.1f MB after warm-up, %.1f MB holding %d sessions:"
                                + " %.1f KB/session over start (%.1f KB/session of total RSS)%n",
                        name, fresh / 1024.0, idle / 1024.0, held / 1024.0, sessions, (held - fresh) / (double) sessions,
                        held / (double) sessions);
                load.echo(100, 1.0);
                double[] e = load.echo(100, 5.0);
                System.out.printf(Locale.ROOT, "%s rendezvous: echo, 100 concurrent senders: %.0f msg/s, p50 %.2f ms, p99 %.2f ms%n",
                        name, e[0], e[1], e[2]);
            }
        } finally {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
            if (!p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) p.destroyForcibly();
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

    /** The process that holds the port: the JVM itself, or the python the seed script execs. */
    static long serverPid(Process p) {
        return p.pid();
    }

    /** User + system CPU time of a process, from /proc/PID/stat (clock ticks of 10 ms). */
    static long cpuMillis(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        if (System.getenv("BENCH_CPU_SPLIT") != null) System.out.println("  cpu user " + Long.parseLong(f[11]) * 10 + " ms, sys " + Long.parseLong(f[12]) * 10 + " ms");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10;
    }

    /** Diagnosis only: CPU by thread name, from /proc/PID/task. */
    static void threadCpu(long pid) throws IOException {
        java.util.Map<String, Long> byName = new java.util.TreeMap<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                String stat = Files.readString(t.resolve("stat"));
                String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replaceAll("[0-9]+", "#");
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                byName.merge(comm, (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10, Long::sum);
            }
        }
        byName.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue(), a.getValue())).limit(12)
                .forEach(e -> System.out.println("  thread " + e.getKey() + ": " + e.getValue() + " ms"));
    }

    static long rssKb(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
        throw new IOException("no VmRSS for " + pid);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static void waitForPort(int port, long timeoutMillis) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (true) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                return;
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) throw new IOException("server did not open port " + port);
                Thread.sleep(50);
            }
        }
    }
}
