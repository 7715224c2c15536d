package holepunch.worker;

/**
 * Forwarded flows by (peer, flow id), looked up once per datagram without allocation: open
 * addressing with linear probing and backward-shift deletion over fixed arrays. At most
 * {@code capacity} entries; {@link #put} into a full table evicts the one used longest ago (a scan,
 * only when full). Not thread-safe: callers hold a lock.
 */
final class FlowTable<V> {
    private final int capacity;
    private final int mask;
    private final String[] peers;
    private final int[] flows;
    private final Object[] values;
    private final long[] used;
    private int size;
    private long clock;

    FlowTable(int capacity) {
        this.capacity = capacity;
        int slots = Integer.highestOneBit(Math.max(4, capacity * 2 - 1)) << 1;    // load at most 1/2
        this.mask = slots - 1;
        peers = new String[slots];
        flows = new int[slots];
        values = new Object[slots];
        used = new long[slots];
    }

    private int home(String peer, int flow) {
        int h = peer.hashCode() * 0x9E3779B9 ^ flow * 0x85EBCA6B;
        return (h ^ (h >>> 16)) & mask;
    }

    private int find(String peer, int flow) {
        for (int i = home(peer, flow); peers[i] != null; i = (i + 1) & mask) {
            if (flows[i] == flow && peers[i].equals(peer)) return i;
        }
        return -1;
    }

    @SuppressWarnings("unchecked")
    V get(String peer, int flow) {
        int i = find(peer, flow);
        if (i < 0) return null;
        used[i] = ++clock;
        return (V) values[i];
    }

    boolean contains(String peer, int flow) {
        return find(peer, flow) >= 0;
    }

    int size() {
        return size;
    }

    /** Adds or replaces; returns the value evicted to make room (the one used longest ago), or null. */
    @SuppressWarnings("unchecked")
    V put(String peer, int flow, V value) {
        int i = find(peer, flow);
        if (i >= 0) {
            values[i] = value;
            used[i] = ++clock;
            return null;
        }
        V evicted = null;
        if (size == capacity) {
            int oldest = -1;
            for (int j = 0; j <= mask; j++) {
                if (peers[j] != null && (oldest < 0 || used[j] < used[oldest])) oldest = j;
            }
            evicted = (V) values[oldest];
            removeAt(oldest);
        }
        i = home(peer, flow);
        while (peers[i] != null) i = (i + 1) & mask;
        peers[i] = peer;
        flows[i] = flow;
        values[i] = value;
        used[i] = ++clock;
        size++;
        return evicted;
    }

    /** Removes (peer, flow); returns its value or null. */
    @SuppressWarnings("unchecked")
    V remove(String peer, int flow) {
        int i = find(peer, flow);
        if (i < 0) return null;
        V v = (V) values[i];
        removeAt(i);
        return v;
    }

    /** Linear probing's deletion: later entries of the run move back into the gap (no tombstones). */
    private void removeAt(int gap) {
        peers[gap] = null;
        values[gap] = null;
        size--;
        for (int i = (gap + 1) & mask; peers[i] != null; i = (i + 1) & mask) {
            int h = home(peers[i], flows[i]);
            boolean movable = gap <= i ? (h <= gap || h > i) : (h <= gap && h > i);
            if (movable) {
                peers[gap] = peers[i];
                flows[gap] = flows[i];
                values[gap] = values[i];
                used[gap] = used[i];
                peers[i] = null;
                values[i] = null;
                gap = i;
            }
        }
    }

    /** Every value, for closing. */
    @SuppressWarnings("unchecked")
    java.util.List<V> values() {
        java.util.List<V> out = new java.util.ArrayList<>(size);
        for (int i = 0; i <= mask; i++) if (peers[i] != null) out.add((V) values[i]);
        return out;
    }
}
