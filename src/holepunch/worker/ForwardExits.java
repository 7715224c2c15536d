package holepunch.worker;

import holepunch.log.Log;
import holepunch.net.UdpBatch;
import holepunch.net.UdpSockets;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import static holepunch.worker.Forwarder.FROM_TARGET;
import static holepunch.worker.Forwarder.MAX_DATAGRAM;
import static holepunch.worker.Forwarder.MAX_FLOWS;
import static holepunch.worker.Forwarder.MAX_FLOWS_PER_PEER;

/**
 * The far side of forwarding: the sockets facing the targets FORWARD_ALLOW names, one per (peer,
 * flow), and the thread that reads their replies (one selector for all) and sends them back to the
 * flow's peer. The worker's reader delivers here; its writes to a target may be held and go out
 * together ({@link #hold}, {@link #release}: {@code sendmmsg} with segmentation). A flow's target
 * is parsed once, when the flow opens, and compared byte for byte after that.
 */
final class ForwardExits implements AutoCloseable {
    /** Sizes a new socket's buffers (the worker's UDP_*_BUFFER_BYTES). */
    interface Sizer {
        void size(DatagramChannel ch) throws IOException;
    }

    /** The far side of a flow: the socket facing the target, and the target's text as the peer names it. */
    private record Exit(String peer, int flow, DatagramChannel channel, byte[] target) {
    }

