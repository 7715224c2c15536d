package holepunch.rendezvous;

import holepunch.config.ConfigException;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TRUSTED_PROXIES: Forwarded (RFC 7239, its examples) and X-Forwarded-For, believed only from a trusted proxy, right to left. */
class ClientAddressTest {
    static final InetSocketAddress PROXY = new InetSocketAddress("10.0.0.9", 40000);
    static final InetSocketAddress STRANGER = new InetSocketAddress("198.51.100.50", 40000);
    final ClientAddress proxies = ClientAddress.parse("10.0.0.0/8, 2001:db8:ffff::1");

    @Test
    void xForwardedFor_fromATrustedProxy_givesTheRightMostUntrustedAddress() {
        assertEquals(new InetSocketAddress("198.51.100.7", 0), proxies.client(PROXY, null, "198.51.100.7"));
        assertEquals(new InetSocketAddress("198.51.100.7", 0), proxies.client(PROXY, null, "203.0.113.66, 198.51.100.7, 10.0.0.2"),
                "what the client wrote on the left proves nothing; the proxies' own hops are skipped");
        assertEquals(PROXY, proxies.client(PROXY, null, "10.0.0.2, 10.0.0.3"), "only proxies: the peer");
        assertEquals(PROXY, proxies.client(PROXY, null, null));
    }

    @Test
    void headersFromAnyOtherPeer_areIgnored() {
        assertEquals(STRANGER, proxies.client(STRANGER, "for=192.0.2.1", "192.0.2.1"));
        assertEquals(STRANGER, ClientAddress.NONE.client(STRANGER, "for=192.0.2.1", "192.0.2.1"), "no TRUSTED_PROXIES: never");
    }

    /** RFC 7239 §4 and §7.1's examples: quoted IPv6 with a port, several elements, obfuscated nodes. */
    @Test
    void forwarded_rfc7239() {
        assertEquals(new InetSocketAddress("2001:db8:cafe::17", 4711),
                proxies.client(PROXY, "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\"", "192.0.2.43"));
        assertEquals(new InetSocketAddress("192.0.2.60", 0), proxies.client(PROXY, "for=192.0.2.60;proto=http;by=203.0.113.43", null));
        assertEquals(new InetSocketAddress("192.0.2.60", 0), proxies.client(PROXY, "For=\"192.0.2.60\", for=10.0.0.4", null));
        assertEquals(PROXY, proxies.client(PROXY, "for=192.0.2.60, for=_hidden", null), "an unreadable hop: nothing left of it is believed");
        assertEquals(PROXY, proxies.client(PROXY, "for=unknown", null));
    }

    @Test
    void ipv6Clients_countedByTheirSlash64_ipv4ByTheAddress() throws Exception {
        assertEquals(ClientAddress.limitKey(InetAddress.getByName("2001:db8:1:2:aaaa::1")),
                ClientAddress.limitKey(InetAddress.getByName("2001:db8:1:2:bbbb:cccc:dddd:2")));
        assertEquals("2001:db8:1:2::/64", ClientAddress.limitKey(InetAddress.getByName("2001:db8:1:2::99")));
        assertNotEquals(ClientAddress.limitKey(InetAddress.getByName("2001:db8:1:2::1")), ClientAddress.limitKey(InetAddress.getByName("2001:db8:1:3::1")));
        assertEquals("192.0.2.1", ClientAddress.limitKey(InetAddress.getByName("192.0.2.1")));
    }

    @Test
    void badTrustedProxies_nameTheVariable() {
        for (String bad : new String[] {"10.0.0.0/33", "proxy.example", "10.0.0.0/x", "2001:db8::/129"}) {
            ConfigException e = assertThrows(ConfigException.class, () -> ClientAddress.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("TRUSTED_PROXIES"), e.getMessage());
        }
        assertTrue(ClientAddress.parse("2001:db8:ffff::1").trusts(proxyV6()));
    }

    private static InetAddress proxyV6() {
        return new InetSocketAddress("2001:db8:ffff::1", 0).getAddress();
    }

    @Test
    void overlongHeaders_areNotRead() {
        String longHeader = "192.0.2.1, ".repeat(1000) + "198.51.100.7";
        assertEquals(PROXY, proxies.client(PROXY, null, longHeader));
    }
}
