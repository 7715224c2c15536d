package holepunch.peer;

/**
 * Anti-replay for counters that a sender increases with every datagram, as RFC 6479 describes (the
 * scheme of IPsec and WireGuard): the highest counter seen, and a bitmap of the {@value #SIZE}
 * counters below it. A counter is new once; one older than the window is refused; one far ahead
 * slides the window. No allocation after construction. Not safe for concurrent use: callers hold
 * a lock.
 */
final class ReplayWindow {
    static final int SIZE = 1024;
    private static final int WORDS = SIZE / Long.SIZE;

    private final long[] bits = new long[WORDS];
    private long highest = -1;

    /** Whether {@code counter} may be accepted: not seen before and not older than the window. Marks it seen. */
    boolean accept(long counter) {
        if (counter < 0) return false;
        if (counter > highest) {
            long shift = highest < 0 ? SIZE : counter - highest;
            if (shift >= SIZE) {
                java.util.Arrays.fill(bits, 0);
            } else {
                for (long c = highest + 1; c <= counter; c++) clear(c);   // the words the window slides over
            }
            highest = counter;
            set(counter);
            return true;
        }
        if (highest - counter >= SIZE) return false;     // too old to tell: refused
        if (isSet(counter)) return false;                 // seen: a replay
        set(counter);
        return true;
    }

    /** The highest counter accepted, -1 before any. */
    long highest() {
        return highest;
    }

    private void set(long c) {
        bits[(int) ((c >>> 6) % WORDS)] |= 1L << (c & 63);
    }

    private void clear(long c) {
        bits[(int) ((c >>> 6) % WORDS)] &= ~(1L << (c & 63));
    }

    private boolean isSet(long c) {
        return (bits[(int) ((c >>> 6) % WORDS)] & (1L << (c & 63))) != 0;
    }
}
