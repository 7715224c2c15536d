package holepunch.peer;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link TurnPacer}: the rate a TURN path is paced to, from the peer's receipts (time given in ms). */
class TurnPacerTest {
    /** How many of {@code offered} datagrams, spread evenly over {@code millis} from {@code from}, the pacer lets go. */
    private static long let(TurnPacer p, long from, long millis, long offered) {
        long n = 0;
        for (long i = 0; i < offered; i++) if (p.take(from + i * millis / offered)) n++;
        return n;
    }

    @Test
    void unpaced_untilAReceiptShowsLoss() {
        TurnPacer p = new TurnPacer();
        assertEquals(10_000, let(p, 0, 500, 10_000), "nothing held before any receipt");
        assertTrue(Double.isNaN(p.onReceipt(0, 0, 0)), "the first receipt is a baseline");
        assertTrue(Double.isNaN(p.onReceipt(5_000, 5_000, 500)), "all of it arrived: still unpaced");
        assertEquals(Double.POSITIVE_INFINITY, p.rate());
    }

    @Test
    void aPathDeliveringAFifth_isPacedJustAboveWhatItDelivers() {
        TurnPacer p = new TurnPacer();
        p.onReceipt(0, 0, 0);
        double rate = p.onReceipt(10_000, 50_000, 1000);          // 50,000 sent in 1 s, 10,000 arrived
        assertEquals(10_500, rate, 1, "the new rate, told to the caller (one log line)");
        long let = let(p, 1000, 1000, 100_000);
        assertTrue(let >= 10_000 && let <= 11_100, let + " let go in the next second, offered 100,000");
        assertTrue(Double.isNaN(p.onReceipt(20_000, 50_000 + let, 2000)), "still paced: no new log line");
    }

    @Test
    void withoutLoss_aPacedRateGrows_andIsLiftedWhenTheSenderNoLongerComesNearIt() {
        TurnPacer p = new TurnPacer();
        p.onReceipt(0, 0, 0);
        p.onReceipt(1_000, 10_000, 1000);
        assertEquals(1_050, p.rate(), 1);
        assertTrue(Double.isNaN(p.onReceipt(1_000 + 525, 10_000 + 525, 1500)), "no loss: grows, still paced");
        assertEquals(1_050 * TurnPacer.GROWTH, p.rate(), 1);
        assertEquals(Double.POSITIVE_INFINITY, p.onReceipt(1_525 + 100, 10_525 + 100, 2000), "200/s against a rate of 1,300: lifted");
        assertEquals(10_000, let(p, 2000, 500, 10_000));
    }

    @Test
    void nothingArriving_pacesToTheFloor_notToZero() {
        TurnPacer p = new TurnPacer();
        p.onReceipt(0, 0, 0);
        p.onReceipt(0, 20_000, 500);
        assertEquals(TurnPacer.MIN_RATE, p.rate());
        long let = let(p, 500, 1000, 20_000);
        assertTrue(let >= TurnPacer.MIN_RATE - 2 && let <= TurnPacer.MIN_RATE + 40, let + " let go in a second at the floor");
    }

    @Test
    void aCountGoingBack_orReceiptsTooClose_orTooFewSent_changeNothing() {
        TurnPacer p = new TurnPacer();
        p.onReceipt(1_000, 1_000, 0);
        assertTrue(Double.isNaN(p.onReceipt(10, 50_000, 500)), "a count that went back (a new pair) is a new baseline");
        assertTrue(Double.isNaN(p.onReceipt(20, 60_000, 550)), "50 ms after the last: no measure");
        assertTrue(Double.isNaN(p.onReceipt(20, 60_010, 1500)), "10 sent: says nothing of loss");
        assertEquals(Double.POSITIVE_INFINITY, p.rate());
    }

    /** A slow path paced near its rate sends fewer than a sample between receipts: that neither lifts the pacing nor moves it. */
    @Test
    void aSlowPacedPath_staysPacedAtItsRate() {
        TurnPacer p = new TurnPacer();
        p.onReceipt(0, 0, 0);
        p.onReceipt(60, 800, 500);                                  // 120/s delivered of 1,600/s
        double rate = p.rate();
        assertEquals(126, rate, 1);
        assertTrue(Double.isNaN(p.onReceipt(60 + 60, 800 + 62, 1000)), "62 sent at a rate of 126/s: still paced");
        assertEquals(rate, p.rate(), "too few to measure: the rate stays");
    }
}
