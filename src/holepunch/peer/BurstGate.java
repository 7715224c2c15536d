package holepunch.peer;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Set;

/**
 * Where a peer's bursts (the hard-NAT technique's 256 opening probes, or 2,048 to random ports) may
 * go: only to the address the rendezvous saw the peer's session come from (it vouches for it:
 * {@code peer_observed_ip}), or one an authenticated datagram of the peer came from; and only within
 * the peer's budget ({@link Peers#takeBurst}), which a new offer does not reset. A peer could
 * otherwise report another host's address and have its ports sprayed, from every worker it meets.
 */
final class BurstGate {
    /** Addresses remembered as proven, at most. */
    static final int MAX_PROVEN = 16;

    private final Peers peers;
    private final String peer;
    private volatile InetAddress vouched;
    private final Set<InetAddress> proven = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** The last proven address, read without a lock on every datagram. */
    private volatile InetAddress lastProven;
    private volatile boolean saidRefused;

    BurstGate(Peers peers, String peer) {
        this.peers = peers;
        this.peer = peer;
    }

    /** The offer's {@code peer_observed_ip}, an IP literal or null. */
    void vouch(String ip) {
        vouched = ip == null ? null : holepunch.net.Addresses.literal(ip);
    }

    /** An authenticated datagram of the peer came from {@code from}. */
    void proven(InetSocketAddress from) {
        InetAddress a = from.getAddress();
        if (a == lastProven) return;                     // the hot path: the same sender object as before
        lastProven = a;
        if (proven.size() < MAX_PROVEN) proven.add(a);
    }

    boolean allowed(InetAddress ip) {
        return ip.equals(vouched) || proven.contains(ip);
    }

    /** Whether a burst may go to {@code to} now (it takes one of the peer's budget); said once when refused. */
    boolean may(InetSocketAddress to) {
        String why = !allowed(to.getAddress()) ? "its address " + Peers.text(to) + " is neither the one the rendezvous saw nor one"
                + " an authenticated datagram of the peer came from" : !peers.takeBurst(peer) ? "its burst budget is spent ("
                + Peers.BURSTS_PER_PEER + " at once, one more a minute)" : null;
        if (why == null) return true;
        peers.dropped("burst_refused");
        if (!saidRefused) {
            saidRefused = true;
            peers.log.info(peers.selfId, "no hard-NAT burst towards " + peer + ": " + why);
        }
        return false;
    }
}
