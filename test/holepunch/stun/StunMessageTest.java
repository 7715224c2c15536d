package holepunch.stun;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The codec against the RFC 5769 sample messages, and every malformed case it must refuse. */
class StunMessageTest {
    static byte[] hex(String... lines) {
        return HexFormat.of().parseHex(String.join("", lines).replace(" ", ""));
    }

    static final byte[] TID = hex("b7e7a701 bc34d686 fa87dfae");

    /** RFC 5769 §2.1 sample request (username "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt"). */
    static final byte[] SAMPLE_REQUEST = hex(
            "0001 0058",                                  // Request type and message length
            "2112a442",                                   // Magic cookie
            "b7e7a701 bc34d686 fa87dfae",                 // Transaction ID
            "8022 0010",                                  // SOFTWARE attribute header
            "5354554e 20746573 7420636c 69656e74",        //   "STUN test client"
            "0024 0004",                                  // PRIORITY attribute header
            "6e0001ff",                                   //   ICE priority value
            "8029 0008",                                  // ICE-CONTROLLED attribute header
            "932ff9b1 51263b36",                          //   pseudo-random tie breaker
            "0006 0009",                                  // USERNAME attribute header
            "6576746a 3a683676 59202020",                 //   "evtj:h6vY" and 3 bytes of padding
            "0008 0014",                                  // MESSAGE-INTEGRITY attribute header
            "9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2",   // HMAC-SHA1
            "8028 0004",                                  // FINGERPRINT attribute header
            "e57a3bcf");                                  //   CRC32 fingerprint

    /** RFC 5769 §2.2 sample IPv4 response: 192.0.2.1 port 32853. */
    static final byte[] SAMPLE_IPV4_RESPONSE = hex(
            "0101 003c", "2112a442", "b7e7a701 bc34d686 fa87dfae",
            "8022 000b", "74657374 20766563 746f7220",   // SOFTWARE "test vector" and 1 byte of padding
            "0020 0008", "0001 a147 e112a643",            // XOR-MAPPED-ADDRESS: IPv4, x-port, x-address
            "0008 0014", "2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7",
            "8028 0004", "c07d4c96");

