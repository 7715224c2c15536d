package holepunch.peer;

/**
 * Anti-replay for counters that a sender increases with every datagram, as RFC 6479 describes (the
 * scheme of IPsec and WireGuard): the highest counter seen, and a bitmap of the {@value #SIZE}
 * counters below it. A counter is new once; one older than the window is refused; one far ahead
 * slides the window. No allocation after construction. Not safe for concurrent use: callers hold
 * a lock.
 *
 * <p>As WireGuard's {@code replay.go} and its whitepaper §5.4.6: a counter at or past
 * {@link #REJECT_AFTER_MESSAGES} is refused whatever the window says (the sender rekeys long
 * before), and a slide clears at most the window's words, so no counter a peer sends can make
 * {@link #accept} loop.
 */
final class ReplayWindow {
    static final int SIZE = 1024;
    /** Counters from here on are refused (WireGuard's REJECT_AFTER_MESSAGES, 2^64 - 2^13 - 1, kept below 2^63 here). */
    static final long REJECT_AFTER_MESSAGES = (1L << 62) - (1L << 13) - 1;
    private static final int WORDS = SIZE / Long.SIZE;

    private final long[] bits = new long[WORDS];
    private long highest = -1;

    /** Whether {@code counter} may be accepted: not seen before and not older than the window. Marks it seen. */
    boolean accept(long counter) {
        if (counter < 0 || counter >= REJECT_AFTER_MESSAGES) return false;
        if (counter > highest) {
            long shift = highest < 0 ? SIZE : counter - highest;
            if (shift >= SIZE) {
                java.util.Arrays.fill(bits, 0);
            } else {
                for (int i = 1; i <= shift; i++) clear(highest + i);     // the counters the window slides over (< SIZE)
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
