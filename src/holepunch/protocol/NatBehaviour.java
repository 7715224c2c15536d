package holepunch.protocol;

/**
 * A NAT's mapping behaviour in RFC 4787 §4.1 terms, as holepunch workers report it in
 * {@code update_udp_endpoint} ({@code nat_mapping}) and offers pass it on ({@code peer_nat_mapping}).
 */
public enum NatBehaviour {
    /** The socket's own address is public: no NAT. */
    NONE("none"),
    ENDPOINT_INDEPENDENT("endpoint-independent"),
    /** "Symmetric": a new mapping per destination, which defeats plain hole punching. */
    ENDPOINT_DEPENDENT("endpoint-dependent"),
    /** One STUN server cannot tell the two apart. */
    UNKNOWN("unknown");

    public final String wire;

    NatBehaviour(String wire) {
        this.wire = wire;
    }

    /** The behaviour named {@code wire}, or {@link #UNKNOWN}. */
    public static NatBehaviour ofWire(String wire) {
        for (NatBehaviour b : values()) if (b.wire.equals(wire)) return b;
        return UNKNOWN;
    }
}
