package holepunch.peer;

import holepunch.metrics.Metrics;
import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Byte counters per peer stay bounded however many peers come and go, and count right while kept. */
class PathBytesTest {

    @Test
    void manyPeers_keepTheSeriesOfTheMostRecentOnly_andCountEachPathAndDirection() {
        Metrics m = new Metrics();
        m.counterFamily(PathBytes.NAME, "Application bytes.");
        PathBytes bytes = new PathBytes(m);
        bytes.add("first", true, true, 100);
        bytes.add("first", true, true, 20);
        bytes.add("first", false, false, 7);
        assertEquals(120, m.value(PathBytes.NAME, "peer", "first", "path", "direct", "direction", "sent"));
        assertEquals(7, m.value(PathBytes.NAME, "peer", "first", "path", "relay", "direction", "received"));
        assertEquals(0, m.value(PathBytes.NAME, "peer", "first", "path", "relay", "direction", "sent"));

        // Peers introduced one after another (an attacker's ids, say): each new one would add series.
        int peers = 3 * PathBytes.MAX_PEERS;
        long steady = 0;
        for (int i = 0; i < peers; i++) {
            bytes.add("p" + i, i % 2 == 0, true, 1);
            if (i % 10 == 0) {
                bytes.add("first", true, false, 1);       // a peer in steady use stays counted
                steady++;
            }
        }
        String text = m.render();
        assertEquals(PathBytes.MAX_PEERS, distinctPeers(text), "series for at most MAX_PEERS peers");
        assertEquals(0, m.value(PathBytes.NAME, "peer", "p0", "path", "direct", "direction", "sent"), "the oldest went");
        assertEquals(1, m.value(PathBytes.NAME, "peer", "p" + (peers - 1), "path", "relay", "direction", "sent"));
        assertEquals(120, m.value(PathBytes.NAME, "peer", "first", "path", "direct", "direction", "sent"));
        assertEquals(steady, m.value(PathBytes.NAME, "peer", "first", "path", "direct", "direction", "received"));
    }

    private static long distinctPeers(String exposition) {
        Matcher peer = Pattern.compile("(?m)^" + PathBytes.NAME + "\\{peer=\"([^\"]*)\"").matcher(exposition);
        return peer.results().map(r -> r.group(1)).distinct().count();
    }
}
