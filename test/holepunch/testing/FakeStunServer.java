package holepunch.testing;

import holepunch.stun.AttributeType;
import holepunch.stun.StunAddress;
import holepunch.stun.StunAttribute;
import holepunch.stun.StunClass;
import holepunch.stun.StunMessage;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/** A STUN server for tests that answers with whatever mapping the test sets, or stays silent. */
public final class FakeStunServer implements AutoCloseable {
    private final DatagramChannel channel;
    private final Thread thread;
    /** The mapping to answer with; null means "the real source address". */
    public final AtomicReference<InetSocketAddress> mapping = new AtomicReference<>();
    public volatile boolean silent;
    public final AtomicInteger requests = new AtomicInteger();

    public FakeStunServer() throws IOException {
        channel = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        thread = Thread.ofPlatform().daemon(true).start(this::run);
    }

    public int port() {
        return holepunch.net.Addresses.localPort(channel);
    }

    private void run() {
        ByteBuffer buf = ByteBuffer.allocate(1500);
        while (channel.isOpen()) {
            try {
                buf.clear();
                InetSocketAddress from = (InetSocketAddress) channel.receive(buf);
                requests.incrementAndGet();
                if (silent) continue;
                StunMessage req = StunMessage.parse(buf.array(), 0, buf.position());
                InetSocketAddress mapped = mapping.get() == null ? from : mapping.get();
                byte[] reply = new StunMessage(StunClass.SUCCESS_RESPONSE, StunMessage.BINDING, req.transactionId(), List.of(
                        new StunAttribute(AttributeType.XOR_MAPPED_ADDRESS, StunAddress.encode(mapped, true, req.transactionId()))))
                        .encode(true);
                channel.send(ByteBuffer.wrap(reply), from);
            } catch (Exception e) {
                // closed, or a bad datagram: keep serving until closed
            }
        }
    }

    /** A socket that holds a port and reads nothing, so that no socket of a test (a worker's extra sockets) can take it. */
    private java.net.DatagramSocket hole;

    /**
     * Answers every request with a mapping where nobody answers: a loopback port held by a socket
     * that never reads. Peers then cannot reach each other directly (a free port alone is not
     * enough: a worker's own sockets could be given it later).
     */
    public synchronized InetSocketAddress pointNowhere() throws IOException {
        if (hole == null) hole = new java.net.DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
        InetSocketAddress nowhere = new InetSocketAddress("127.0.0.1", hole.getLocalPort());
        mapping.set(nowhere);
        return nowhere;
    }

    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (hole != null) hole.close();
        }
        channel.close();
    }
}
