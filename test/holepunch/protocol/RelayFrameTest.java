package holepunch.protocol;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RelayFrameTest {
    private static List<String> records(byte[] message) throws ProtocolException {
        List<String> out = new ArrayList<>();
        RelayFrame.read(ByteBuffer.wrap(message), (pair, m, off, len) -> {
            byte[] d = new byte[len];
            m.get(off, d);
            out.add(Long.toHexString(pair) + "=" + HexFormat.of().formatHex(d));
        });
        return out;
    }

    @Test
    void layout_isVersionThenPairLengthData() {
        byte[] m = RelayFrame.single(0x0102030405060708L, new byte[] {(byte) 0xAA, (byte) 0xBB});
        assertEquals("01" + "0102030405060708" + "0002" + "aabb", HexFormat.of().formatHex(m));
    }

    @Test
    void severalRecords_roundTrip() throws ProtocolException {
        ByteBuffer out = ByteBuffer.allocate(64);
        RelayFrame.begin(out);
        assertTrue(RelayFrame.append(out, 0xABCDEF0123456789L, new byte[] {1, 2, 3}, 0, 3));
        assertTrue(RelayFrame.append(out, 5, new byte[0], 0, 0));
        assertTrue(RelayFrame.append(out, -1L, ByteBuffer.wrap(new byte[] {9, 8, 7}), 1, 2));
        assertFalse(RelayFrame.append(out, 1, new byte[40], 0, 40), "a record that does not fit is not written");
        byte[] m = java.util.Arrays.copyOf(out.array(), out.position());
        assertEquals(List.of("abcdef0123456789=010203", "5=", "ffffffffffffffff=0807"), records(m));
    }

    @Test
    void malformed_isNamed() {
        assertEquals("empty relay frame", assertThrows(ProtocolException.class, () -> records(new byte[0])).getMessage());
        assertTrue(assertThrows(ProtocolException.class, () -> records(new byte[] {2, 0})).getMessage().contains("version 2"));
        assertTrue(assertThrows(ProtocolException.class, () -> records(new byte[] {1})).getMessage().contains("without a record"));
        assertTrue(assertThrows(ProtocolException.class, () -> records(new byte[] {1, 0, 0, 0})).getMessage().contains("cut short"));
        byte[] longer = HexFormat.of().parseHex("01" + "0000000000000001" + "0005" + "aabb");
        assertTrue(assertThrows(ProtocolException.class, () -> records(longer)).getMessage().contains("announces 5 bytes, 2 follow"));
        byte[] huge = HexFormat.of().parseHex("01" + "0000000000000001" + "05dd");
        assertTrue(assertThrows(ProtocolException.class, () -> records(huge)).getMessage().contains("1501 bytes"));
        assertThrows(IllegalArgumentException.class, () -> RelayFrame.single(1, new byte[1501]));
    }

    @Test
    void recordsBeforeAFault_areVisited() {
        byte[] m = HexFormat.of().parseHex("01" + "0000000000000007" + "0001" + "ee" + "00");
        List<String> seen = new ArrayList<>();
        assertThrows(ProtocolException.class, () -> RelayFrame.read(ByteBuffer.wrap(m), (p, b, o, l) -> seen.add(Long.toString(p))));
        assertEquals(List.of("7"), seen);
    }
}
