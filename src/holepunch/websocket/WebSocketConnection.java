package holepunch.websocket;

import holepunch.limits.ByteBudget;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;

/**
 * One server-side WebSocket session on a non-blocking channel, owned by one {@link ConnectionLoop}:
 * every field is touched on that loop's thread only. {@link #sendText} and {@link #close} may be
 * called from any thread.
 */
public final class WebSocketConnection implements MessageDecoder.Listener {

    /** What the application sees of a session. Called on the loop thread; must not block. */
    public interface Handler {
        void onText(WebSocketConnection connection, String text);

        /** A binary message, once {@link #acceptBinary} was called; {@code data[0, length)} is the handler's. */
        default void onBinary(WebSocketConnection connection, byte[] data, int length) {
        }

        /**
         * A Ping came: whether to answer it. A Pong is a write the peer asked for, as an echo is, so
         * the application may count Pings against the session's budget (and close a session that
         * spends it); by default each is answered.
         */
        default boolean onPing(WebSocketConnection connection) {
            return true;
        }

        /** Once, when the TCP connection is gone; {@code code} is the close code sent or received. */
        void onClosed(WebSocketConnection connection, int code, String reason);
    }

    private static final int OPEN = 0, CLOSING = 1, CLOSED = 2;

    final SocketChannel channel;
    private final InetSocketAddress remote;
    private final Handler handler;
    private final FrameReader reader = new FrameReader();
    private final MessageDecoder decoder;
    private final ByteBudget budget;
    private ConnectionLoop loop;
    SelectionKey key;
    private volatile Object attachment;

    private ArrayDeque<ByteBuffer> outbound;    // created on first backlog
    /** Written on the loop only; read by {@link #offer} from other threads. */
    private volatile int outboundBytes;
    /** Bytes {@link #offer} handed to the loop that it has not queued yet. */
    private final java.util.concurrent.atomic.AtomicInteger offered = new java.util.concurrent.atomic.AtomicInteger();
    private volatile int state = OPEN;
    private boolean closeWhenFlushed;
    private int closeCode = CloseCode.ABNORMAL;
    private String closeReason = "";
    long lastHeardNanos;
    long lastPingNanos;
    /** Round-trip time from the server's last answered ping, -1 until one is answered. */
    private volatile long rttNanos = -1;
    long closeDeadlineNanos;

    /**
     * @param budget the bytes all sessions together may hold in partial messages and queued output;
     *               this session's share grows only with what actually arrives or waits to be sent
     */
    public WebSocketConnection(SocketChannel channel, InetSocketAddress remote, Handler handler, int maxMessageBytes,
                               ByteBudget budget) {
        this.channel = channel;
        this.remote = remote;
        this.handler = handler;
        this.budget = budget;
        this.decoder = new MessageDecoder(this, maxMessageBytes, budget);
    }

    /** Application data carried with the session (the rendezvous keeps its worker record here). */
    public Object attachment() {
        return attachment;
    }

    public void attach(Object value) {
        attachment = value;
    }

    public boolean isOpen() {
        return state == OPEN;
    }

    public void sendText(String text) {
        send(FrameEncoder.text(text));
    }

    /** Sends a text message whose payload is already valid UTF-8 (generated JSON, say). */
    public void sendText(byte[] utf8) {
        send(FrameEncoder.text(utf8));
    }

    private void send(ByteBuffer frame) {
        runOnLoop(() -> {
            if (state == OPEN) enqueue(frame);
        });
    }

    /** From now on the peer may send binary messages ({@link Handler#onBinary}); others still fail with 1003. */
    public void acceptBinary() {
        decoder.acceptBinary();
    }

    /**
     * Sends a frame unless this session already holds {@code maxBacklog} bytes or more that are
     * not written yet (queued, or on their way to the loop): for traffic that may be dropped
     * (relayed datagrams), so that a receiver that reads slowly costs its own traffic, never its
     * session or anyone's memory. False when it was not taken.
     */
    public boolean offer(ByteBuffer frame, int maxBacklog) {
        int size = frame.remaining();
        if (state != OPEN || offered.get() + outboundBytes + size > maxBacklog) return false;
        offered.addAndGet(size);
        boolean queued = runOnLoop(() -> {
            offered.addAndGet(-size);
            if (state == OPEN) enqueue(frame);
        });
        if (!queued) offered.addAndGet(-size);
        return queued;
    }

    /** Starts the closing handshake (§7.1.2); the TCP connection ends when the peer answers or the grace ends. */
    public void close(int code, String reason) {
        runOnLoop(() -> startClose(code, reason, false));
    }

    /** Work for the session before its loop has adopted it (an offer, a replacement's close): bounded. */
    static final int MAX_BEFORE_START = 64;
    private final ArrayDeque<Runnable> beforeStart = new ArrayDeque<>(2);

