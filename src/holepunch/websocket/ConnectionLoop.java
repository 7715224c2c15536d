package holepunch.websocket;

import holepunch.log.Fatal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A selector thread that owns a share of the WebSocket sessions: it reads and decodes their frames,
 * writes their queued output, pings them and ends the silent ones. Work from other threads comes
 * in through {@link #execute}. No session can block another: every read and write is non-blocking.
 */
public final class ConnectionLoop implements Runnable {

    /** Limits for every session of a loop. */
    public record Settings(long pingIntervalNanos, long pingTimeoutNanos, int maxMessageBytes,
                           int maxOutboundBytes, long closeGraceNanos) {
    }

    private static final int READS_PER_WAKEUP = 4;
    /** A session is served ahead of newer ones once it has been open this long. */
    static final long ESTABLISHED_NANOS = 1_000_000_000L;
    /** The ready keys of sessions newer than that, served after the others (this loop's thread only). */
    private final ArrayList<SelectionKey> fresh = new ArrayList<>();

    private final Settings settings;
    private final Selector selector;
    private final Consumer<String> log;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    /**
     * New sessions to take over. Waking a sleeping loop costs the waker a system call and the
     * kernel a cross-core wake-up, so while adoptions keep coming the loop polls for them every
     * {@link #POLL_MILLIS} instead (measured in a 10,000-session wave: 0.9 thread switches per
     * registration against 2.2, and 10-15% less server CPU).
     */
    private final ConcurrentLinkedQueue<Runnable> adoptions = new ConcurrentLinkedQueue<>();
    static final long POLL_MILLIS = 1;
    /** How long after its last adoption the loop keeps polling. */
    static final long POLL_WINDOW_NANOS = 100_000_000L;
    /** True while the loop comes back within POLL_MILLIS: an adoption then need not wake it. */
    private volatile boolean polling;
    /** Selector wake-ups asked for (for tests and diagnosis). */
    private final java.util.concurrent.atomic.LongAdder wakeups = new java.util.concurrent.atomic.LongAdder();
    private final AtomicBoolean wakeupPending = new AtomicBoolean();
    /**
     * The sessions, in slices visited one at a time, one slice every {@link #sliceNanos}: each session
     * still gets its liveness check once per {@link #tickNanos}, but the pings of sessions that came
     * in a burst go out spread over that time, not in one batch. A batch of 3,000 first pings (a
     * second's worth of a registration burst) made a node client answer 3,000 pongs at once and stall
     * every echo it was waiting for by 120-280 ms (issue 25).
     */
    private final List<Set<WebSocketConnection>> slices;
    private int nextSlice;
    private int tickSlice;
    private final ByteBuffer readBuffer = ByteBuffer.allocateDirect(64 * 1024);
    private final Thread thread;
    private final long tickNanos;
    private final long sliceNanos;
    /** A slice's time at least (the loop wakes once per slice), and how many slices at most. */
    static final long SLICE_NANOS = 20_000_000L;
    static final int MAX_SLICES = 50;
    private volatile boolean running = true;
    /** Set by {@link #closeAll}: sessions adopted afterwards are closed the same way at once. */
    private volatile int closingCode;
    private volatile String closingReason;

    public ConnectionLoop(String name, Settings settings, Consumer<String> log) {
        this.settings = settings;
        this.log = log;
        try {
            this.selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.thread = Thread.ofPlatform().name(name).daemon(true).unstarted(this);
        // Liveness checks run often enough to keep the configured times within a quarter of them.
        long shortest = Math.min(settings.pingIntervalNanos(), settings.pingTimeoutNanos());
        this.tickNanos = Math.clamp(shortest / 4, 20_000_000L, 1_000_000_000L);
        int count = Math.clamp(tickNanos / SLICE_NANOS, 1, MAX_SLICES);
        this.slices = new ArrayList<>(count);
        for (int i = 0; i < count; i++) slices.add(new HashSet<>());
        this.sliceNanos = tickNanos / count;
    }

    public void start() {
        thread.start();
    }

    Settings settings() {
        return settings;
    }

    void log(String line) {
        log.accept(line);
    }

    /** Runs {@code task} on this loop's thread: now when called from it, else soon. */
    public void execute(Runnable task) {
        if (Thread.currentThread() == thread) {
            task.run();
            return;
        }
        tasks.add(task);
        wakeUp();
    }

    private void wakeUp() {
        if (wakeupPending.compareAndSet(false, true)) {
            wakeups.increment();
            selector.wakeup();
        }
    }

    long wakeups() {
        return wakeups.sum();
    }

    /** Takes over an upgraded connection; {@code leftover} are bytes already read past the handshake. */
    public void adopt(WebSocketConnection connection, byte[] leftover) {
        adoptions.add(() -> {
            long now = System.nanoTime();
            connection.started(this, now);
            try {
                connection.channel.configureBlocking(false);
                // Small frames go out at once (no Nagle delay behind an unacknowledged one), as asyncio does for the original.
                connection.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                connection.key = connection.channel.register(selector, SelectionKey.OP_READ, connection);
            } catch (IOException e) {
                connection.onEndOfStream("register failed: " + e.getMessage());
                return;
            }
            connection.slice = nextSlice;
            nextSlice = (nextSlice + 1) % slices.size();
            slices.get(connection.slice).add(connection);
            connection.runBeforeStart();          // sends and closes asked for while the 101 was going out
            if (closingCode != 0) {
                connection.startClose(closingCode, closingReason, true);
                return;
            }
            if (leftover.length > 0) connection.onBytes(ByteBuffer.wrap(leftover), now);
        });
        // Read after the add: either the loop, about to sleep long, sees this adoption, or this sees it is not polling.
        if (!polling) wakeUp();
    }

    void forget(WebSocketConnection connection) {
        if (connection.slice >= 0) slices.get(connection.slice).remove(connection);
    }

    /** Every session of this loop, copied (this loop's thread). */
    private List<WebSocketConnection> all() {
        List<WebSocketConnection> all = new ArrayList<>();
        for (Set<WebSocketConnection> slice : slices) all.addAll(slice);
        return all;
    }

    /** Closes every session with {@code code} (on shutdown). */
    public void closeAll(int code, String reason) {
        closingReason = reason;
        closingCode = code;
        execute(() -> {
            for (WebSocketConnection c : all()) c.startClose(code, reason, true);
        });
    }

    public void stop() {
        running = false;
        selector.wakeup();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (WebSocketConnection c : all()) c.terminate();
        try {
            selector.close();
        } catch (IOException ignored) {
            // stopping anyway
        }
    }

    @Override
    public void run() {
        long nextTick = System.nanoTime() + sliceNanos;
        long lastAdopted = nextTick - sliceNanos - POLL_WINDOW_NANOS;
        while (running) {
            try {
                if (System.nanoTime() - lastAdopted < POLL_WINDOW_NANOS) {   // new sessions coming: back soon for them, unwoken
                    polling = true;
                    selector.select(POLL_MILLIS);
                } else {
                    polling = false;       // written before the queue is read; adopt() writes the queue, then reads this
                    if (adoptions.isEmpty()) selector.select(Math.max(1, (nextTick - System.nanoTime()) / 1_000_000));
                    else selector.selectNow();
                }
                wakeupPending.set(false);
                long now = System.nanoTime();
                // Sessions open for a while first, then new ones and adoptions: during a burst of
                // registrations the sessions already open do not wait behind it.
                fresh.clear();
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey key = it.next();
                    it.remove();
                    WebSocketConnection c = (WebSocketConnection) key.attachment();
                    if (now - c.startedNanos < ESTABLISHED_NANOS) fresh.add(key);
                    else handleSafely(key, c, now);
                }
                Runnable task;
                while ((task = adoptions.poll()) != null) {
                    safely(task);
                    lastAdopted = now;
                }
                while ((task = tasks.poll()) != null) safely(task);
                for (SelectionKey key : fresh) handleSafely(key, (WebSocketConnection) key.attachment(), now);
                if (now - nextTick >= 0) {
                    nextTick = now + sliceNanos;
                    tickSlice = (tickSlice + 1) % slices.size();
                    for (WebSocketConnection c : List.copyOf(slices.get(tickSlice))) safely(() -> c.tick(now, settings));
                }
            } catch (IOException | RuntimeException e) {
                log("connection loop: " + e);   // never let one session's trouble stop the loop
            } catch (Error e) {
                Fatal.exit(thread.getName(), e);   // never leave the service half-alive
            }
        }
    }

    private void handleSafely(SelectionKey key, WebSocketConnection c, long now) {
        try {
            handle(key, c, now);
        } catch (RuntimeException e) {
            log("connection loop: " + c + " failed (" + e + "); ending that session");
            c.terminate();
        }
    }

    private void handle(SelectionKey key, WebSocketConnection c, long now) {
        if (!key.isValid()) return;
        if (key.isWritable()) c.onWritable();
        if (key.isValid() && key.isReadable()) {
            for (int i = 0; i < READS_PER_WAKEUP && key.isValid() && (key.interestOps() & SelectionKey.OP_READ) != 0; i++) {
                readBuffer.clear();
                int n;
                try {
                    n = c.channel.read(readBuffer);
                } catch (IOException e) {
                    c.onEndOfStream("read failed: " + e.getMessage());
                    return;
                }
                if (n < 0) {
                    c.onEndOfStream("connection closed without a close frame");
                    return;
                }
                if (n == 0) return;
                c.onBytes(readBuffer.flip(), now);
                if (n < readBuffer.capacity()) return;
            }
        }
    }

    private void safely(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log("connection loop: unexpected " + e);
        }
    }
}
