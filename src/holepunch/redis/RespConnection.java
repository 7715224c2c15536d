package holepunch.redis;

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

/** One TCP (or TLS) connection to Redis: commands out, replies in, every wait bounded. Not thread-safe. */
final class RespConnection implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private ByteBuffer buffer = ByteBuffer.allocate(16 * 1024).flip();

    private RespConnection(Socket socket) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
    }

    /** Connects (TLS for rediss://, the certificate checked against the host), then AUTH and SELECT as the URL says. */
    static RespConnection open(RedisUrl url, int timeoutMillis, boolean select, SSLSocketFactory tlsFactory) throws IOException {
        Socket s = new Socket();
        try {
            s.setTcpNoDelay(true);
            s.setKeepAlive(true);
            s.connect(new InetSocketAddress(url.host(), url.port()), timeoutMillis);
            s.setSoTimeout(timeoutMillis);
            if (url.tls()) {
                SSLSocketFactory f = tlsFactory != null ? tlsFactory : (SSLSocketFactory) SSLSocketFactory.getDefault();
                SSLSocket tls = (SSLSocket) f.createSocket(s, url.host(), url.port(), true);
                SSLParameters p = tls.getSSLParameters();
                p.setEndpointIdentificationAlgorithm("HTTPS");
                tls.setSSLParameters(p);
                tls.startHandshake();
                s = tls;
            }
            RespConnection c = new RespConnection(s);
            List<List<String>> hello = new ArrayList<>();
            if (url.password() != null) {
                hello.add(url.user() == null ? List.of("AUTH", url.password()) : List.of("AUTH", url.user(), url.password()));
            }
            if (select && url.db() != 0) hello.add(List.of("SELECT", Integer.toString(url.db())));
            if (!hello.isEmpty()) {
                c.write(hello);
                long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
                for (int i = 0; i < hello.size(); i++) {
                    if (c.read(deadline) instanceof Resp.Error e) {
                        throw new RedisClient.RedisException("redis refused the connection setup: " + e.message());
                    }
                }
            }
            return c;
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    void write(List<List<String>> commands) throws IOException {
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
    }

    /** The next reply, waiting until {@code deadlineNanos} at most. */
    Resp.Value read(long deadlineNanos) throws IOException {
        while (true) {
            Resp.Value v;
            try {
                v = Resp.parse(buffer);
            } catch (Resp.ProtocolException e) {
                throw new IOException("redis sent bytes that are not RESP: " + e.getMessage());
            }
            if (v != null) return v;
            long left = (deadlineNanos - System.nanoTime()) / 1_000_000L;
            if (left <= 0) throw new SocketTimeoutException("redis did not answer in time");
            socket.setSoTimeout((int) left);
            fill();
        }
    }

    /** Reads more bytes after the unparsed ones, growing the buffer up to one maximal bulk string. */
    private void fill() throws IOException {
        buffer.compact();
        if (!buffer.hasRemaining()) {
            if (buffer.capacity() >= Resp.MAX_BULK + Resp.MAX_LINE) {
                buffer.flip();
                throw new IOException("redis reply larger than " + (Resp.MAX_BULK >> 20) + " MB");
            }
            ByteBuffer bigger = ByteBuffer.allocate(Math.min(buffer.capacity() * 2, Resp.MAX_BULK + Resp.MAX_LINE));
            buffer.flip();
            bigger.put(buffer);
            buffer = bigger;
        }
        int n;
        try {
            n = in.read(buffer.array(), buffer.arrayOffset() + buffer.position(), buffer.remaining());
        } catch (IOException e) {
            buffer.flip();
            throw e;
        }
        buffer.flip();
        if (n < 0) throw new IOException("redis closed the connection");
        buffer.limit(buffer.limit() + n);
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing a broken connection
        }
    }
}
