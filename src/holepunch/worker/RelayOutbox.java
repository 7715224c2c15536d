package holepunch.worker;

import holepunch.protocol.ProtocolException;
import holepunch.protocol.RelayFrame;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.ObjIntConsumer;

/**
 * Relayed datagrams on their way to the rendezvous in binary messages ({@link RelayFrame}): whoever
 * sends (the forwarder, the timer) appends a record and returns at once; one thread sends what
 * has gathered, as one message, while the next gathers. Bounded: {@value #BUFFERS} buffers of
 * {@value #MESSAGE_BYTES} bytes; a datagram that finds no room is dropped (the caller counts it),
 * never waited for. Nothing is allocated per datagram.
 */
final class RelayOutbox implements AutoCloseable {
    /** One message at most: below the rendezvous's default MAX_MESSAGE_BYTES (64 KiB). */
    static final int MESSAGE_BYTES = 48 * 1024;
    static final int BUFFERS = 16;
    static final long SEND_TIMEOUT_SECONDS = 10;

    private final ArrayDeque<ByteBuffer> free = new ArrayDeque<>(BUFFERS);
    private final ArrayDeque<ByteBuffer> ready = new ArrayDeque<>(BUFFERS);
    private ByteBuffer filling;
    private boolean senderWaiting;
    private volatile boolean closed;
    private final Function<ByteBuffer, CompletableFuture<?>> send;
    /** Told of datagrams lost with a message that could not be sent: (reason, count). */
    private final ObjIntConsumer<String> lost;
    private final Thread sender;

    /** {@code send} writes one binary message (its future completes when written). */
    RelayOutbox(Function<ByteBuffer, CompletableFuture<?>> send, ObjIntConsumer<String> lost) {
        this.send = send;
        this.lost = lost;
        for (int i = 0; i < BUFFERS; i++) free.add(ByteBuffer.allocate(MESSAGE_BYTES));
        sender = Thread.ofPlatform().name("relay-sender").daemon(true).start(this::run);
    }

    /** Queues {@code buf[off, off + len)} for pair {@code pairId}: null when queued, else the reason it was dropped. */
    synchronized String offer(long pairId, byte[] buf, int off, int len) {
        if (closed) return "relay_closed";
        if (filling == null || filling.remaining() < RelayFrame.RECORD_HEADER + len) {
            if (filling != null) ready.add(filling);
            filling = free.poll();
            if (filling == null) return "relay_queue_full";
            filling.clear();
            RelayFrame.begin(filling);
        }
        RelayFrame.append(filling, pairId, buf, off, len);
        if (senderWaiting) notify();
        return null;
    }

    private synchronized ByteBuffer take() throws InterruptedException {
        while (!closed && ready.isEmpty() && (filling == null || filling.position() <= 1)) {
            senderWaiting = true;
            wait();
            senderWaiting = false;
        }
        if (closed) return null;
        ByteBuffer b = ready.poll();
        if (b == null) {
            b = filling;
            filling = null;
        }
        return b.flip();
    }

    private synchronized void done(ByteBuffer b) {
        free.add(b);
    }

    private void run() {
        try {
            while (true) {
                ByteBuffer b = take();
                if (b == null) return;
                try {
                    send.apply(b).get(SEND_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {
                    lost.accept("relay_send_failed", records(b));
                }
                done(b);
            }
        } catch (InterruptedException e) {
            // closing
        }
    }

    /** How many records a message holds (to count what a failed send lost). */
    static int records(ByteBuffer message) {
        try {
            return RelayFrame.read(message.rewind(), (p, m, o, l) -> { });
        } catch (ProtocolException e) {
            return 0;
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            notifyAll();
        }
        sender.interrupt();
    }
}
