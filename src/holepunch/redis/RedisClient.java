package holepunch.redis;

import holepunch.timer.Backoff;

import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
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
    private Socket socket;
    private InputStream in;
    private OutputStream out;
    private ByteBuffer buffer = ByteBuffer.allocate(16 * 1024).flip();
    private int failures;
    private long retryAtNanos;
    private boolean closed;

    public RedisClient(RedisUrl url, int timeoutMillis) {
        this.url = url;
        this.timeoutMillis = timeoutMillis;
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
        ensureConnected();
        try {
            return exchange(commands);
        } catch (IOException | RuntimeException e) {
            drop();
            failures++;
            retryAtNanos = System.nanoTime() + Backoff.delay(failures - 1, 100, 5000) * 1_000_000L;
            throw e instanceof IOException io ? io : new IOException(e);
        }
    }

    /** True while a connection is open (it may still turn out broken on the next call). */
    public synchronized boolean connected() {
        return socket != null;
    }

    private List<Resp.Value> exchange(List<List<String>> commands) throws IOException {
        int size = 0;
        List<byte[]> encoded = new ArrayList<>(commands.size());
        for (List<String> c : commands) {
            byte[] b = Resp.encode(c);
            encoded.add(b);
            size += b.length;
        }
        byte[] all = new byte[size];
        int at = 0;
        for (byte[] b : encoded) {
            System.arraycopy(b, 0, all, at, b.length);
            at += b.length;
        }
        out.write(all);
        out.flush();
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        List<Resp.Value> replies = new ArrayList<>(commands.size());
        while (replies.size() < commands.size()) {
            Resp.Value v;
            try {
                v = Resp.parse(buffer);
            } catch (Resp.ProtocolException e) {
                throw new IOException("redis sent bytes that are not RESP: " + e.getMessage());
            }
            if (v != null) {
                replies.add(v);
                continue;
            }
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) throw new SocketTimeoutException("redis did not answer within " + timeoutMillis + " ms");
            socket.setSoTimeout((int) left);
            fill();
        }
        return replies;
    }

    /** Reads more bytes after the unparsed ones, growing the buffer up to one maximal bulk string. */
    private void fill() throws IOException {
        buffer.compact();
        if (!buffer.hasRemaining()) {
            if (buffer.capacity() >= Resp.MAX_BULK + Resp.MAX_LINE) {
                throw new IOException("redis reply larger than " + (Resp.MAX_BULK >> 20) + " MB");
            }
            ByteBuffer bigger = ByteBuffer.allocate(Math.min(buffer.capacity() * 2, Resp.MAX_BULK + Resp.MAX_LINE));
            buffer.flip();
            bigger.put(buffer);
            buffer = bigger;
        }
        int n = in.read(buffer.array(), buffer.arrayOffset() + buffer.position(), buffer.remaining());
        if (n < 0) {
            buffer.flip();
            throw new IOException("redis closed the connection");
        }
        buffer.position(buffer.position() + n);
        buffer.flip();
    }

    private void ensureConnected() throws IOException {
        if (socket != null) return;
        long wait = retryAtNanos - System.nanoTime();
        if (failures > 0 && wait > 0) {
            throw new IOException("redis at " + url + " unavailable; next attempt in " + (wait / 1_000_000L + 1) + " ms");
        }
        Socket s = null;
        try {
            s = new Socket();
            s.setTcpNoDelay(true);
            s.setKeepAlive(true);
            s.connect(new InetSocketAddress(url.host(), url.port()), timeoutMillis);
            s.setSoTimeout(timeoutMillis);
            if (url.tls()) {
                SSLSocket tls = (SSLSocket) ((SSLSocketFactory) SSLSocketFactory.getDefault())
                        .createSocket(s, url.host(), url.port(), true);
                SSLParameters p = tls.getSSLParameters();
                p.setEndpointIdentificationAlgorithm("HTTPS");   // check the certificate names the host
                tls.setSSLParameters(p);
                tls.startHandshake();
                s = tls;
            }
            socket = s;
            in = s.getInputStream();
            out = s.getOutputStream();
            buffer.clear().flip();
            List<List<String>> hello = new ArrayList<>();
            if (url.password() != null) {
                hello.add(url.user() == null ? List.of("AUTH", url.password()) : List.of("AUTH", url.user(), url.password()));
            }
            if (url.db() != 0) hello.add(List.of("SELECT", Integer.toString(url.db())));
            if (!hello.isEmpty()) {
                for (Resp.Value v : exchange(hello)) {
                    if (v instanceof Resp.Error e) throw new RedisException("redis refused the connection setup: " + e.message());
                }
            }
            failures = 0;
        } catch (IOException | RuntimeException e) {
            if (s != null) closeQuietly(s);
            socket = null;
            failures++;
            retryAtNanos = System.nanoTime() + Backoff.delay(failures - 1, 100, 5000) * 1_000_000L;
            throw e instanceof IOException io ? io : new IOException(e);
        }
    }

    private void drop() {
        if (socket != null) closeQuietly(socket);
        socket = null;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing a broken connection
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        drop();
    }

    /** A command the server refused ({@code -ERR ...}). */
    public static final class RedisException extends IOException {
        public RedisException(String message) {
            super(message);
        }
    }
}
