package holepunch.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A real {@code redis-server} (Debian package redis-server) on a free loopback port, without persistence. */
public final class RedisServer implements AutoCloseable {
    public final int port;
    private final Path dir;
    private final List<String> extra;
    private Process process;

    public RedisServer(String... extraArgs) throws IOException, InterruptedException {
        this(Ports.freeTcp(), extraArgs);
    }

    public RedisServer(int port, String... extraArgs) throws IOException, InterruptedException {
        Tools.require("redis-server", "redis-server");
        this.port = port;
        this.dir = Files.createTempDirectory("hp-redis");
        this.extra = List.of(extraArgs);
        start();
    }

    /** Starts (again) on the same port; returns once it accepts connections (at most 10 s). */
    public void start() throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", dir.toString(), "--daemonize", "no", "--loglevel", "warning"));
        cmd.addAll(extra);
        process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("redis.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) throw new AssertionError("redis-server exited: " + Files.readString(dir.resolve("redis.log")));
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException notYet) {
                Thread.sleep(20);   // polling a port that has no readiness signal of its own
            }
        }
        throw new AssertionError("redis-server did not listen on " + port + " within 10 s");
    }

    /** SIGKILL: the data (none persisted) is gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    public String url() {
        return "redis://127.0.0.1:" + port;
    }

    @Override
    public void close() throws InterruptedException {
        kill();
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) Files.deleteIfExists(p);
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // a temp dir left behind
        }
    }
}
