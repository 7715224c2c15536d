package holepunch.worker;

import holepunch.net.SocketTtl;
import holepunch.net.UdpBatch;
import holepunch.peer.Peers;
import holepunch.peer.Probe;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;

/**
 * A peer path's view of a UDP socket: the worker's own (closed by the worker) or an extra one the
 * hard-NAT technique opens, bound to an ephemeral port and read by its own virtual thread until it
 * is closed. A send with a small TTL sets the socket's TTL for that one datagram ({@link SocketTtl}).
 */
final class ChannelSocket implements Peers.Transport {
    private final DatagramChannel channel;
    private final boolean extra;
    private final Object ttlLock = new Object();

    ChannelSocket(DatagramChannel channel, boolean extra) {
        this(channel, extra, false);
    }

    /** {@code batching}: a thread may hold its sends and send them with one system call ({@link #hold}). */
    ChannelSocket(DatagramChannel channel, boolean extra, boolean batching) {
        this.channel = channel;
        this.extra = extra;
        this.batching = batching && UdpBatch.unavailable() == null;
    }

    /** An extra socket on an ephemeral port whose peer datagrams go to {@code receiver}. */
    static ChannelSocket openExtra(Peers.Receiver receiver) throws IOException {
        DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET);
        try {
            ch.bind(new InetSocketAddress(0));
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        ChannelSocket s = new ChannelSocket(ch, true);
        Thread.ofVirtual().name("udp-extra").start(() -> {
            ByteBuffer buf = ByteBuffer.allocate(2048);
            while (ch.isOpen()) {
                try {
                    buf.clear();
                    InetSocketAddress from = (InetSocketAddress) ch.receive(buf);
                    buf.flip();
                    if (Probe.looksLikeProbe(buf)) receiver.onDatagram(from, buf.array(), buf.limit());
                } catch (ClosedChannelException e) {
                    return;
                } catch (IOException | RuntimeException e) {
                    if (!ch.isOpen()) return;          // anything else: the next datagram
                }
            }
        });
        return s;
    }

    /** The worker's own socket opens the extra ones; an extra one opens none. */
    @Override
    public Peers.Socket open(Peers.Receiver receiver) throws IOException {
        return extra ? null : openExtra(receiver);
    }

    /** Per thread: its batch of held sends on this socket (made on first hold), and whether it holds now. */
    private final ThreadLocal<UdpBatch> batches = new ThreadLocal<>();
    private final ThreadLocal<Boolean> holding = ThreadLocal.withInitial(() -> false);
    /** Whether sends are batched at all (UDP_BATCH and the platform). */
    private final boolean batching;

    @Override
    public void hold() {
        if (!batching) return;
        if (batches.get() == null) {
            try {
                UdpBatch b = UdpBatch.forSending(2048);
                if (b != null) b.switchTo(channel);
                batches.set(b);
            } catch (IOException e) {
                return;                                  // unbatched, as before
            }
        }
        holding.set(batches.get() != null);
    }

    @Override
    public int release() {
        holding.set(false);
        UdpBatch b = batches.get();
        if (b == null || b.pending() == 0) return 0;
        return flush(b);
    }

    private int flush(UdpBatch b) {
        int pending = b.pending();
        try {
            synchronized (ttlLock) {                     // never while a priming probe has lowered the TTL
                return pending - b.flush();
            }
        } catch (IOException e) {
            return pending;
        }
    }

    @Override
    public void forgetThread() {
        UdpBatch b = batches.get();
        batches.remove();
        holding.remove();
        if (b != null) b.close();
    }

    @Override
    public void send(ByteBuffer datagram, InetSocketAddress to) throws IOException {
        if (holding.get() && datagram.hasArray()) {
            UdpBatch b = batches.get();
            if (b.full()) flush(b);
            b.add(datagram.array(), datagram.arrayOffset() + datagram.position(), datagram.remaining(), to);
            datagram.position(datagram.limit());
            return;
        }
        try {
            synchronized (ttlLock) {             // uncontended but for the moment of a priming probe
                channel.send(datagram, to);
            }
        } catch (java.nio.channels.UnsupportedAddressTypeException e) {
            throw new IOException("this socket has no " + (to.getAddress() instanceof java.net.Inet6Address ? "IPv6" : "IPv4"), e);
        }
    }

    @Override
    public boolean sendWithTtl(ByteBuffer datagram, InetSocketAddress to, int ttl) throws IOException {
        synchronized (ttlLock) {
            if (to.getAddress() instanceof java.net.Inet6Address) return false;     // IP_TTL is IPv4's
            int normal = SocketTtl.get(channel);
            if (normal <= 0 || !SocketTtl.set(channel, ttl)) return false;
            try {
                channel.send(datagram, to);
            } finally {
                SocketTtl.set(channel, normal);
            }
            return true;
        }
    }

    @Override
    public void close() {
        if (!extra) return;
        try {
            channel.close();
        } catch (IOException ignored) {
            // closed anyway
        }
    }
}
