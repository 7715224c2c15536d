package holepunch.protocol;

/** Where a peer path stands (README: Peer connections, the {@code state} of {@code /status} peers). */
public enum PathState {
    CONNECTING, DIRECT, RELAY, FAILED;

    public String wire() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The state named {@code wire}, or null. */
    public static PathState ofWire(Object wire) {
        for (PathState s : values()) if (s.wire().equals(wire)) return s;
        return null;
    }
}
