package holepunch.rendezvous;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RelayMeterTest {
    static final long MS = 1_000_000L;

    @Test
    void onePair_getsItsRateAndABurstOfTwice() {
        RelayMeter m = new RelayMeter(10_000, 1_000_000, 0);
        RelayMeter.Pair p = m.newPair(0);
        int passed = 0;
        for (int i = 0; i < 100; i++) if (m.take(p, 1000, 0) == RelayMeter.Verdict.OK) passed++;
        assertEquals(20, passed, "the burst: two seconds' worth");
        assertEquals(RelayMeter.Verdict.PAIR_RATE, m.take(p, 1000, 0));
        assertEquals(RelayMeter.Verdict.OK, m.take(p, 1000, 100 * MS), "100 ms later, 1,000 bytes more");
    }

    /** A pair far over its share loses its excess; one within its share keeps every byte. */
    @Test
    void total_isSharedFairly() {
        RelayMeter m = new RelayMeter(1_000_000, 100_000, 0);
        RelayMeter.Pair greedy = m.newPair(0);
        RelayMeter.Pair modest = m.newPair(0);
        long greedySent = 0, modestSent = 0, modestOffered = 0;
        for (long t = 0; t < 10_000 * MS; t += MS) {             // 10 s in 1 ms steps
            for (int i = 0; i < 10; i++) if (m.take(greedy, 1000, t) == RelayMeter.Verdict.OK) greedySent += 1000;   // 10 MB/s offered
            if (t % (25 * MS) == 0) {                           // 40 kB/s offered
                modestOffered += 1000;
                if (m.take(modest, 1000, t) == RelayMeter.Verdict.OK) modestSent += 1000;
            }
        }
        assertTrue(modestSent >= modestOffered * 0.99, "the modest pair kept its rate: " + modestSent + " of " + modestOffered);
        assertTrue(greedySent + modestSent <= 100_000 * 10 + 200_000, "the total holds (its rate, and one burst): " + (greedySent + modestSent));
        assertTrue(greedySent >= 500_000, "the greedy pair still gets the rest of the total: " + greedySent);
        assertEquals(RelayMeter.Verdict.SHARE, m.take(greedy, 1000, 10_000 * MS), "its drops are for the share, not its own rate");
    }

    @Test
    void aPairAlone_getsTheWholeTotalAgain() {
        RelayMeter m = new RelayMeter(1_000_000, 100_000, 0);
        RelayMeter.Pair a = m.newPair(0);
        RelayMeter.Pair b = m.newPair(0);
        m.take(a, 1, 0);
        m.take(b, 1, 0);
        assertEquals(50_000, m.share());
        m.take(a, 1, 1_000 * MS);
        m.take(a, 1, 2_000 * MS);
        assertEquals(100_000, m.share(), "b sent nothing for two seconds: a's share is the total");
    }
}
