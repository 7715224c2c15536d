package holepunch.peer;

/** What opened a direct path (shown in {@code /status} as {@code technique} and counted per technique). */
enum Technique {
    /** The peer's STUN-reported endpoint. */
    STUN("stun"),
    /** One of the peer's own IPv4 addresses: the same LAN. */
    HOST("host"),
    /** One of the peer's IPv6 addresses: no NAT, only firewalls. */
    IPV6("ipv6"),
    /** An address an authenticated probe of the peer came from. */
    PEER_REFLEXIVE("peer-reflexive"),
    /** The endpoint the peer's gateway maps to its port (PCP, NAT-PMP, UPnP). */
    PORT_MAPPING("port-mapping"),
    /** The birthday technique ({@link HardNat}). */
    HARD_NAT("hard-nat"),
    /** Through a TURN server's relayed address (RFC 8656): taken only when nothing direct answers. */
    TURN("turn");

    final String wire;

    Technique(String wire) {
        this.wire = wire;
    }
}
