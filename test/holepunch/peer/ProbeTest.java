package holepunch.peer;

import holepunch.stun.StunMessage;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProbeTest {
    static final byte[] KEY = "0123456789abcdef0123456789abcdef".getBytes();

    @Test
    void encodeParse_roundTrips() {
        byte[] wire = new Probe(Probe.Kind.PROBE, 0x1122334455667788L, 42, null).encode(KEY);
        Probe p = Probe.parse(wire, wire.length, KEY);
        assertEquals(Probe.Kind.PROBE, p.kind());
        assertEquals(0x1122334455667788L, p.pairId());
        assertEquals(42, p.counter());
        assertEquals(0x1122334455667788L, Probe.pairIdOf(wire, wire.length));
        byte[] hs = new Probe(Probe.Kind.HANDSHAKE_INIT, 1, 2, "hello".getBytes()).encode(KEY);
        assertArrayEquals("hello".getBytes(), Probe.parse(hs, hs.length, KEY).payload());
        assertNull(Probe.parse(new Probe(Probe.Kind.DATA, 1, 2, null).encode(KEY), Probe.HEADER + Probe.MAC_BYTES, KEY),
                "DATA is sealed by PathCrypto, never taken as a control datagram");
    }

    @Test
    void parse_rejectsEveryTamperedByteAWrongKeyAndTruncation() {
        byte[] wire = new Probe(Probe.Kind.PROBE_ACK, 7, 9, null).encode(KEY);
        for (int i = 0; i < wire.length; i++) {
            byte[] t = wire.clone();
            t[i] ^= 0x01;
            assertNull(Probe.parse(t, t.length, KEY), "tampered byte " + i);
        }
        byte[] other = KEY.clone();
        other[0] ^= 1;
        assertNull(Probe.parse(wire, wire.length, other));
        assertNull(Probe.parse(wire, wire.length - 1, KEY));
        assertNull(Probe.parse(Arrays.copyOf(wire, wire.length + 4), wire.length + 4, KEY), "extra bytes on a kind without a body");
    }

    @Test
    void looksLikeProbe_neverMistakesStun() {
        byte[] wire = new Probe(Probe.Kind.KEEPALIVE, 1, 1, null).encode(KEY);
        assertTrue(Probe.looksLikeProbe(ByteBuffer.wrap(wire)));
        assertFalse(StunMessage.looksLikeStun(ByteBuffer.wrap(wire)));
        assertFalse(Probe.looksLikeProbe(ByteBuffer.wrap(StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(true))));
    }
}
