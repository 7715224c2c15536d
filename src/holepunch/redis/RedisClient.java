package holepunch.redis;

import holepunch.timer.Backoff;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A small blocking Redis client: one connection, commands sent pipelined, each call bounded by a timeout.
 * After a failure the connection is dropped; the next call reconnects (with {@code AUTH} and {@code SELECT}),
 * but not before a backoff delay has passed, so a Redis that is down costs a caller one fast exception, not a
 * connect timeout each time. Thread-safe: calls are serialised.
 */
public final class RedisClient implements AutoCloseable {
    private final RedisUrl url;
    private final int timeoutMillis;
    private RespConnection connection;
    private int failures;
    private long retryAtNanos;
    private boolean closed;

    private final javax.net.ssl.SSLSocketFactory tls;

    public RedisClient(RedisUrl url, int timeoutMillis) {
        this(url, timeoutMillis, null);
    }

    /** {@code tls}: the factory for {@code rediss://} (null: the JDK's trusted CAs). */
    public RedisClient(RedisUrl url, int timeoutMillis, javax.net.ssl.SSLSocketFactory tls) {
        this.url = url;
        this.timeoutMillis = timeoutMillis;
        this.tls = tls;
    }

    public javax.net.ssl.SSLSocketFactory tls() {
        return tls;
    }

    public RedisUrl url() {
        return url;
    }

    /** One command; a server error reply is thrown as {@link RedisException}. */
    public Resp.Value call(String... args) throws IOException {
        Resp.Value v = pipeline(List.of(List.of(args))).get(0);
        if (v instanceof Resp.Error e) throw new RedisException(e.message());
        return v;
    }

    /**
     * Sends every command in one write and reads their replies in order (one round trip). Error replies are
     * returned in place, so one refused command does not hide the others' results.
     */
    public synchronized List<Resp.Value> pipeline(List<List<String>> commands) throws IOException {
        if (closed) throw new IOException("redis client closed");
        long wait = retryAtNanos - System.nanoTime();
        if (connection == null && failures > 0 && wait > 0) {
            throw new IOException("redis at " + url + " unavailable; next attempt in " + (wait / 1_000_000L + 1) + " ms");
        }
        try {
            if (connection == null) connection = RespConnection.open(url, timeoutMillis, true, tls);
            connection.write(commands);
            long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
            List<Resp.Value> replies = new ArrayList<>(commands.size());
            while (replies.size() < commands.size()) replies.add(connection.read(deadline));
            failures = 0;
            return replies;
        } catch (IOException | RuntimeException e) {
            if (connection != null) connection.close();
            connection = null;
            failures++;
            retryAtNanos = System.nanoTime() + Backoff.delay(failures - 1, 100, 5000) * 1_000_000L;
            throw e instanceof IOException io ? io : new IOException(e);
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (connection != null) connection.close();
        connection = null;
    }

    /** A command the server refused ({@code -ERR ...}). */
    public static final class RedisException extends IOException {
        public RedisException(String message) {
            super(message);
        }
    }
}
