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

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
