package holepunch.stun;

import holepunch.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StunServerTest {
    static StunServer server;
    static final InetSocketAddress CLIENT = new InetSocketAddress(InetAddress.getLoopbackAddress(), 40404);

    @BeforeAll
    static void start() throws Exception {
        server = StunServer.start(new InetSocketAddress("127.0.0.1", 0), 0);
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void respond_bindingRequestGetsBothMappedAddressesSoftwareAndFingerprint() throws Exception {
        byte[] tid = StunMessage.newTransactionId();
        StunMessage r = StunMessage.parse(StunServer.respond(StunMessage.bindingRequest(tid).encode(true), 28, CLIENT));
        assertEquals(StunClass.SUCCESS_RESPONSE, r.messageClass());
        assertArrayEquals(tid, r.transactionId());
        assertEquals(CLIENT, r.address(AttributeType.XOR_MAPPED_ADDRESS));
        assertEquals(CLIENT, r.address(AttributeType.MAPPED_ADDRESS));
        assertEquals("holepunch", r.software());
        assertNotNull(r.attribute(AttributeType.FINGERPRINT));
    }

    @Test
    void respond_classicRequestGetsMappedAddressOnly() throws Exception {
        byte[] classic = StunMessageTest.hex("0001 0000", "00112233445566778899aabbccddeeff");
        StunMessage r = StunMessage.parse(StunServer.respond(classic, classic.length, CLIENT));
        assertTrue(r.isClassic());
        assertEquals(1, r.attributes().size());
        assertEquals(CLIENT, r.mappedAddress());
    }

    @Test
    void respond_unknownRequiredAttributeGets420ListingIt() throws Exception {
        byte[] req = new StunMessage(StunClass.REQUEST, StunMessage.BINDING, StunMessage.newTransactionId(),
                List.of(new StunAttribute(0x0777, new byte[4]))).encode(true);
        StunMessage r = StunMessage.parse(StunServer.respond(req, req.length, CLIENT));
        assertEquals(StunClass.ERROR_RESPONSE, r.messageClass());
        assertTrue(r.errorCode().startsWith("420"));
        assertArrayEquals(new byte[] {0x07, 0x77}, r.attribute(AttributeType.UNKNOWN_ATTRIBUTES));
    }

    /** RFC 5780 §7.2 with one address: change-port from the second port; a change-IP answered as asked, or 420 when strict. */
    @Test
    void respond_changeRequest_portFromTheSecondPort_ipAsAskedOr420WhenStrict() throws Exception {
        byte[] plain = changeRequest(0);
        assertEquals(StunClass.SUCCESS_RESPONSE, StunMessage.parse(StunServer.respond(plain, plain.length, CLIENT)).messageClass());
        byte[] both = changeRequest(6), port = changeRequest(2);
        StunServer.Reply r = StunServer.respond(both, both.length, CLIENT, null, true, StunServer.ChangePolicy.ANSWER);
        assertEquals(StunClass.SUCCESS_RESPONSE, StunMessage.parse(r.bytes()).messageClass());
        assertEquals(CLIENT, StunMessage.parse(r.bytes()).mappedAddress());
        assertFalse(r.fromOtherPort(), "no second address: the change of IP is answered from the address asked");
        assertTrue(StunServer.respond(port, port.length, CLIENT, null, true, StunServer.ChangePolicy.ANSWER).fromOtherPort());
        assertTrue(StunServer.respond(port, port.length, CLIENT, null, true, StunServer.ChangePolicy.STRICT).fromOtherPort());
        assertFalse(StunServer.respond(port, port.length, CLIENT, null, false, StunServer.ChangePolicy.ANSWER).fromOtherPort());
        for (byte[] req : List.of(both, port)) {
            StunMessage strict = StunMessage.parse(StunServer.respond(req, req.length, CLIENT, null, false, StunServer.ChangePolicy.STRICT).bytes());
            assertTrue(strict.errorCode().startsWith("420"), strict.errorCode());
            assertArrayEquals(new byte[] {0x00, 0x03}, strict.attribute(AttributeType.UNKNOWN_ATTRIBUTES));
        }
        assertThrows(IllegalArgumentException.class, () -> StunServer.ChangePolicy.parse("sometimes"));
    }

    private static byte[] changeRequest(int flags) {
        return new StunMessage(StunClass.REQUEST, StunMessage.BINDING, StunMessage.newTransactionId(),
                List.of(new StunAttribute(0x0003, new byte[] {0, 0, 0, (byte) flags}))).encode(true);
    }

    @Test
    void respond_otherMethodGets400() throws Exception {
        byte[] req = new StunMessage(StunClass.REQUEST, 0x003, StunMessage.newTransactionId(), List.of()).encode(true);
        assertTrue(StunMessage.parse(StunServer.respond(req, req.length, CLIENT)).errorCode().startsWith("400"));
    }

    @Test
    void respond_ignoresMalformedIndicationsAndResponses() {
        byte[] garbage = "GET / HTTP/1.1\r\n\r\n".getBytes();
        assertNull(StunServer.respond(garbage, garbage.length, CLIENT));
        byte[] indication = new StunMessage(StunClass.INDICATION, StunMessage.BINDING, StunMessage.newTransactionId(), List.of()).encode(true);
        assertNull(StunServer.respond(indication, indication.length, CLIENT));
        byte[] response = StunServer.respond(StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(false), 20, CLIENT);
        assertNull(StunServer.respond(response, response.length, CLIENT), "no reflection loops between servers");
    }

    @Test
    void sourceLimiter_holdsEachSourceToItsRateAndForgetsIdleOnes() throws Exception {
        SourceLimiter limiter = new SourceLimiter(10, 3);
        InetAddress a = InetAddress.getByName("192.0.2.1");
        int allowed = 0;
        for (int i = 0; i < 100; i++) if (limiter.allow(a, 0)) allowed++;
        assertEquals(20, allowed, "burst of twice the rate");
        assertTrue(limiter.allow(a, 100_000_000L), "refilled after 100 ms");
        assertFalse(limiter.allow(a, 100_000_000L));
        for (int i = 2; i < 10; i++) limiter.allow(InetAddress.getByName("192.0.2." + i), 60_000_000_000L);
        assertTrue(limiter.tracked() <= 3, "bounded table");
    }

    @Test
    void overUdp_answersFromItsSocket() throws Exception {
        try (DatagramChannel ch = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            byte[] tid = StunMessage.newTransactionId();
            InetSocketAddress to = new InetSocketAddress("127.0.0.1", server.port());
            ch.send(ByteBuffer.wrap(StunMessage.bindingRequest(tid).encode(true)), to);
            ch.socket().setSoTimeout(5000);
            byte[] buf = new byte[1500];
            java.net.DatagramPacket p = new java.net.DatagramPacket(buf, buf.length);
            ch.socket().receive(p);
            StunMessage r = StunMessage.parse(buf, 0, p.getLength());
            assertEquals(ch.getLocalAddress(), r.mappedAddress());
        }
    }

    @Test
    @org.junit.jupiter.api.Tag("slow")
    void interop_coturnStunClientReadsItsMapping() throws Exception {
        Tools.require("turnutils_stunclient", "coturn");
        String out = Tools.run(20, List.of("turnutils_stunclient", "-p", String.valueOf(server.port()), "127.0.0.1"));
        Matcher m = Pattern.compile("UDP reflexive addr: 127\\.0\\.0\\.1:(\\d+)").matcher(out);
        assertTrue(m.find(), "coturn's client printed no mapping:\n" + out);
        int port = Integer.parseInt(m.group(1));
        assertTrue(port > 0 && port < 65536);
    }

    @Test
    @org.junit.jupiter.api.Tag("slow")
    void interop_aioiceReadsTheMappingOfItsOwnSocket() throws Exception {
        String script = """
                import asyncio, sys
                from aioice import stun
                async def main(port):
                    loop = asyncio.get_running_loop()
                    got = loop.create_future()
                    class P(asyncio.DatagramProtocol):
                        def datagram_received(self, data, addr):
                            got.set_result(stun.parse_message(data))
                    transport, _ = await loop.create_datagram_endpoint(P, local_addr=("127.0.0.1", 0))
                    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
                    transport.sendto(bytes(request), ("127.0.0.1", port))
                    response = await asyncio.wait_for(got, 5)
                    assert response.transaction_id == request.transaction_id
                    ip, mapped_port = response.attributes["XOR-MAPPED-ADDRESS"]
                    print(transport.get_extra_info("sockname")[1], ip, mapped_port)
                asyncio.run(main(int(sys.argv[1])))
                """;
        String out = Tools.run(20, List.of("/usr/bin/python3", "-c", script, String.valueOf(server.port()))).trim();
        String[] f = out.split("\\s+");
        assertEquals(3, f.length, out);
        assertEquals("127.0.0.1", f[1]);
        assertEquals(f[0], f[2], "aioice must read the mapping of the very socket it sent from");
    }

    /** RFC 5780 §7.2: answers on two ports, each answer naming the other in OTHER-ADDRESS. */
    @Test
    void twoPorts_eachAnswerNamesTheOther() throws Exception {
        try (StunServer two = StunServer.start(new InetSocketAddress("127.0.0.1", 0), 0, 0);
             java.net.DatagramSocket client = new java.net.DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            client.setSoTimeout(5000);
            int[] ports = {two.port(), two.otherPort()};
            org.junit.jupiter.api.Assertions.assertNotEquals(0, two.otherPort());
            for (int i = 0; i < 2; i++) {
                byte[] req = StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(true);
                client.send(new java.net.DatagramPacket(req, req.length, new InetSocketAddress("127.0.0.1", ports[i])));
                java.net.DatagramPacket p = new java.net.DatagramPacket(new byte[1500], 1500);
                client.receive(p);
                StunMessage r = StunMessage.parse(java.util.Arrays.copyOf(p.getData(), p.getLength()));
                assertEquals(new InetSocketAddress("127.0.0.1", ports[1 - i]), r.address(AttributeType.OTHER_ADDRESS), "answer from port " + ports[i]);
                assertEquals(new InetSocketAddress("127.0.0.1", client.getLocalPort()), r.mappedAddress());
            }
        }
        try (StunServer one = StunServer.start(new InetSocketAddress("127.0.0.1", 0), 0)) {
            byte[] tid = StunMessage.newTransactionId();
            assertEquals(null, StunMessage.parse(StunServer.respond(StunMessage.bindingRequest(tid).encode(true), 28, CLIENT))
                    .attribute(AttributeType.OTHER_ADDRESS), "no second port: no OTHER-ADDRESS");
            assertEquals(0, one.otherPort());
        }
    }
}
