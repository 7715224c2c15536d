package holepunch.bench;

import holepunch.testing.Ports;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A rendezvous under test: its own process, so its RSS and CPU can be read from /proc. */
final class RvServer {
    final String name;
    final Process process;
    final int port;
    final InetSocketAddress target;
    final Path log;
    final List<Double> rates = new ArrayList<>();
    double kbPerSession;

    private RvServer(String name, Process process, int port, Path log) {
        this.log = log;
        this.name = name;
        this.process = process;
        this.port = port;
        this.target = new InetSocketAddress("127.0.0.1", port);
    }

    static RvServer start(String name, List<String> command) throws Exception {
        return start(name, command, java.util.Map.of());
    }

    static RvServer start(String name, List<String> command, java.util.Map<String, String> env) throws Exception {
        int port = Ports.freeTcp();
        List<String> cmd = new ArrayList<>(command);
        if (name.equals("original")) cmd.add(String.valueOf(port));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("PORT", String.valueOf(port));
        pb.environment().put("STUN_UDP_PORT", "0");
        pb.environment().put("MAX_SESSIONS_PER_IP", "1000000");     // every load session comes from 127.0.0.1
        pb.environment().put("MAX_MESSAGES_PER_SEC", "1000000");    // the echo senders go as fast as they can
        pb.environment().putAll(env);
        // Diagnosis: JVM options in place of run.sh's own (HOLEPUNCH_JAVA_OPTS).
        String extra = System.getenv("BENCH_SERVER_JAVA_OPTIONS");
        if (extra != null && !name.equals("original")) pb.environment().put("HOLEPUNCH_JAVA_OPTS", extra);
        Path log = Files.createTempFile("bench-" + name, ".log");
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        RvServer server = new RvServer(name, pb.start(), port, log);
        waitForPort(port, 60_000);
        return server;
    }

    long pid() {
        return process.pid();     // the JVM itself, or the python the seed script execs
    }

    double medianRate() {
        double[] sorted = rates.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return sorted[sorted.length / 2];
    }

    void stop() throws InterruptedException {
        process.descendants().forEach(ProcessHandle::destroy);
        process.destroy();
        if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) process.destroyForcibly();
    }

    /** Waits until something accepts connections on {@code port} (loopback). */
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
