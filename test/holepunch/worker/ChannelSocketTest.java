package holepunch.worker;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A peer's IPv6 candidate reaching an IPv4-only worker (IPV6=false) is an I/O failure of that one
 * send, which the path logs and goes past, not an exception that would end the timer task
 * punching every candidate.
 */
class ChannelSocketTest {
    @Test
    void anIpv6DestinationOnAnIpv4Socket_isAnIoFailure_andIsNeverPrimed() throws Exception {
        try (DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET).bind(new InetSocketAddress("127.0.0.1", 0))) {
            ChannelSocket s = new ChannelSocket(ch, false);
            InetSocketAddress v6 = new InetSocketAddress("2001:db8::1", 4000);
            IOException e = assertThrows(IOException.class, () -> s.send(ByteBuffer.allocate(8), v6));
            assertTrue(e.getMessage().contains("no IPv6"), e.getMessage());
            assertFalse(s.sendWithTtl(ByteBuffer.allocate(8), v6, 2), "IP_TTL is IPv4's: nothing sent");
            s.close();
            assertTrue(ch.isOpen(), "the worker's own socket is the worker's to close");
        }
    }
}
