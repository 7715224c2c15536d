package holepunch.limits;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenBucketTest {
    @Test
    void take_allowsTheBurstThenRefillsAtTheRate() {
        TokenBucket b = new TokenBucket(10, 20, 0);
        int allowed = 0;
        for (int i = 0; i < 100; i++) if (b.take(1, 0)) allowed++;
        assertEquals(20, allowed, "the burst");
        assertFalse(b.take(1, 50_000_000L), "half a token after 50 ms");
        assertTrue(b.take(1, 100_000_000L), "one token after 100 ms at 10/s");
        assertFalse(b.take(1, 100_000_000L));
    }

    @Test
    void take_largerAmountsWaitForEnoughTokensAndSpendNothingMeanwhile() {
        TokenBucket b = new TokenBucket(1000, 2000, 0);
        assertTrue(b.take(1500, 0));
        assertFalse(b.take(1000, 0), "500 left");
        assertTrue(b.take(500, 0), "the refused take spent nothing");
        assertTrue(b.take(1000, 1_000_000_000L));
        assertEquals(1_000_000_000L, b.lastNanos());
    }

    @Test
    void take_neverOverfillsPastTheBurst() {
        TokenBucket b = new TokenBucket(100, 5, 0);
        for (int i = 0; i < 5; i++) assertTrue(b.take(1, 3_600_000_000_000L));
        assertFalse(b.take(1, 3_600_000_000_000L));
    }
}
