package holepunch.portmap;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NAT-PMP and PCP bytes laid out field by field as RFC 6886 §3.2/§3.3 and RFC 6887 §7.1/§7.2/§11.1
 * draw them, and the routing-table parse that finds the gateway.
 */
class PortMapCodecTest {
    static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    @Test
    void natPmp_requests_areLaidOutAsRfc6886Draws() {
        assertArrayEquals(hex("00 00"), NatPmp.externalAddressRequest());
        // version 0, opcode 1 (UDP), reserved, internal port 4000, suggested port 4000, lifetime 7200
        assertArrayEquals(hex("00 01 0000 0fa0 0fa0 00001c20"), NatPmp.mapRequest(4000, 4000, 7200));
        assertArrayEquals(hex("00 01 0000 0fa0 0000 00000000"), NatPmp.mapRequest(4000, 0, 0), "deletion: port and lifetime 0 (§3.4)");
    }

    @Test
    void natPmp_answers_areParsed_andMalformedOnesRefusedWithTheReason() throws Exception {
        NatPmp.ExternalAddress ext = NatPmp.parseExternalAddress(hex("00 80 0000 0000002a cb00710c"), 12);
        assertEquals(0, ext.result());
        assertEquals(42, ext.epochSeconds());
        assertEquals(InetAddress.getByName("203.0.113.12"), ext.address(), "a documentation range is a lab's public address: taken");

        NatPmp.Mapped m = NatPmp.parseMapped(hex("00 81 0000 00000010 0fa0 d431 00001c20"), 16);
        assertEquals(4000, m.internalPort());
        assertEquals(54321, m.externalPort());
        assertEquals(7200, m.lifetimeSeconds());

        NatPmp.Mapped refused = NatPmp.parseMapped(hex("00 81 0002 00000010 0fa0 0000 00000000"), 16);
        assertEquals("2 (not authorized or refused)", NatPmp.describe(refused.result()));

        PortMapException shortAnswer = assertThrows(PortMapException.class, () -> NatPmp.parseMapped(hex("00 81 0003"), 4));
        assertTrue(shortAnswer.getMessage().contains("3 (network failure)"), shortAnswer.getMessage());
        assertThrows(PortMapException.class, () -> NatPmp.parseMapped(hex("00 80 0000 00000010 0fa0 d431 00001c20"), 16), "wrong opcode");
        assertThrows(PortMapException.class, () -> NatPmp.parseMapped(hex("01 81 0000 00000010 0fa0 d431 00001c20"), 16), "wrong version");
        assertThrows(PortMapException.class, () -> NatPmp.parseExternalAddress(hex("00 80 00"), 3), "too short to carry a result");
    }

    @Test
    void pcp_mapRequest_isLaidOutAsRfc6887Draws() throws Exception {
        byte[] nonce = hex("0102030405060708090a0b0c");
        byte[] r = Pcp.mapRequest(InetAddress.getByName("10.2.0.2"), nonce, 4000, 4000, 7200);
        assertEquals(60, r.length);
        assertArrayEquals(hex("02 01 0000 00001c20"), java.util.Arrays.copyOfRange(r, 0, 8), "version 2, R=0 MAP, lifetime");
        assertArrayEquals(hex("00000000000000000000ffff 0a020002"), java.util.Arrays.copyOfRange(r, 8, 24), "client IP, IPv4-mapped (§5)");
        assertArrayEquals(nonce, java.util.Arrays.copyOfRange(r, 24, 36));
        assertArrayEquals(hex("11 000000 0fa0 0fa0"), java.util.Arrays.copyOfRange(r, 36, 44), "UDP, reserved, internal and suggested port");
        assertArrayEquals(hex("00000000000000000000ffff 00000000"), java.util.Arrays.copyOfRange(r, 44, 60), "no suggested address: ::ffff:0.0.0.0");
    }

    static byte[] pcpAnswer(int result, byte[] nonce, int internal, int external, String ip) throws Exception {
        return ByteBuffer.allocate(60).put((byte) 2).put((byte) 0x81).put((byte) 0).put((byte) result).putInt(7200).putInt(99)
                .put(new byte[12]).put(nonce).put((byte) 17).put(new byte[3]).putShort((short) internal).putShort((short) external)
                .put(Pcp.mapped(InetAddress.getByName(ip))).array();
    }

    @Test
    void pcp_answers_areParsed_andAnAnswerFromANatPmpServerSaysSo() throws Exception {
        byte[] nonce = hex("0102030405060708090a0b0c");
        Pcp.MapResponse r = Pcp.parseMapResponse(pcpAnswer(0, nonce, 4000, 61000, "11.0.0.12"), 60);
        assertEquals(0, r.result());
        assertEquals(7200, r.lifetimeSeconds());
        assertEquals(61000, r.externalPort());
        assertEquals(InetAddress.getByName("11.0.0.12"), r.externalAddress());
        assertArrayEquals(nonce, r.nonce());
        assertEquals("8 (NO_RESOURCES)", Pcp.describe(Pcp.parseMapResponse(pcpAnswer(8, nonce, 4000, 0, "0.0.0.0"), 60).result()));

        PortMapException natPmp = assertThrows(PortMapException.class, () -> Pcp.parseMapResponse(hex("00 81 0001"), 4));
        assertTrue(natPmp.getMessage().contains("speaks NAT-PMP"), natPmp.getMessage());
        assertThrows(PortMapException.class, () -> Pcp.parseMapResponse(pcpAnswer(0, nonce, 4000, 1, "1.2.3.4"), 58), "not a multiple of 4");
        byte[] tcp = pcpAnswer(0, nonce, 4000, 1, "1.2.3.4");
        tcp[36] = 6;
        assertThrows(PortMapException.class, () -> Pcp.parseMapResponse(tcp, 60), "a mapping for another protocol");
    }

    @Test
    void gateway_isTheDefaultRoutesWithTheLowestMetric() throws Exception {
        List<String> table = List.of(
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
                "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
                "eth0\t00000000\t0100020A\t0003\t0\t0\t100\t00000000\t0\t0\t0",
                "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0");
        assertEquals(InetAddress.getByName("10.2.0.1"), Gateway.parse(table));
        assertNull(Gateway.parse(table.subList(0, 2)), "no default route");
        assertNull(Gateway.parse(List.of("garbage", "eth0 zz")));
    }
}