    private final Log log = Log.of("forward");
    private final String selfId;
    private final Forwarder.PeerSender peers;
    private final Set<InetSocketAddress> allow;
    private final Forwarder.Drops drops;
    private final Sizer sizer;
    private final boolean batch;
    private final Set<Long> appInodes;
    /** (peer, flow id) to the socket facing the target. Guarded by itself. */
    private final FlowTable<Exit> exits = new FlowTable<>(MAX_FLOWS);
    private final Map<String, Integer> exitsPerPeer = new java.util.HashMap<>();
    private final Selector exitSelector;
    private final java.util.concurrent.ConcurrentLinkedQueue<Exit> newExits = new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** Per thread that delivers (the worker's reader): its held sends to far-side sockets, and the socket they are for. */
    private final ThreadLocal<UdpBatch> exitBatches = new ThreadLocal<>();
    private final ThreadLocal<DatagramChannel> exitBatchOn = new ThreadLocal<>();
    private volatile boolean closed;

    ForwardExits(String selfId, Forwarder.PeerSender peers, Set<InetSocketAddress> allow, Forwarder.Drops drops, Sizer sizer, boolean batch,
                 Set<Long> appInodes) throws IOException {
        this.selfId = selfId;
        this.peers = peers;
        this.allow = allow;
        this.drops = drops;
        this.sizer = sizer;
        this.batch = batch;
        this.appInodes = appInodes;
        this.exitSelector = Selector.open();
        Thread.ofPlatform().name("forward-exits").daemon(true).start(this::readExits);
    }

    boolean allowed(InetSocketAddress target) {
        return target != null && allow.contains(target);
    }

    /**
     * A payload for a target from {@code peer}: the target's text at {@code buf[targetOff, +targetLen)},
     * the data right after it, {@code dataLen} bytes. Valid during the call only.
     */
    void deliver(String peer, int flow, byte[] buf, int targetOff, int targetLen, int dataLen) throws IOException {
        Exit exit;
        synchronized (exits) {
            exit = exits.get(peer, flow);
        }
        if (exit == null || !java.util.Arrays.equals(exit.target(), 0, exit.target().length, buf, targetOff, targetOff + targetLen)) {
            exit = openExit(peer, flow, java.util.Arrays.copyOfRange(buf, targetOff, targetOff + targetLen));
            if (exit == null) return;
        }
        write(exit.channel(), buf, targetOff + targetLen, dataLen);
    }

    /** The worker's reader is about to deliver a batch: its writes to far-side sockets are held until {@link #release}. */
    void hold() {
        if (!batch || exitBatches.get() != null) return;
        try {
            exitBatches.set(UdpBatch.forSending(MAX_DATAGRAM + 1));
        } catch (IOException e) {
            // unbatched, as before
        }
    }

    /** Sends what this thread held for far-side sockets; what the kernel refused is counted. */
    void release() {
        UdpBatch b = exitBatches.get();
        if (b == null || b.pending() == 0) return;
        int pending = b.pending();
        int sent;
        try {
            sent = b.flush();
        } catch (IOException e) {
            sent = 0;
        }
        if (sent < pending) drops.sendBufferFull.add(pending - sent);
    }

    void forgetThread() {
        UdpBatch b = exitBatches.get();
        exitBatches.remove();
        exitBatchOn.remove();
        if (b != null) b.close();
    }

    /** Writes to a far-side socket: into this thread's held batch when it holds one, else at once. */
    private void write(DatagramChannel ch, byte[] buf, int off, int len) throws IOException {
        UdpBatch b = exitBatches.get();
        if (b == null) {
            if (ch.write(ByteBuffer.wrap(buf, off, len)) == 0) drops.sendBufferFull.inc();
            return;
        }
        if (exitBatchOn.get() != ch) {
            int refused = b.switchTo(ch);
            if (refused > 0) drops.sendBufferFull.add(refused);
            exitBatchOn.set(ch);
        } else if (b.full()) {
            release();
        }
        b.addConnected(buf, off, len);
    }

    /** A new flow from {@code peer} to the target it names: checked against FORWARD_ALLOW and the caps, then its socket. */
    private Exit openExit(String peer, int flow, byte[] targetBytes) {
        String name = new String(targetBytes, StandardCharsets.UTF_8);
        InetSocketAddress target = Forwarder.target(name);
        if (!allowed(target)) {
            drops.notAllowed.inc();
            warnRefused(peer, name);
            return null;
        }
        synchronized (exits) {
            Exit old = exits.remove(peer, flow);         // the same flow id naming another target: the old socket goes
            if (old != null) closeExit(old);
            if (exitsPerPeer.getOrDefault(peer, 0) >= MAX_FLOWS_PER_PEER) {
                drops.flowLimit.inc();
                log.debug(selfId, peer + " holds " + MAX_FLOWS_PER_PEER + " forwarded flows already; dropped a new one");
                return null;
            }
            DatagramChannel ch;
            try {
                ch = DatagramChannel.open();
                ch.connect(target);
                sizer.size(ch);
                ch.configureBlocking(false);
            } catch (IOException e) {
                log.warn(selfId, "cannot open a forwarding socket to " + name + ": " + e.getMessage());
                return null;
            }
            Exit exit = new Exit(peer, flow, ch, targetBytes);
            Exit evicted = exits.put(peer, flow, exit);
            if (evicted != null) closeExit(evicted);
            exitsPerPeer.merge(peer, 1, Integer::sum);
            appInodes.add(UdpSockets.inode(ch));
            newExits.add(exit);
            exitSelector.wakeup();
            return exit;
        }
    }

    private void closeExit(Exit e) {
        exitsPerPeer.computeIfPresent(e.peer(), (k, n) -> n <= 1 ? null : n - 1);
        appInodes.remove(UdpSockets.inode(e.channel()));
        try {
            e.channel().close();
        } catch (IOException ignored) {
            // closed anyway
        }
    }

    /** The far side's replies: every exit socket on one selector, sent back to the flow's peer. */
    private void readExits() {
        byte[] frame = new byte[5 + MAX_DATAGRAM + 1];
        frame[0] = FROM_TARGET;
        ByteBuffer buf = ByteBuffer.wrap(frame, 5, MAX_DATAGRAM + 1).slice();
        while (!closed) {
            try {
                exitSelector.select(1000);
                peers.hold();
                for (Exit e; (e = newExits.poll()) != null; ) {
                    if (e.channel().isOpen()) e.channel().register(exitSelector, java.nio.channels.SelectionKey.OP_READ, e);
                }
                for (java.nio.channels.SelectionKey key : exitSelector.selectedKeys()) {
                    Exit e = (Exit) key.attachment();
                    for (int i = 0; i < 64; i++) {            // at most 64 from one socket before the next
                        buf.clear();
                        int len;
                        try {
                            if (e.channel().receive(buf) == null) break;
                        } catch (IOException unreachable) {
                            break;                          // ICMP unreachable from the target: the next datagram
                        }
                        len = buf.position();
                        if (len > MAX_DATAGRAM) {
                            drops.tooLarge.inc();
                            continue;
                        }
                        frame[1] = (byte) (e.flow() >> 24);
                        frame[2] = (byte) (e.flow() >> 16);
                        frame[3] = (byte) (e.flow() >> 8);
                        frame[4] = (byte) e.flow();
                        if (!peers.send(e.peer(), frame, 0, 5 + len)) drops.noPath.inc();
                    }
                }
                exitSelector.selectedKeys().clear();
                peers.release();
            } catch (IOException | java.nio.channels.ClosedSelectorException e) {
                if (!closed) log.warn(selfId, "forwarding: reading replies failed: " + e);
                peers.forgetThread();
                return;
            }
        }
        peers.forgetThread();
    }

    /** One warning per peer and minute for refused targets: an attacker cannot flood the log. */
    private final Map<String, Long> lastRefusal = java.util.Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > MAX_FLOWS;
        }
    });

    private void warnRefused(String peer, String target) {
        long now = System.nanoTime();
        Long last = lastRefusal.get(peer);
        if (last != null && now - last < 60_000_000_000L) return;
        lastRefusal.put(peer, now);
        log.warn(selfId, peer + " asked to forward to '" + Log.excerpt(target) + "', which FORWARD_ALLOW does not name; dropped"
                + " (FORWARD_ALLOW takes exact ip:port targets; logged once a minute per peer)");
    }

    @Override
    public void close() {
        closed = true;
        synchronized (exits) {
            for (Exit e : exits.values()) closeExit(e);
        }
        try {
            exitSelector.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