    /**
     * Runs {@code task} on the session's loop. Between the registry's entry and the loop's adoption
     * (the 101 is being written) the session has no loop yet: the task waits for it, in order.
     */
    private boolean runOnLoop(Runnable task) {
        ConnectionLoop l;
        synchronized (this) {
            l = loop;
            if (l == null) {
                if (beforeStart.size() >= MAX_BEFORE_START) return false;
                beforeStart.add(task);
                return true;
            }
        }
        l.execute(task);
        return true;
    }

    /** On the loop, once adopted: the work that came before, in the order it came. */
    void runBeforeStart() {
        Runnable[] waiting;
        synchronized (this) {
            waiting = beforeStart.toArray(new Runnable[0]);
            beforeStart.clear();
        }
        for (Runnable r : waiting) r.run();
    }

    /**
     * For a session whose round trip is wanted early ({@link #measureRttEarly}: a holepunch worker,
     * whose introductions use it), the first ping goes out a second after the upgrade (sooner with a
     * shorter interval) plus a random part of up to {@link #FIRST_PING_SPREAD_NANOS} (never past the
     * interval). Any other session gets it at the interval less a random part of up to that spread
     * (or half the interval), as the original's server pings at its interval: a client that holds
     * many sessions answers no pongs in the seconds after it opened them, and when a fleet
     * reconnects at once, the first pings come spread out, not in one batch (issue 25: a node client
     * holding 10,000 sessions).
     */
    static final long FIRST_PING_NANOS = 1_000_000_000L;
    static final long FIRST_PING_SPREAD_NANOS = 10_000_000_000L;

    private volatile boolean rttEarly;

    /** This session's round trip is wanted soon after its upgrade (first ping after a second or so); before adoption. */
    public void measureRttEarly(boolean early) {
        rttEarly = early;
    }

    /** When this loop adopted the connection (its loop's clock). */
    long startedNanos;
    /** Which of its loop's slices holds it for the liveness checks; -1 before adoption (the loop's thread). */
    int slice = -1;

    void started(ConnectionLoop owner, long now) {
        synchronized (this) {
            loop = owner;
        }
        startedNanos = now;
        lastHeardNanos = now;
        long interval = owner.settings().pingIntervalNanos();
        long first;
        if (rttEarly) {
            first = Math.min(FIRST_PING_NANOS, interval);
            long spread = Math.min(FIRST_PING_SPREAD_NANOS, interval - first);    // never later than the interval itself
            if (spread > 0) first += java.util.concurrent.ThreadLocalRandom.current().nextLong(spread);
        } else {
            long spread = Math.min(FIRST_PING_SPREAD_NANOS, interval / 2);
            first = interval - (spread > 0 ? java.util.concurrent.ThreadLocalRandom.current().nextLong(spread) : 0);
        }
        lastPingNanos = now - interval + first;
    }

    private void sendPing(long now) {
        enqueue(FrameEncoder.frame(Opcode.PING, java.nio.ByteBuffer.allocate(8).putLong(now).array()));
    }

    // ---- input, on the loop thread

    void onBytes(ByteBuffer input, long now) {
        if (state == CLOSED) return;
        lastHeardNanos = now;
        try {
            reader.read(input, decoder);
        } catch (WebSocketException e) {
            loop.log("websocket " + remote + ": " + e.getMessage() + " (closing with " + e.closeCode() + ")");
            startClose(e.closeCode(), e.getMessage(), true);
        }
    }

    @Override
    public void onText(String text) {
        if (state != OPEN) return;
        try {
            handler.onText(this, text);
        } catch (RuntimeException e) {
            // A fault in handling one message costs that message only: the session and the
            // messages after it in the same read go on.
            loop.log("websocket " + remote + ": a message could not be handled (" + e + "); skipped it");
        }
    }

    @Override
    public void onBinary(byte[] data, int length) {
        if (state != OPEN) return;
        try {
            handler.onBinary(this, data, length);
        } catch (RuntimeException e) {
            loop.log("websocket " + remote + ": a binary message could not be handled (" + e + "); skipped it");
        }
    }

    @Override
    public void onPing(byte[] payload) {
        if (state != OPEN) return;
        boolean answer;
        try {
            answer = handler.onPing(this);
        } catch (RuntimeException e) {
            loop.log("websocket " + remote + ": a ping could not be handled (" + e + "); answered it");
            answer = true;
        }
        if (answer && state == OPEN) enqueue(FrameEncoder.frame(Opcode.PONG, payload));   // §5.5.2
    }

    @Override
    public void onPong(byte[] payload) {
        // Any input counts as a sign of life (lastHeardNanos); unsolicited pongs are fine (§5.5.3).
        // Our pings carry their send time, so a pong that echoes one gives the round-trip time.
        if (payload.length == 8) {
            long sent = java.nio.ByteBuffer.wrap(payload).getLong();
            long rtt = System.nanoTime() - sent;
            if (rtt >= 0 && rtt < 60_000_000_000L) rttNanos = rtt;
        }
    }

    /** The WebSocket round-trip time in nanoseconds, or -1 when not measured yet. */
    public long rttNanos() {
        return rttNanos;
    }

