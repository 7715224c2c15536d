package holepunch.websocket;

import holepunch.testing.RawWebSocket;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The reader fed every split of its input must report exactly what it reports for the whole. */
class FrameReaderTest {

    /** Records callbacks as text; consecutive payload chunks are merged, as their cut depends on the split. */
    static final class Recorder implements FrameReader.Consumer {
        final List<String> events = new ArrayList<>();
        private final ByteArrayOutputStream payload = new ByteArrayOutputStream();

        @Override public void fin(boolean fin) { events.add("fin=" + fin); }
        @Override public void rsv(int bits) { events.add("rsv=" + bits); }
        @Override public void opcode(Opcode opcode) { events.add("opcode=" + opcode); }
        @Override public void payloadLen(long length, int extendedBytes) { events.add("len=" + length + "/" + extendedBytes); }
        private int key;

        @Override public void mask(boolean masked) { events.add("mask=" + masked); key = 0; }
        @Override public void maskingKey(int key) { this.key = key; }

        /** Unmasks (RFC 6455 §5.3) so the recording shows the application data. */
        @Override
        public void payloadData(ByteBuffer data) {
            while (data.hasRemaining()) {
                int shift = 24 - 8 * (payload.size() & 3);
                payload.write(data.get() ^ (key >>> shift));
            }
        }

        @Override
        public void endFrame() {
            events.add("data=" + HexFormat.of().formatHex(payload.toByteArray()));
            payload.reset();
            events.add("end");
        }
    }

    private static byte[] input() {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.writeBytes(RawWebSocket.frame(0x1, false, "Hel".getBytes()));                 // 7-bit length, masked
        all.writeBytes(RawWebSocket.frame(0x9, true, new byte[] {1, 2}));                 // control inside a message
        all.writeBytes(RawWebSocket.frame(0x0, true, "lo".getBytes()));
        all.writeBytes(RawWebSocket.frame(0x2, true, new byte[130]));                     // 16-bit length
        all.writeBytes(RawWebSocket.frame(0x1, true, "abc".getBytes(), true, 8, 0));      // 64-bit (non-minimal)
        all.writeBytes(RawWebSocket.frame(0xA, true, new byte[] {7}, false, -1, 5));      // unmasked, RSV bits
        all.writeBytes(RawWebSocket.frame(0x1, true, new byte[0]));                       // empty payload
        return all.toByteArray();
    }

    private static List<String> readWhole(byte[] in) throws WebSocketException {
        Recorder r = new Recorder();
        new FrameReader().read(ByteBuffer.wrap(in), r);
        return r.events;
    }

    @Test
    void read_wholeInputReportsEveryFieldInOrder() throws WebSocketException {
        List<String> e = readWhole(input());
        assertEquals(List.of("fin=false", "rsv=0", "opcode=TEXT", "mask=true", "len=3/0"), e.subList(0, 5));
        assertEquals("data=48656c", e.get(5));
        assertEquals("len=130/2", e.get(e.indexOf("opcode=BINARY") + 2));
        int binary = e.indexOf("opcode=BINARY");
        assertEquals("len=3/8", e.get(binary + e.subList(binary, e.size()).indexOf("opcode=TEXT") + 2));
        assertEquals("rsv=5", e.get(e.indexOf("opcode=PONG") - 1));
        assertEquals("mask=false", e.get(e.indexOf("opcode=PONG") + 1));
        assertEquals(7, e.stream().filter("end"::equals).count());
    }

    @Test
    void read_everySingleSplitGivesTheSameEvents() throws WebSocketException {
        byte[] in = input();
        List<String> expected = readWhole(in);
        for (int cut = 0; cut <= in.length; cut++) {
            Recorder r = new Recorder();
            FrameReader reader = new FrameReader();
            ByteBuffer a = ByteBuffer.wrap(in, 0, cut);
            reader.read(a, r);
            assertEquals(0, a.remaining(), "reader must consume all it is given");
            reader.read(ByteBuffer.wrap(in, cut, in.length - cut), r);
            assertEquals(expected, r.events, "split at " + cut);
        }
    }

    @Test
    void read_everyPairOfSplitsOfTheHeadersGivesTheSameEvents() throws WebSocketException {
        byte[] in = input();
        List<String> expected = readWhole(in);
        int limit = Math.min(in.length, 60);
        for (int i = 0; i <= limit; i++) {
            for (int j = i; j <= limit; j++) {
                Recorder r = new Recorder();
                FrameReader reader = new FrameReader();
                reader.read(ByteBuffer.wrap(in, 0, i), r);
                reader.read(ByteBuffer.wrap(in, i, j - i), r);
                reader.read(ByteBuffer.wrap(in, j, in.length - j), r);
                assertEquals(expected, r.events, "splits at " + i + " and " + j);
            }
        }
    }

    @Test
    void read_oneByteAtATimeGivesTheSameEvents() throws WebSocketException {
        byte[] in = input();
        Recorder r = new Recorder();
        FrameReader reader = new FrameReader();
        for (byte b : in) reader.read(ByteBuffer.wrap(new byte[] {b}), r);
        assertEquals(readWhole(in), r.events);
    }
}
