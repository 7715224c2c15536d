package holepunch.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;

/** A UDP echo service on loopback for tests (the application beside a worker); stops when closed. */
public final class UdpEcho implements AutoCloseable {
    private final DatagramChannel channel;
    private final Thread thread;

    public UdpEcho() throws IOException {
        channel = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        thread = Thread.ofVirtual().start(() -> {
            ByteBuffer buf = ByteBuffer.allocate(2048);
            try {
                while (true) {
                    buf.clear();
                    SocketAddress from = channel.receive(buf);
                    buf.flip();
                    channel.send(buf, from);
                }
            } catch (IOException e) {
                // closed at the end
            }
        });
    }

    public int port() {
        return holepunch.net.Addresses.localPort(channel);
    }

    @Override
    public void close() throws Exception {
        channel.close();
        thread.join(5000);
    }
}
