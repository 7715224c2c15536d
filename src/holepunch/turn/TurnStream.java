package holepunch.turn;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.function.Consumer;

/**
 * TURN over a stream (RFC 8656 §3.1 and §12.5): TCP, or TLS over TCP for {@code turns:}. STUN
 * messages and ChannelData follow one another on the connection; a STUN message's length is in
 * its header, ChannelData's too, padded to a multiple of 4 bytes on a stream. What arrives goes to
 * {@code receiver} one message at a time; what is sent waits in a bounded queue for a writer
 * thread, so no sender ever blocks on a slow connection (a full queue drops, and says so).
 */
public final class TurnStream implements AutoCloseable {
    static final int QUEUE = 1024;
    static final int CONNECT_TIMEOUT_MILLIS = 5000;

    private final Socket socket;
    private final OutputStream out;
    private final BlockingQueue<byte[]> queue = new ArrayBlockingQueue<>(QUEUE);
    private final Thread reader;
    private final Thread writer;
    private volatile boolean closed;
    private final Runnable onClosed;

    /**
     * Connects to {@code server}; with {@code tls}, over TLS checking that the certificate names
     * {@code host}, trusting {@code trust}'s CAs (null: the JDK's).
     */
    public TurnStream(InetSocketAddress server, String host, boolean tls, javax.net.ssl.SSLSocketFactory trust, Consumer<ByteBuffer> receiver,
                      Runnable onClosed) throws IOException {
        Socket plain = new Socket();
        plain.connect(server, CONNECT_TIMEOUT_MILLIS);
        plain.setTcpNoDelay(true);
        Socket s = plain;
        if (tls) {
            javax.net.ssl.SSLSocketFactory f = trust != null ? trust : (javax.net.ssl.SSLSocketFactory) javax.net.ssl.SSLSocketFactory.getDefault();
            javax.net.ssl.SSLSocket ssl = (javax.net.ssl.SSLSocket) f.createSocket(plain, host, server.getPort(), true);
            javax.net.ssl.SSLParameters p = ssl.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");         // the certificate must name the host (RFC 6125)
            ssl.setSSLParameters(p);
            ssl.setSoTimeout(CONNECT_TIMEOUT_MILLIS);
            ssl.startHandshake();
            ssl.setSoTimeout(0);
            s = ssl;
        }
        this.socket = s;
        this.out = s.getOutputStream();
        this.onClosed = onClosed;
        DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(s.getInputStream(), 64 * 1024));
        reader = Thread.ofVirtual().name("turn-stream-reader").start(() -> read(in, receiver));
        writer = Thread.ofVirtual().name("turn-stream-writer").start(this::write);
    }

    private void read(DataInputStream in, Consumer<ByteBuffer> receiver) {
        byte[] buf = new byte[4 + 0xFFFF + 20];
        try {
            while (!closed) {
                in.readFully(buf, 0, 4);
                int first = buf[0] & 0xFF;
                int len = ((buf[2] & 0xFF) << 8) | (buf[3] & 0xFF);
                int total;
                if ((first & 0xC0) == 0) {                         // STUN: 20-byte header, then len bytes
                    in.readFully(buf, 4, 16 + len);
                    total = 20 + len;
                } else if (first >= 0x40 && first <= 0x4F) {       // ChannelData, padded to 4 on a stream
                    int padded = (len + 3) & ~3;
                    in.readFully(buf, 4, padded);
                    total = 4 + len;
                } else {
                    throw new IOException("neither STUN nor ChannelData on the TURN stream (first byte " + first + ")");
                }
                receiver.accept(ByteBuffer.wrap(buf, 0, total));
            }
        } catch (IOException e) {
            // closed by us or the server
        } finally {
            close();
        }
    }

    private void write() {
        try {
            while (!closed) {
                byte[] b = queue.take();
                out.write(b);
                if (queue.isEmpty()) out.flush();
            }
        } catch (IOException | InterruptedException e) {
            // closing
        } finally {
            close();
        }
    }

    /** Queues one STUN message or ChannelData (padded here); false when the queue is full or the stream closed. */
    public boolean send(ByteBuffer message) {
        if (closed) return false;
        int len = message.remaining();
        int first = message.get(message.position()) & 0xFF;
        int padded = first >= 0x40 && first <= 0x4F ? (len + 3) & ~3 : len;
        byte[] b = new byte[padded];
        message.get(b, 0, len);
        return queue.offer(b);
    }

    public boolean isOpen() {
        return !closed;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        writer.interrupt();
        if (onClosed != null) onClosed.run();
    }
}
