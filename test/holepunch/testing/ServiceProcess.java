package holepunch.testing;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The built jar as a separate process (what users run), for tests of what only a real process
 * shows: JVM limits, start-up order, signals. Output goes to a temporary file; {@link #close}
 * kills the process and removes the file.
 */
public final class ServiceProcess implements AutoCloseable {
    public final Process process;
    public final Path log;
    public final int port;

    private ServiceProcess(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
    }

    public static String javaBin() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /**
     * Starts {@code java jvmOptions -jar build/holepunch.jar rendezvous} on a free loopback port,
     * under {@code ulimit -n openFiles} when that is above 0, and waits until it accepts connections.
     */
    public static ServiceProcess rendezvous(List<String> jvmOptions, Map<String, String> env, int openFiles) throws Exception {
        return rendezvous(jvmOptions, env, openFiles, Ports.freeTcp());
    }

    /** As above, on {@code port} (a restart in place). */
    public static ServiceProcess rendezvous(List<String> jvmOptions, Map<String, String> env, int openFiles, int port) throws Exception {
        List<String> java = new ArrayList<>(List.of(javaBin()));
        java.addAll(jvmOptions);
        java.addAll(List.of("-jar", "build/holepunch.jar", "rendezvous"));
        List<String> cmd = java;
        if (openFiles > 0) {
            cmd = new ArrayList<>(List.of("bash", "-c", "ulimit -n " + openFiles + " && exec \"$@\"", "bash"));
            cmd.addAll(java);
        }
        Path log = Files.createTempFile("service", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(Map.of("PORT", String.valueOf(port), "STUN_UDP_PORT", "0", "BIND_ADDRESS", "127.0.0.1"));
        pb.environment().putAll(env);
        ServiceProcess s = new ServiceProcess(pb.start(), log, port);
        try {
            Await.until(Duration.ofSeconds(30), "the service accepting connections", () -> {
                if (!s.process.isAlive()) throw new AssertionError("the service exited: " + s.output());
                try (Socket c = new Socket("127.0.0.1", port)) {
                    return true;
                } catch (IOException e) {
                    return false;
                }
            });
        } catch (Exception | AssertionError e) {
            s.close();
            throw e;
        }
        return s;
    }

    public String output() throws IOException {
        return Files.readString(log);
    }

    /** CPU time (user + system) the process has used, in clock ticks (Linux /proc). */
    public long cpuTicks() throws IOException {
        String stat = Files.readString(Path.of("/proc/" + process.pid() + "/stat"));
        return ProcStat.field(stat, 14) + ProcStat.field(stat, 15);     // utime and stime
    }

    /** SIGTERM, then waits up to {@code seconds} for the exit; its exit status. */
    public int terminate(int seconds) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) throw new AssertionError("still running " + seconds + " s after SIGTERM");
        return process.exitValue();
    }

    @Override
    public void close() throws IOException {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Files.deleteIfExists(log);
    }
}
