package holepunch.websocket;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Objects;

/**
 * The raw streams of one HTTP connection, in place of the JDK HttpServer's own (see
 * {@link HttpServerUpgrade#smallStreams}). They behave as the server's do (a blocking channel,
 * {@code available()} never asks the socket, closing either closes the channel), with one
 * {@value #IN_BYTES}-byte read buffer and a write buffer the size of what is written: the server's
 * are 8 KB and 8 KB for reading and 4 KB and 8 KB for writing, 28 KB allocated for every
 * connection, of which an upgraded one uses none afterwards.
 */
final class ConnectionStreams {
    /** A request head is a few hundred bytes; a larger one takes more reads, nothing else. */
    static final int IN_BYTES = 1024;

    private ConnectionStreams() {
    }

    /** Reads from a blocking channel through a small buffer. */
    static final class In extends InputStream {
        private final SocketChannel channel;
        private final byte[] buf = new byte[IN_BYTES];
        /** The connection must begin with a PROXY header (it comes from a trusted proxy that sends one); read at the first fill. */
        private boolean preamble;
        /** The client the PROXY header named, or null (none, or one that keeps the connection's endpoints). */
        private volatile java.net.InetSocketAddress proxied;
        private final ByteBuffer view = ByteBuffer.wrap(buf);
        private int pos;
        private int end;
        private boolean eof;
        private volatile boolean closed;

        /** Told why a PROXY header was refused (the connection is then closed); null when none is expected. */
        private final java.util.function.Consumer<String> refused;

        In(SocketChannel channel) {
            this(channel, false, null);
        }

        In(SocketChannel channel, boolean proxyHeader, java.util.function.Consumer<String> refused) {
            this.channel = channel;
            this.preamble = proxyHeader;
            this.refused = refused;
        }

        /** The client a PROXY header named, or null. */
        java.net.InetSocketAddress proxied() {
            return proxied;
        }

        @Override
        public synchronized int read() throws IOException {
            if (!fill()) return -1;
            return buf[pos++] & 0xFF;
        }

        @Override
        public synchronized int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) return 0;
            if (!fill()) return -1;
            int n = Math.min(len, end - pos);
            System.arraycopy(buf, pos, b, off, n);
            pos += n;
            return n;
        }

        /** True when bytes are buffered, reading once from the channel if none are. */
        private boolean fill() throws IOException {
            if (closed) throw new IOException("stream closed");
            if (preamble) {
                preamble = false;
                try {
                    readProxyHeader();
                } catch (java.net.ProtocolException e) {
                    if (refused != null) refused.accept(e.getMessage() + " (from " + channel.getRemoteAddress() + ")");
                    throw e;
                }
            }
            if (pos < end) return true;
            if (eof) return false;
            view.clear();
            int n;
            do {
                n = channel.read(view);      // blocking: at least one byte or the end (the loop as in the server's own ReadStream)
            } while (n == 0);
            if (n < 0) {
                eof = true;
                return false;
            }
            pos = 0;
            end = n;
            return true;
        }

        /**
         * Reads the PROXY header (bounded by the buffer; the server's request timer closes a connection
         * that stalls in it) and leaves what follows it buffered.
         */
        private void readProxyHeader() throws IOException {
            pos = 0;
            end = 0;
            while (true) {
                view.limit(buf.length).position(end);
                int n;
                do {
                    n = channel.read(view);
                } while (n == 0);
                if (n < 0) {
                    eof = true;
                    throw new java.net.ProtocolException("the connection ended inside its PROXY header");
                }
                end += n;
                holepunch.net.ProxyHeader h = holepunch.net.ProxyHeader.parse(buf, 0, end);
                if (h != null) {
                    pos = h.length();
                    proxied = h.source();
                    return;
                }
                if (end == buf.length) throw new java.net.ProtocolException("PROXY header longer than " + buf.length + " bytes");
            }
        }

        /** What is buffered; never asks the socket. */
        @Override
        public synchronized int available() throws IOException {
            if (closed) throw new IOException("stream closed");
            return end - pos;
        }

        /** Not synchronized: the server's timers close a connection whose reader or writer is blocked (the channel's close wakes it). */
        @Override
        public void close() throws IOException {
            closed = true;
            channel.close();
        }
    }

    /**
     * Writes to a blocking channel through a buffer made at the first write (the size of what is
     * written, at least {@value #OUT_MIN_BYTES} bytes, growing to {@value #OUT_MAX_BYTES}), sent
     * on {@code flush}. The server writes a response's head and its body in two calls and flushes
     * after the body: sent apart, the body would wait for the head's ACK (Nagle), which a client
     * that delays its ACKs holds up to 40 ms (measured: 43-45 ms per keep-alive GET against 1.4-2.8).
     */
    static final class Out extends OutputStream {
        static final int OUT_MIN_BYTES = 512;
        static final int OUT_MAX_BYTES = 8192;
        private final SocketChannel channel;
        private byte[] buf;
        private int count;
        private volatile boolean closed;

        Out(SocketChannel channel) {
            this.channel = channel;
        }

        @Override
        public synchronized void write(int b) throws IOException {
            room(1);
            buf[count++] = (byte) b;
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len >= OUT_MAX_BYTES) {        // more than the buffer holds: what is buffered, then this, as they are
                ensureOpen();
                flushBuffer();
                send(ByteBuffer.wrap(b, off, len));
                return;
            }
            room(len);
            System.arraycopy(b, off, buf, count, len);
            count += len;
        }

        /** Makes the buffer hold {@code len} more bytes (at most {@value #OUT_MAX_BYTES}), sending what it holds when it cannot. */
        private void room(int len) throws IOException {
            ensureOpen();
            if (count + len > OUT_MAX_BYTES) flushBuffer();
            if (buf != null && count + len <= buf.length) return;
            int size = Math.max(OUT_MIN_BYTES, Math.max(count + len, buf == null ? 0 : 2 * buf.length));
            byte[] bigger = new byte[Math.min(OUT_MAX_BYTES, size)];
            if (count > 0) System.arraycopy(buf, 0, bigger, 0, count);
            buf = bigger;
        }

        @Override
        public synchronized void flush() throws IOException {
            ensureOpen();
            flushBuffer();
        }

        private void ensureOpen() throws IOException {
            if (closed) throw new IOException("stream closed");
        }

        private void flushBuffer() throws IOException {
            if (count == 0) return;
            send(ByteBuffer.wrap(buf, 0, count));
            count = 0;
        }

        private void send(ByteBuffer bb) throws IOException {
            while (bb.hasRemaining()) channel.write(bb);
        }

        /**
         * Not synchronized, and sends nothing still buffered: the server's timers close a connection
         * whose writer is blocked (the channel's close wakes it); every answer is flushed before.
         */
        @Override
        public void close() throws IOException {
            closed = true;
            channel.close();
        }
    }
}
