package holepunch.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A light WebSocket load client on one NIO selector thread (a JavaScript or thread-per-socket
 * client would spend the CPU the server needs). It registers sessions the way a worker does
 * (upgrade, register_public_ip, update_udp_endpoint, wait for the ack), holds them, and runs
 * closed-loop echo senders. Masks with a zero key (legal, RFC 6455 §5.3) to keep its CPU low.
 */
public final class WsLoad implements AutoCloseable {
    private static final int CONNECTING = 0, UPGRADING = 1, REGISTERING = 2, IDLE = 3, ECHOING = 4;

    final class Conn {
        final int index;
        final SocketChannel ch;
        int state = CONNECTING;
        byte[] pending = new byte[0];
        long sentAt;

        Conn(int index, SocketChannel ch) {
            this.index = index;
            this.ch = ch;
        }
    }

    private final InetSocketAddress target;
    private final Selector selector = Selector.open();
    private final List<Conn> conns = new ArrayList<>();
    private final ByteBuffer readBuf = ByteBuffer.allocateDirect(256 * 1024);
    private int registered, failed, inFlight;
    /** Why the first registration that failed did (the rest are usually alike). */
    private String firstFailure;
    private long[] latencies = new long[1 << 20];
    private int latencyCount;
    private boolean echoRunning;

    public WsLoad(InetSocketAddress target) throws IOException {
        this.target = target;
    }

    int registered() {
        return registered;
    }

    /** Opens {@code n} sessions with at most {@code window} handshakes in flight; returns seconds taken. */
    public double register(int n, int window, String idPrefix, long timeoutNanos) throws IOException {
        long t0 = System.nanoTime();
        int started = 0;
        long deadline = t0 + timeoutNanos;
        while (registered + failed < n) {
            while (started < n && inFlight < window) {
                SocketChannel ch = SocketChannel.open();
                ch.configureBlocking(false);
                Conn c = new Conn(started++, ch);
                conns.add(c);
                c.pending = (idPrefix + c.index).getBytes(StandardCharsets.US_ASCII);   // the id, until upgraded
                inFlight++;
                try {
                    if (ch.connect(target)) {   // on loopback the connection is often made at once
                        sendUpgrade(c);
                        ch.register(selector, SelectionKey.OP_READ, c);
                    } else {
                        ch.register(selector, SelectionKey.OP_CONNECT, c);
                    }
                } catch (IOException e) {
                    ch.close();
                    c.state = -1;
                    if (firstFailure == null) firstFailure = "connect: " + e.getMessage();
                    failed++;
                    inFlight--;
                }
            }
            poll(100);
            if (System.nanoTime() > deadline) throw new IOException("registration timed out: " + registered + " of " + n);
        }
        if (failed > 0) throw new IOException(failed + " registrations failed; the first: " + firstFailure);
        return (System.nanoTime() - t0) / 1e9;
    }