    /** RFC 5769 §2.3 sample IPv6 response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
    static final byte[] SAMPLE_IPV6_RESPONSE = hex(
            "0101 0048", "2112a442", "b7e7a701 bc34d686 fa87dfae",
            "8022 000b", "74657374 20766563 746f7220",
            "0020 0014", "0002 a147", "0113a9fa a5d3f179 bc25f4b5 bed2b9d9",
            "0008 0014", "a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41",
            "8028 0004", "c8fb0b4c");

    @Test
    void parse_rfc5769SampleRequest() throws StunException {
        StunMessage m = StunMessage.parse(SAMPLE_REQUEST);
        assertEquals(StunClass.REQUEST, m.messageClass());
        assertEquals(StunMessage.BINDING, m.method());
        assertArrayEquals(TID, m.transactionId());
        assertEquals("STUN test client", m.software());
        assertEquals("evtj:h6vY", new String(m.attribute(AttributeType.USERNAME), StandardCharsets.UTF_8));
        assertArrayEquals(hex("6e0001ff"), m.attribute(AttributeType.PRIORITY));
        assertArrayEquals(hex("932ff9b1 51263b36"), m.attribute(AttributeType.ICE_CONTROLLED));
        assertEquals(6, m.attributes().size());
    }

    @Test
    void parse_rfc5769SampleIpv4Response() throws Exception {
        StunMessage m = StunMessage.parse(SAMPLE_IPV4_RESPONSE);
        assertEquals(StunClass.SUCCESS_RESPONSE, m.messageClass());
        assertEquals("test vector", m.software());
        assertEquals(new InetSocketAddress(InetAddress.getByName("192.0.2.1"), 32853), m.mappedAddress());
    }

    @Test
    void parse_rfc5769SampleIpv6Response() throws Exception {
        StunMessage m = StunMessage.parse(SAMPLE_IPV6_RESPONSE);
        assertEquals(new InetSocketAddress(InetAddress.getByName("2001:db8:1234:5678:11:2233:4455:6677"), 32853), m.mappedAddress());
    }

    @Test
    void encode_reproducesTheRfc5769Ipv4ResponseUpToMessageIntegrity() throws Exception {
        // The same attributes, re-encoded (our padding is zeros, the RFC's is spaces), then the fingerprint.
        StunMessage parsed = StunMessage.parse(SAMPLE_IPV4_RESPONSE);
        List<StunAttribute> withoutFingerprint = parsed.attributes().subList(0, 3);
        StunMessage again = new StunMessage(StunClass.SUCCESS_RESPONSE, StunMessage.BINDING, TID, withoutFingerprint);
        byte[] wire = again.encode(true);
        assertEquals(SAMPLE_IPV4_RESPONSE.length, wire.length);
        assertEquals(parsed.mappedAddress(), StunMessage.parse(wire).mappedAddress());
        byte[] expectedXorMapped = java.util.Arrays.copyOfRange(SAMPLE_IPV4_RESPONSE, 36, 48);
        assertArrayEquals(expectedXorMapped, java.util.Arrays.copyOfRange(wire, 36, 48));
    }

    @Test
    void encode_messageTypeBitsFollowTheRfcLayout() {
        assertEquals(0x0001, type(StunClass.REQUEST));
        assertEquals(0x0011, type(StunClass.INDICATION));
        assertEquals(0x0101, type(StunClass.SUCCESS_RESPONSE));
        assertEquals(0x0111, type(StunClass.ERROR_RESPONSE));
    }

    private static int type(StunClass c) {
        byte[] b = new StunMessage(c, StunMessage.BINDING, TID, List.of()).encode(false);
        return ((b[0] & 0xFF) << 8) | (b[1] & 0xFF);
    }

    @Test
    void xorAddress_roundTripsIpv4AndIpv6() throws Exception {
        for (String ip : new String[] {"203.0.113.9", "2001:db8::7"}) {
            InetSocketAddress a = new InetSocketAddress(InetAddress.getByName(ip), 61000);
            byte[] v = StunAddress.encode(a, true, TID);
            assertEquals(a, StunAddress.decode(v, true, TID));
        }
    }

    @Test
    void parse_classicRfc3489RequestHas128BitTransactionId() throws StunException {
        byte[] classic = hex("0001 0000", "0102030405060708090a0b0c0d0e0f10");
        StunMessage m = StunMessage.parse(classic);
        assertTrue(m.isClassic());
        assertEquals(16, m.transactionId().length);
        assertArrayEquals(classic, m.encode(false));
    }

    @Test
    void parse_unknownOptionalAttributeIsKeptOpaque() throws StunException {
        byte[] m = new StunMessage(StunClass.REQUEST, StunMessage.BINDING, TID,
                List.of(new StunAttribute(0xC001, new byte[] {1, 2, 3}))).encode(true);
        StunMessage parsed = StunMessage.parse(m);
        assertArrayEquals(new byte[] {1, 2, 3}, parsed.attributes().get(0).value());
    }

    @Test
    void parse_unknownRequiredAttributeIsRejectedWith420AndItsType() {
        byte[] m = new StunMessage(StunClass.REQUEST, StunMessage.BINDING, TID,
                List.of(new StunAttribute(0x7777, new byte[4]))).encode(true);
        StunException e = assertThrows(StunException.class, () -> StunMessage.parse(m));
        assertEquals(ErrorCode.UNKNOWN_ATTRIBUTE, e.code());
        assertEquals(List.of(0x7777), e.unknownAttributes());
        assertArrayEquals(TID, e.header().transactionId());
    }

    @Test
    void parse_attributesAfterMessageIntegrityAreIgnoredExceptFingerprint() throws StunException {
        byte[] m = new StunMessage(StunClass.REQUEST, StunMessage.BINDING, TID, List.of(
                new StunAttribute(AttributeType.MESSAGE_INTEGRITY, new byte[20]),
                new StunAttribute(AttributeType.SOFTWARE, "late".getBytes()))).encode(true);
        StunMessage parsed = StunMessage.parse(m);
        assertNull(parsed.software());
        assertEquals(2, parsed.attributes().size());     // MESSAGE-INTEGRITY and FINGERPRINT
    }

    private static void rejects(String why, byte[] datagram) {
        assertThrows(StunException.class, () -> StunMessage.parse(datagram), why);
    }

    @Test
    void parse_rejectsMalformedMessages() {
        rejects("truncated header", java.util.Arrays.copyOf(SAMPLE_REQUEST, 19));
        rejects("first bits set", patch(SAMPLE_REQUEST, 0, 0xC0));
        rejects("length not a multiple of 4", patch(SAMPLE_REQUEST, 3, 0x57));
        rejects("length beyond the datagram", patch(SAMPLE_REQUEST, 3, 0x5C));
        rejects("fingerprint mismatch", patch(SAMPLE_REQUEST, 30, 'X'));
        rejects("attribute overrun", patch(SAMPLE_IPV4_RESPONSE, 23, 0x40));
        // The FINGERPRINT is made again after each patch, so only the address rule can refuse these.
        byte[] family3 = refingerprinted(patch(SAMPLE_IPV4_RESPONSE, 41, 0x03));
        byte[] v6In8 = refingerprinted(patch(SAMPLE_IPV4_RESPONSE, 41, 0x02));
        rejects("bad address family", family3);
        rejects("IPv6 family in 8 bytes", v6In8);
        assertEquals(SAMPLE_IPV4_RESPONSE.length, refingerprinted(SAMPLE_IPV4_RESPONSE).length);
        org.junit.jupiter.api.Assertions.assertArrayEquals(SAMPLE_IPV4_RESPONSE, refingerprinted(SAMPLE_IPV4_RESPONSE),
                "refingerprinting an intact message changes nothing (so the patched ones differ only where patched)");
        byte[] afterFingerprint = java.util.Arrays.copyOf(SAMPLE_REQUEST, SAMPLE_REQUEST.length + 8);
        ByteBuffer.wrap(afterFingerprint).putShort(2, (short) (0x58 + 8)).putInt(SAMPLE_REQUEST.length, 0x80220004);
        rejects("attribute after FINGERPRINT", afterFingerprint);
        byte[] badError = new StunMessage(StunClass.ERROR_RESPONSE, StunMessage.BINDING, TID,
                List.of(new StunAttribute(AttributeType.ERROR_CODE, hex("00000763")))).encode(false);
        rejects("ERROR-CODE class 7", badError);
        byte[] shortMapped = new StunMessage(StunClass.SUCCESS_RESPONSE, StunMessage.BINDING, TID,
                List.of(new StunAttribute(AttributeType.XOR_MAPPED_ADDRESS, new byte[6]))).encode(false);
        rejects("XOR-MAPPED-ADDRESS of 6 bytes", shortMapped);
    }

    @Test
    void parse_everyTruncationAndRandomMutationFailsOnlyWithStunException() {
        Random random = new Random(5769);
        for (byte[] vector : List.of(SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE)) {
            for (int n = 0; n < vector.length; n++) {
                int len = n;
                assertThrows(StunException.class, () -> StunMessage.parse(vector, 0, len), "truncated to " + n);
            }
            for (int i = 0; i < 20_000; i++) {
                byte[] m = vector.clone();
                for (int k = random.nextInt(4); k >= 0; k--) m[random.nextInt(m.length)] = (byte) random.nextInt(256);
                try {
                    StunMessage.parse(m);
                } catch (StunException expected) {
                    // refusing is fine; any other exception fails the test
                }
            }
        }
    }

    @Test
    void looksLikeStun_tellsStunFromOtherDatagrams() {
        assertTrue(StunMessage.looksLikeStun(ByteBuffer.wrap(SAMPLE_REQUEST)));
        assertFalse(StunMessage.looksLikeStun(ByteBuffer.wrap("hello, peer".getBytes())));
        assertFalse(StunMessage.looksLikeStun(ByteBuffer.wrap(java.util.Arrays.copyOf(SAMPLE_REQUEST, 40))));
    }

    /** A copy whose trailing FINGERPRINT is computed anew (RFC 8489 §14.7). */
    static byte[] refingerprinted(byte[] message) {
        byte[] m = message.clone();
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(m, 0, m.length - 8);
        ByteBuffer.wrap(m).putInt(m.length - 4, (int) crc.getValue() ^ 0x5354554e);
        return m;
    }

    private static byte[] patch(byte[] src, int index, int value) {
        byte[] b = src.clone();
        b[index] = (byte) value;
        return b;
    }
}
