package holepunch.net;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.ProtocolException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The PROXY protocol's two header forms (HAProxy's specification, §2.1 and §2.2), with its examples. */
class ProxyHeaderTest {
    private static ProxyHeader parse(byte[] b) throws ProtocolException {
        return ProxyHeader.parse(b, 0, b.length);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    void v1_theSpecificationsExamples() throws Exception {
        ProxyHeader h = parse(ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"));
        assertEquals(new ProxyHeader(1, new InetSocketAddress("192.168.0.1", 56324), 47), h, "what follows is the connection's");
        ProxyHeader v6 = parse(ascii("PROXY TCP6 2001:db8::1 2001:db8::2 40000 8080\r\n"));
        assertEquals(new InetSocketAddress("2001:db8::1", 40000), v6.source());
        // The longest line the specification allows (its own example, UNKNOWN with IPv6 fields): 107 bytes with its CRLF.
        byte[] longest = ascii("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"
                .replace("ffff:f...f:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        assertEquals(ProxyHeader.V1_MAX, longest.length);
        assertEquals(107, parse(longest).length());
        assertEquals(new InetSocketAddress("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
                parse(ascii("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ::1 65535 65535\r\n")).source());
        ProxyHeader unknown = parse(ascii("PROXY UNKNOWN ffff::1 whatever\r\n"));
        assertNull(unknown.source(), "UNKNOWN keeps the connection's own endpoints");
        assertEquals(32, unknown.length());
    }

    @Test
    void v1_incompleteIsNotYetAnError_andGarbageIsNamed() throws Exception {
        assertNull(parse(ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56")));
        assertNull(parse(ascii("PRO")));
        assertTrue(assertThrows(ProtocolException.class, () -> parse(ascii("GET / HTTP/1.1\r\n"))).getMessage().contains("PROXY header expected"));
        assertThrows(ProtocolException.class, () -> parse(ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n")), "a field missing");
        assertThrows(ProtocolException.class, () -> parse(ascii("PROXY TCP4 2001:db8::1 192.168.0.11 1 2\r\n")), "IPv6 under TCP4");
        assertThrows(ProtocolException.class, () -> parse(ascii("PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n")), "port out of range");
        assertThrows(ProtocolException.class, () -> parse(ascii("PROXY TCP4 192.168.0.1 192.168.0.11 056 443\r\n")), "leading zero");
        assertThrows(ProtocolException.class, () -> parse(ascii("PROXY TCP4 example.com 192.168.0.11 1 443\r\n")), "names are not addresses");
        assertThrows(ProtocolException.class, () -> parse(ascii("PROXY " + "x".repeat(120))), "no CRLF within 107 bytes");
    }

    @Test
    void v2_ipv4AndIpv6_localAndUnspec() throws Exception {
        // Signature, 0x21 (v2, PROXY), 0x11 (INET, STREAM), length 12, 192.168.0.1 -> 192.168.0.11, 56324 -> 443.
        byte[] v4 = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "c0a80001" + "c0a8000b" + "dc04" + "01bb");
        assertEquals(new ProxyHeader(2, new InetSocketAddress("192.168.0.1", 56324), 28), parse(v4));
        assertArrayEquals(v4, ProxyHeader.encodeV2(new InetSocketAddress("192.168.0.1", 56324), new InetSocketAddress("192.168.0.11", 443)));
        byte[] v6 = ProxyHeader.encodeV2(new InetSocketAddress("2001:db8::1", 40000), new InetSocketAddress("2001:db8::2", 8080));
        assertEquals(16 + 36, v6.length);
        assertEquals(new InetSocketAddress("2001:db8::1", 40000), parse(v6).source());
        // LOCAL (a balancer's own health check): the connection's endpoints stand; any block is skipped.
        byte[] local = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a" + "20" + "00" + "0000");
        assertEquals(new ProxyHeader(2, null, 16), parse(local));
        byte[] unspec = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a" + "21" + "00" + "0003" + "010203");
        assertEquals(new ProxyHeader(2, null, 19), parse(unspec), "AF_UNSPEC: no address, its bytes skipped");
        byte[] withTlv = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a" + "21" + "11" + "0010" + "c0a80001" + "c0a8000b" + "dc04" + "01bb"
                + "04" + "0001" + "00");       // a NOOP TLV after the addresses
        assertEquals(32, parse(withTlv).length());
    }

    @Test
    void v2_partialWaits_andABadOneIsNamed() throws Exception {
        byte[] v4 = ProxyHeader.encodeV2(new InetSocketAddress("192.0.2.1", 1), new InetSocketAddress("192.0.2.2", 2));
        for (int n = 1; n < v4.length; n++) assertNull(ProxyHeader.parse(v4, 0, n), n + " bytes");
        byte[] v1Version = v4.clone();
        v1Version[12] = 0x11;
        assertTrue(assertThrows(ProtocolException.class, () -> parse(v1Version)).getMessage().contains("version 1"));
        byte[] badCommand = v4.clone();
        badCommand[12] = 0x22;
        assertThrows(ProtocolException.class, () -> parse(badCommand));
        byte[] shortBlock = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a" + "21" + "11" + "0004" + "c0a80001");
        assertThrows(ProtocolException.class, () -> parse(shortBlock), "a block too short for INET");
        byte[] huge = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a" + "21" + "11" + "ffff");
        assertThrows(ProtocolException.class, () -> parse(huge), "larger than taken");
        byte[] badSignature = v4.clone();
        badSignature[5] = 0x0C;
        assertThrows(ProtocolException.class, () -> parse(badSignature));
    }

    @Test
    void v1_encodeAndParse_roundTrip() throws Exception {
        InetSocketAddress src = new InetSocketAddress("203.0.113.9", 51000), dst = new InetSocketAddress("198.51.100.1", 8080);
        byte[] line = ProxyHeader.encodeV1(src, dst);
        assertEquals("PROXY TCP4 203.0.113.9 198.51.100.1 51000 8080\r\n", new String(line, StandardCharsets.US_ASCII));
        assertEquals(src, parse(line).source());
    }
}