    /** Keeps the sessions (answering the server's pings) for {@code seconds}; returns how many are still open. */
    long hold(double seconds, Runnable everyMinute) throws IOException {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long nextReport = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < end) {
            poll(100);
            if (System.nanoTime() > nextReport) {
                everyMinute.run();
                nextReport += 60_000_000_000L;
            }
        }
        return open();
    }

    /** Round trips counted by the last {@link #echo} or {@link #echoWhile}. */
    long lastEchoCount() {
        return latencyCount;
    }

    long open() {
        return conns.stream().filter(c -> c.state >= IDLE).count();
    }

    /** Runs {@code senders} closed-loop echo senders for the given time; returns [msgs/s, p50 ms, p99 ms]. */
    public double[] echo(int senders, double seconds) throws IOException {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        return echoWhile(senders, () -> System.nanoTime() < end);
    }

    /** As {@link #echo}, for as long as {@code going} says (another thread's burst, say). */
    double[] echoWhile(int senders, java.util.function.BooleanSupplier going) throws IOException {
        latencyCount = 0;
        echoRunning = true;
        int started = 0;
        for (Conn c : conns) {
            if (started == senders) break;
            if (c.state == IDLE && c.ch.isOpen()) {
                sendEcho(c);
                started++;
            }
        }
        long t0 = System.nanoTime();
        while (going.getAsBoolean()) poll(10);
        echoRunning = false;
        double elapsed = (System.nanoTime() - t0) / 1e9;
        long drainUntil = System.nanoTime() + 5_000_000_000L;
        while (conns.stream().anyMatch(c -> c.state == ECHOING) && System.nanoTime() < drainUntil) poll(10);
        long[] sorted = Arrays.copyOf(latencies, latencyCount);
        Arrays.sort(sorted);
        return new double[] {latencyCount / elapsed, pct(sorted, 0.50), pct(sorted, 0.99)};
    }

    private static double pct(long[] sorted, double p) {
        if (sorted.length == 0) return Double.NaN;
        return sorted[Math.min(sorted.length - 1, (int) (p * sorted.length))] / 1e6;
    }

    private void sendEcho(Conn c) throws IOException {
        c.state = ECHOING;
        c.sentAt = System.nanoTime();
        write(c, frame("{\"type\":\"echo_request\",\"payload\":\"bench " + c.index + "\"}"));
    }

    private void poll(long millis) throws IOException {
        selector.select(millis);
        for (SelectionKey key : selector.selectedKeys()) {
            Conn c = (Conn) key.attachment();
            try {
                if (key.isConnectable()) {
                    c.ch.finishConnect();
                    sendUpgrade(c);
                    key.interestOps(SelectionKey.OP_READ);
                } else if (key.isReadable()) {
                    onReadable(c);
                }
            } catch (IOException e) {
                key.cancel();
                c.ch.close();
                if (c.state < IDLE) {
                    if (firstFailure == null) firstFailure = (c.state == UPGRADING ? "upgrade: " : "registration: ") + e.getMessage();
                    failed++;
                    inFlight--;
                }
                c.state = -1;
            }
        }
        selector.selectedKeys().clear();
    }

    private void sendUpgrade(Conn c) throws IOException {
        String id = new String(c.pending, StandardCharsets.US_ASCII);
        c.pending = new byte[0];
        write(c, ("GET /ws/register/" + id + " HTTP/1.1\r\nHost: " + target.getHostString() + ":" + target.getPort()
                + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        c.state = UPGRADING;
    }

    private void onReadable(Conn c) throws IOException {
        readBuf.clear();
        int n = c.ch.read(readBuf);
        if (n < 0) throw new IOException("closed by server");
        readBuf.flip();
        byte[] data = new byte[c.pending.length + readBuf.remaining()];
        System.arraycopy(c.pending, 0, data, 0, c.pending.length);
        readBuf.get(data, c.pending.length, readBuf.remaining());
        int pos = 0;
        if (c.state == UPGRADING) {
            int end = indexOf(data, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            if (end < 0) {
                c.pending = data;
                return;
            }
            if (!new String(data, 0, 12, StandardCharsets.US_ASCII).startsWith("HTTP/1.1 101")) {
                String head = new String(data, 0, end, StandardCharsets.US_ASCII);
                throw new IOException("refused: " + head.lines().findFirst().orElse("") + " "
                        + new String(data, end + 4, Math.min(200, data.length - end - 4), StandardCharsets.UTF_8));
            }
            pos = end + 4;
            c.state = REGISTERING;
            write(c, frame("{\"type\":\"register_public_ip\",\"ip\":\"203.0.113." + (c.index % 250 + 1) + "\"}"),
                    frame("{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"198.51.100." + (c.index % 250 + 1)
                            + "\",\"udp_port\":" + (1024 + c.index % 60000) + "}"));
        }
        while (data.length - pos >= 2) {
            int op = data[pos] & 0xF;
            int len = data[pos + 1] & 0x7F;
            int hdr = 2;
            if (len == 126) {
                if (data.length - pos < 4) break;
                len = ((data[pos + 2] & 0xFF) << 8) | (data[pos + 3] & 0xFF);
                hdr = 4;
            } else if (len == 127) {
                throw new IOException("unexpected huge frame");
            }
            if (data.length - pos < hdr + len) break;
            String text = new String(data, pos + hdr, len, StandardCharsets.UTF_8);
            pos += hdr + len;
            if (op == 0x9) {
                write(c, control(0xA, text.getBytes(StandardCharsets.UTF_8)));
            } else if (op == 0x8) {
                throw new IOException("closed by server: " + text);
            } else if (c.state == REGISTERING && text.contains("udp_endpoint_ack")) {
                if (!text.contains("success")) throw new IOException("ack error: " + text);
                c.state = IDLE;
                registered++;
                inFlight--;
            } else if (c.state == ECHOING && text.contains("echo_response")) {
                if (latencyCount < latencies.length) latencies[latencyCount++] = System.nanoTime() - c.sentAt;
                if (echoRunning) sendEcho(c);
                else c.state = IDLE;
            }
        }
        c.pending = Arrays.copyOfRange(data, pos, data.length);
    }

    private static int indexOf(byte[] data, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= data.length; i++) {
            for (int j = 0; j < needle.length; j++) if (data[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }

    private static byte[] frame(String text) {
        return control(0x1, text.getBytes(StandardCharsets.UTF_8));
    }

    /** A masked client frame with a zero masking key (payload bytes unchanged); payload < 65536. */
    private static byte[] control(int opcode, byte[] payload) {
        int n = payload.length;
        ByteBuffer b = ByteBuffer.allocate(n + (n < 126 ? 6 : 8));
        b.put((byte) (0x80 | opcode));
        if (n < 126) b.put((byte) (0x80 | n));
        else b.put((byte) (0x80 | 126)).putShort((short) n);
        b.putInt(0);
        return b.put(payload).array();
    }

    private static void write(Conn c, byte[]... frames) throws IOException {
        int total = 0;
        for (byte[] f : frames) total += f.length;
        ByteBuffer b = ByteBuffer.allocate(total);
        for (byte[] f : frames) b.put(f);
        b.flip();
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (b.hasRemaining()) {
            c.ch.write(b);
            if (b.hasRemaining() && System.nanoTime() > deadline) throw new IOException("server does not read");
        }
    }

    @Override
    public void close() throws IOException {
        for (Conn c : conns) c.ch.close();
        selector.close();
    }
}
