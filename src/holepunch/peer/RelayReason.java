package holepunch.peer;

import holepunch.protocol.NatBehaviour;

import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.util.Collection;

/**
 * Why no probe got through, for the {@code detail} of a path that goes to the relay: both NATs'
 * mapping behaviour (RFC 4787 §4.1) as far as it is known, and whether IPv6, which has no NAT,
 * was there on one side only.
 */
final class RelayReason {
    private RelayReason() {
    }

    static String of(NatBehaviour own, NatBehaviour peer, boolean ownIpv6, Collection<InetSocketAddress> peerCandidates) {
        return nats(own, peer) + ipv6(ownIpv6, peerCandidates.stream().anyMatch(c -> c.getAddress() instanceof Inet6Address));
    }

    private static String nats(NatBehaviour own, NatBehaviour peer) {
        boolean peerHard = peer == NatBehaviour.ENDPOINT_DEPENDENT;
        boolean ownHard = own == NatBehaviour.ENDPOINT_DEPENDENT;
        if (peerHard && ownHard) {
            return "; both NATs map endpoint-dependently (symmetric: ours and the peer's), which defeats hole punching";
        }
        if (peerHard || ownHard) {
            return "; " + (peerHard ? "the peer's" : "our") + " NAT maps endpoint-dependently (symmetric) and "
                    + (peerHard ? "ours " : "the peer's ") + describe(peerHard ? own : peer) + ", which defeats hole punching from here";
        }
        return "; a firewall or an endpoint-dependent NAT on the way drops the probes (our NAT maps " + describe(own)
                + ", the peer's " + describe(peer) + ")";
    }

    private static String ipv6(boolean own, boolean peer) {
        if (peer && own) return "; IPv6, on both sides, was tried too and did not answer (a firewall drops it)";
        if (peer || own) return "; only " + (own ? "this worker" : "the peer") + " has IPv6, which would have gone around the NATs";
        return "";
    }

    private static String describe(NatBehaviour b) {
        return switch (b) {
            case NONE -> "nothing (no NAT)";
            case ENDPOINT_INDEPENDENT -> "endpoint-independently";
            case ENDPOINT_DEPENDENT -> "endpoint-dependently";
            case UNKNOWN -> "in a way not yet known";
        };
    }
}