    @Override
    public void onClose(int code, String reason) {
        if (state == OPEN) {
            // §5.5.1: answer with a Close frame echoing the status code (and, as browsers and the
            // websockets library do, the reason), then end the TCP connection.
            enqueue(FrameEncoder.close(code, reason));
            closeCode = code;
            closeReason = reason;
        }
        state = CLOSING;
        closeWhenFlushed = true;
        stopReading();
        flushOrFinish();
    }

    void onEndOfStream(String why) {
        if (state != CLOSED) {
            if (state == OPEN) closeReason = why;
            terminate();
        }
    }

    // ---- closing

    /** {@code fail}: a protocol error, so the TCP connection ends as soon as the Close frame is out. */
    void startClose(int code, String reason, boolean fail) {
        if (state != OPEN) return;
        state = CLOSING;
        closeCode = code;
        closeReason = reason;
        closeDeadlineNanos = System.nanoTime() + loop.settings().closeGraceNanos();
        enqueue(FrameEncoder.close(code, reason));
        if (fail) {
            closeWhenFlushed = true;
            stopReading();
            flushOrFinish();
        }
    }

    /** Ends the TCP connection now, telling the handler once. */
    void terminate() {
        if (state == CLOSED) return;
        state = CLOSED;
        outbound = null;
        budget.give(outboundBytes);
        outboundBytes = 0;
        decoder.release();
        if (key != null) key.cancel();
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        loop.forget(this);
        handler.onClosed(this, closeCode, closeReason);
    }

    // ---- output, on the loop thread

    private void enqueue(ByteBuffer frame) {
        if (state == CLOSED) return;
        if (outbound == null || outbound.isEmpty()) {
            try {
                channel.write(frame);
            } catch (IOException e) {
                onEndOfStream("write failed: " + e.getMessage());
                return;
            }
            if (!frame.hasRemaining()) return;
        }
        if (!budget.tryTake(frame.remaining())) {
            loop.log("websocket " + remote + ": the server's output buffers are full; dropping a session that does not read");
            closeCode = CloseCode.TRY_AGAIN_LATER;
            closeReason = "server buffers full";
            terminate();
            return;
        }
        if (outbound == null) outbound = new ArrayDeque<>(4);
        outbound.add(frame);
        outboundBytes += frame.remaining();
        ConnectionLoop.Settings s = loop.settings();
        if (outboundBytes > s.maxOutboundBytes()) {
            loop.log("websocket " + remote + ": peer does not read; " + outboundBytes + " bytes queued, dropping the connection");
            closeCode = CloseCode.POLICY_VIOLATION;
            closeReason = "outbound queue full";
            terminate();
            return;
        }
        if (outboundBytes > s.maxOutboundBytes() / 2) stopReading();   // back-pressure on a client that does not read
        interest(SelectionKey.OP_WRITE, true);
    }

    void onWritable() {
        flushOrFinish();
    }

    private void flushOrFinish() {
        if (state == CLOSED) return;
        try {
            while (outbound != null && !outbound.isEmpty()) {
                ByteBuffer head = outbound.peek();
                int n = channel.write(head);
                outboundBytes -= n;
                budget.give(n);
                if (head.hasRemaining()) return;
                outbound.poll();
            }
        } catch (IOException e) {
            onEndOfStream("write failed: " + e.getMessage());
            return;
        }
        outbound = null;
        outboundBytes = 0;
        if (closeWhenFlushed) {
            terminate();
            return;
        }
        interest(SelectionKey.OP_WRITE, false);
        if (state == OPEN) interest(SelectionKey.OP_READ, true);
    }

    private void stopReading() {
        interest(SelectionKey.OP_READ, false);
    }

    private void interest(int op, boolean on) {
        if (key == null || !key.isValid()) return;
        int ops = key.interestOps();
        int next = on ? ops | op : ops & ~op;
        if (next != ops) key.interestOps(next);
    }

    /** Liveness (called about once a second): ping when due, end a silent or stuck session. */
    void tick(long now, ConnectionLoop.Settings s) {
        if (state == CLOSING) {
            if (now - closeDeadlineNanos > 0) terminate();
            return;
        }
        if (state != OPEN) return;
        if (now - lastHeardNanos > s.pingIntervalNanos() + s.pingTimeoutNanos()) {
            loop.log("websocket " + remote + ": silent for over " + (s.pingIntervalNanos() + s.pingTimeoutNanos()) / 1_000_000_000L
                    + " s, ending the session");
            closeCode = CloseCode.INTERNAL_ERROR;   // as the websockets library: 1011 keepalive ping timeout
            closeReason = "keepalive ping timeout";
            enqueue(FrameEncoder.close(closeCode, closeReason));
            terminate();
            return;
        }
        if (now - lastPingNanos >= s.pingIntervalNanos()) {
            lastPingNanos = now;
            sendPing(now);
        }
    }

    @Override
    public String toString() {
        return "WebSocketConnection[" + remote + "]";
    }
}
