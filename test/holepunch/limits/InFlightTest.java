package holepunch.limits;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InFlightTest {
    @Test
    void placesAreCappedInTotalAndPerKey_andComeBackOnLeave() throws Exception {
        InFlight<String> f = new InFlight<>(3, 2);
        assertTrue(f.enter("a", 0));
        assertTrue(f.enter("a", 0));
        assertFalse(f.enter("a", 0), "a third for one key");
        assertTrue(f.enter("b", 0));
        assertFalse(f.enter("c", 0), "a fourth in total");
        assertEquals(3, f.taken());
        f.leave("a");
        assertTrue(f.enter("c", 0));
        assertFalse(f.enter("a", 0), "still three in total");
        assertThrows(IllegalStateException.class, () -> f.leave("d"), "a place never taken");
    }

    @Test
    void aWaiterGetsThePlaceThatIsGivenBack_andOneThatWaitsInVainGivesUpInTime() throws Exception {
        InFlight<String> f = new InFlight<>(1, 1);
        assertTrue(f.enter("a", 0));
        CompletableFuture<Boolean> waiter = CompletableFuture.supplyAsync(() -> {
            try {
                return f.enter("b", 30_000);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertFalse(waiter.isDone());
        f.leave("a");
        assertTrue(waiter.get(30, TimeUnit.SECONDS), "the place given back goes to the waiter");
        long t0 = System.nanoTime();
        assertFalse(f.enter("c", 200));
        long waited = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(waited >= 190 && waited < 10_000, "gave up after " + waited + " ms");
    }

    @Test
    void tryEnter_saysWhichCapRefused_withoutWaiting() {
        InFlight<String> f = new InFlight<>(2, 1);
        assertEquals(null, f.tryEnter("a"));
        assertEquals(InFlight.Full.PER_KEY, f.tryEnter("a"));
        assertEquals(null, f.tryEnter("b"));
        assertEquals(InFlight.Full.TOTAL, f.tryEnter("c"));
        f.leave("a");
        assertEquals(null, f.tryEnter("c"));
    }
}
