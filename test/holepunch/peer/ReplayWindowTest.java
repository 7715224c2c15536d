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

    /**
     * Attack: a counter near Long.MAX_VALUE made the slide loop {@code c <= counter} wrap around
     * and never end, on the worker's one UDP reader thread holding the link's lock. Counters at or
     * past REJECT_AFTER_MESSAGES are refused (as WireGuard's replay.go), and a slide clears at
     * most the window's words, however far it goes.
     */
    @Test
    @org.junit.jupiter.api.Timeout(value = 5, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void accept_countersNearTheLimitAreRefusedAndNeverHang() {
        ReplayWindow h = new ReplayWindow();
        h.accept(Long.MAX_VALUE - 3);
        assertFalse(h.accept(Long.MAX_VALUE), "the sequence that hung the reader returns, refused");
        ReplayWindow w = new ReplayWindow();
        assertTrue(w.accept(ReplayWindow.REJECT_AFTER_MESSAGES - 5));
        assertFalse(w.accept(Long.MAX_VALUE), "past the limit: refused");
        assertFalse(w.accept(ReplayWindow.REJECT_AFTER_MESSAGES), "the limit itself: refused");
        assertTrue(w.accept(ReplayWindow.REJECT_AFTER_MESSAGES - 1), "the last counter allowed");
        ReplayWindow v = new ReplayWindow();
        assertFalse(v.accept(Long.MAX_VALUE - 3), "the sequence that hung the reader: refused");
        assertFalse(v.accept(Long.MAX_VALUE), "and its second step returns");
        assertTrue(v.accept(7));
        assertFalse(v.accept(Long.MAX_VALUE));
        assertFalse(v.accept(Long.MAX_VALUE - 1));
        assertTrue(v.accept(8), "the window still works after the refusals");
        assertEquals(8, v.highest());
    }
}
