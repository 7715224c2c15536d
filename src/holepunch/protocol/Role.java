package holepunch.protocol;

/** A worker's side of a pair: the one that asked (initiator) or the one asked for (responder). */
public enum Role {
    INITIATOR, RESPONDER;

    public String wire() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    public Role other() {
        return this == INITIATOR ? RESPONDER : INITIATOR;
    }

    public static Role ofWire(Object wire) {
        for (Role r : values()) if (r.wire().equals(wire)) return r;
        return null;
    }
}
