package holepunch.peer;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RFC 6479's edges: just inside the window, just behind it, repeated, and far ahead. */
class ReplayWindowTest {
    @Test
    void accept_eachCounterOnce_inAnyOrderWithinTheWindow() {
        ReplayWindow w = new ReplayWindow();
        assertTrue(w.accept(0));
        assertFalse(w.accept(0), "repeated");
        assertTrue(w.accept(5));
        assertTrue(w.accept(3), "older but unseen: reordered, not replayed");
        assertFalse(w.accept(3));
        assertFalse(w.accept(5));
        assertEquals(5, w.highest());
        assertFalse(w.accept(-1));
    }

    @Test
    void accept_refusesCountersOlderThanTheWindow() {
        ReplayWindow w = new ReplayWindow();
        assertTrue(w.accept(ReplayWindow.SIZE + 10));
        long edge = 10 + 1;                      // highest - edge == SIZE - 1: the oldest counter still inside
        assertTrue(w.accept(edge), "just inside the window");
        assertFalse(w.accept(10), "just behind the window");
        assertFalse(w.accept(0));
    }

    @Test
    void accept_farAheadSlidesTheWindowAndForgetsWhatFellOut() {
        ReplayWindow w = new ReplayWindow();
        for (long c = 0; c < 100; c++) assertTrue(w.accept(c));
        assertTrue(w.accept(1_000_000));
        assertFalse(w.accept(99), "fell out of the window");
        assertTrue(w.accept(1_000_000 - 1));
        assertFalse(w.accept(1_000_000));
        // A slide by less than the window keeps the bits that stay inside and clears the rest.
        assertTrue(w.accept(1_000_000 + ReplayWindow.SIZE / 2));
        assertFalse(w.accept(1_000_000 - 1), "still inside: still seen");
        assertTrue(w.accept(1_000_000 + 1), "a counter whose bit was cleared by the slide is new");
    }

    @Test
    void accept_everyCounterOfALongRunExactlyOnce() {
        ReplayWindow w = new ReplayWindow();
        for (long c = 0; c < 10 * ReplayWindow.SIZE; c += 2) assertTrue(w.accept(c));
        long high = 10 * ReplayWindow.SIZE - 2;
        for (long c = high - ReplayWindow.SIZE + 1; c <= high; c++) assertEquals(c % 2 == 1, w.accept(c), "counter " + c);
    }
}
