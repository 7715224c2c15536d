package holepunch.net;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.channels.DatagramChannel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SocketTtlTest {
    @Test
    void ttl_isSetAndReadBackOnTheChannelsOwnSocket() throws Exception {
        assertNull(SocketTtl.unavailable(), "libc setsockopt/getsockopt are reachable");
        try (DatagramChannel a = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             DatagramChannel b = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            int normal = SocketTtl.get(a);
            assertTrue(normal > 2, "the default TTL: " + normal);
            assertTrue(SocketTtl.set(a, 2));
            assertEquals(2, SocketTtl.get(a));
            assertEquals(normal, SocketTtl.get(b), "another socket keeps its own");
            assertTrue(SocketTtl.set(a, normal));
            assertEquals(normal, SocketTtl.get(a));
        }
    }

    /** The worker's socket is dual stack (AF_INET6): IP_TTL there sets the TTL of its IPv4 datagrams. */
    @Test
    void ttl_isSetAndReadBackOnADualStackSocket() throws Exception {
        try (DatagramChannel a = DatagramChannel.open().bind(new InetSocketAddress(0))) {
            assertTrue(((InetSocketAddress) a.getLocalAddress()).getAddress() instanceof java.net.Inet6Address, "a dual-stack socket");
            int normal = SocketTtl.get(a);
            assertTrue(normal > 2, "the default TTL: " + normal);
            assertTrue(SocketTtl.set(a, 2));
            assertEquals(2, SocketTtl.get(a));
        }
    }
}
