package holepunch.peer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The birthday technique for a pair where one NAT maps per destination (RFC 4787 §4.1
 * endpoint-dependent: the hard side) and the other does not (the easy side), as Tailscale
 * describes it. The hard side opens {@value #SOCKETS} extra sockets and sends from each one probe
 * towards the easy side's endpoint, so that its NAT holds that many mappings towards it, at ports
 * nobody can predict; then it tells the easy side so over the relay (a {@code HARD_NAT} control,
 * authenticated with its probe key, which only the peer can make). The easy side probes the hard
 * side's address at random ports; each probe opens its own NAT towards that port, so when one
 * falls on a mapped port the hard side's answer gets back. With 256 mappings among 64,512 ports,
 * n probes find one with probability 1 - (1 - 256/64512)^n: 98.3% at 1,024, 99.97% at
 * {@value #SPRAY}.
 * <p>
 * Bounds: one attempt of each side per worker at a time ({@link Peers}), so at most
 * {@value #SOCKETS} extra sockets and one burst of at most {@value #SPRAY} probes at
 * {@value #SPRAY_PER_TICK} per {@value #TICK_MILLIS} ms; every socket but the winner is closed when
 * the path opens, and all of them when the attempt ends. The hard side's opening probes go with the
 * priming TTL where it can be set: they leave its own NAT but never reach the easy side's, where a
 * NAT that takes unsolicited traffic for itself (Linux MASQUERADE without an INPUT firewall) would
 * otherwise hold the very port pair the easy side's answer needs. Half-way through the burst, the
 * hard side sends them once more one hop further, for a carrier's NAT behind the home router; each
 * failed attempt with that peer adds a hop, and the {@value #REOPEN_STEPS}th goes at the normal TTL.
 */
final class HardNat {
    static final int SOCKETS = 256;
    static final int SPRAY = 2048;
    static final int SPRAY_PER_TICK = 20;
    static final long TICK_MILLIS = 20;
    /** The ports a NAT hands out for sources above 1023 (Linux's range for MASQUERADE --random-fully). */
    static final int LOWEST_PORT = 1024;
    /** When the hard side sends its opening probes again, one hop further: half the easy side's burst. */
    static final long REOPEN_AFTER_MILLIS = SPRAY / SPRAY_PER_TICK * TICK_MILLIS / 2;
    /** Attempts with one peer whose second round of opening probes is still TTL-limited (one more hop each). */
    static final int REOPEN_STEPS = 3;
    /** How long the easy side's burst lasts. */
    static final long BURST_MILLIS = (SPRAY + SPRAY_PER_TICK - 1) / SPRAY_PER_TICK * TICK_MILLIS;
    /** After its last probe, how long a side waits for an answer (and the hard side, for the signal to cross the relay). */
    static final long SLACK_MILLIS = 1000;

    private final Link link;
    private final Peers peers;
    private final List<Peers.Socket> sockets = new ArrayList<>();
    /** Extra sockets an authenticated datagram of the peer arrived on: the peer found them, so they stay open. */
    private final java.util.Set<Peers.Socket> hits = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    private BitSet sprayed;
    private int sprayLeft;
    private boolean hardSide;
    private boolean easySide;
    private boolean over;
    /** Until when this attempt keeps the link punching, past the link's own deadline if it started late. */
    private long endsAt;

    HardNat(Link link, Peers peers) {
        this.link = link;
        this.peers = peers;
    }

    /** We are the hard side when our NAT maps per destination and the peer's is not known to: open the sockets, tell the peer. */
    void maybeHardSide(InetSocketAddress easy, holepunch.protocol.NatBehaviour peerMapping) {
        if (!peers.settings().hardNat() || !peers.ownMappingHard() || peerMapping == holepunch.protocol.NatBehaviour.ENDPOINT_DEPENDENT) return;
        if (openHardSide(easy)) link.signalHardNat(socketCount());
    }

    /** The peer's NAT maps per destination and it has opened sockets towards us: probe its ports, unless ours maps so too. */
    void onPeerHard(InetSocketAddress hard) {
        if (!peers.settings().hardNat()) {
            peers.log.info(peers.selfId, link.peer + " asks for the hard-NAT technique, which P2P_HARD_NAT=false turns off here");
        } else if (peers.ownMappingHard()) {
            peers.log.info(peers.selfId, link.peer + " asks for the hard-NAT technique, but our NAT maps per destination too");
        } else {
            startSpray(hard);
        }
    }

    /** Hard side: opens the sockets and sends each one's opening probe. False when it did not start. */
    boolean openHardSide(InetSocketAddress easy) {
        synchronized (link) {
            return openLocked(easy);
        }
    }

    private boolean openLocked(InetSocketAddress easy) {
        if (over || hardSide || !link.burstMay(easy)) return false;     // a proven address, within the peer's budget
        if (!peers.hardSideBusy.compareAndSet(false, true)) {
            peers.log.info(peers.selfId, "hard-NAT technique busy with another peer; not opening extra sockets for " + link.peer);
            return false;
        }
        hardSide = true;
        endsAt = peers.scheduler.nowMillis() + SLACK_MILLIS + BURST_MILLIS + SLACK_MILLIS;
        int ttl = peers.settings().primeTtl();
        for (int i = 0; i < SOCKETS; i++) {
            Peers.Socket s;
            try {
                Peers.Socket[] self = new Peers.Socket[1];
                s = peers.transport.open((from, data, length) -> link.onExtraDatagram(self[0], from, data, length));
                if (s == null) break;
                self[0] = s;
            } catch (IOException e) {
                peers.log.warn(peers.selfId, "hard-NAT technique: opened " + sockets.size() + " extra sockets, then: " + e.getMessage());
                break;
            }
            sockets.add(s);
            ByteBuffer probe = ByteBuffer.wrap(link.probe(peers.scheduler.nowMillis()));
            try {
                if (ttl <= 0 || !s.sendWithTtl(probe, easy, ttl)) s.send(probe.rewind(), easy);
            } catch (IOException e) {
                peers.log.debug(peers.selfId, "opening probe to " + Peers.text(easy) + " failed: " + e.getMessage());
            }
        }
        if (sockets.isEmpty()) {
            end();
            return false;
        }
        peers.inc("holepunch_worker_hard_nat_attempts_total", "side", "hard");
        peers.log.info(peers.selfId, "our NAT maps per destination: opened " + sockets.size() + " extra sockets towards "
                + Peers.text(easy) + " for " + link.peer + " (hard-NAT technique)");
        if (ttl > 0) {
            int failed = peers.failures.getOrDefault(link.peer, 0);
            int reopenTtl = failed + 1 < REOPEN_STEPS ? ttl + 1 + failed : 0;
            peers.scheduler.schedule(REOPEN_AFTER_MILLIS, () -> reopen(easy, reopenTtl));
        }
        return true;
    }

    /**
     * Half-way through the easy side's burst and still no path: the opening probes again, with
     * {@code ttl} (0: the normal TTL). A primed probe dies before a NAT further out than the priming
     * TTL reaches (a carrier-grade NAT behind the home router), which then maps nothing; one hop
     * more reaches it. Each goes as little further as it can: a probe that reaches the easy side's
     * NAT before that side's burst has probed the port it came from makes a NAT that takes
     * unsolicited traffic for itself hold that port pair, and the path through it is lost (seen
     * in the lab as 1 bare-vs-symmetric pair in 6 ending on the relay when these went unlimited).
     */
    private void reopen(InetSocketAddress easy, int ttl) {
        synchronized (link) {
            if (over || !link.punching()) return;
            for (Peers.Socket s : sockets) {
                try {
                    ByteBuffer probe = ByteBuffer.wrap(link.probe(peers.scheduler.nowMillis()));
                    if (ttl <= 0 || !s.sendWithTtl(probe, easy, ttl)) s.send(probe.rewind(), easy);
                } catch (IOException e) {
                    peers.log.debug(peers.selfId, "opening probe to " + Peers.text(easy) + " failed: " + e.getMessage());
                }
            }
        }
    }

    int socketCount() {
        synchronized (link) {
            return sockets.size();
        }
    }

    /** Easy side: starts probing {@code hard}'s address at random ports; false when it did not start. */
    boolean startSpray(InetSocketAddress hard) {
        synchronized (link) {
            return sprayLocked(hard);
        }
    }

    private boolean sprayLocked(InetSocketAddress hard) {
        if (over || easySide || !link.burstMay(hard)) return false;     // a proven address, within the peer's budget
        if (!peers.easySideBusy.compareAndSet(false, true)) {
            peers.log.info(peers.selfId, "hard-NAT technique busy with another peer; not probing " + link.peer + "'s ports");
            return false;
        }
        easySide = true;
        endsAt = peers.scheduler.nowMillis() + BURST_MILLIS + SLACK_MILLIS;
        sprayed = new BitSet(65536);
        sprayed.set(hard.getPort());                                   // probed as a candidate already
        sprayLeft = SPRAY;
        peers.log.info(peers.selfId, link.peer + "'s NAT maps per destination: probing " + holepunch.net.Addresses.text(hard.getAddress())
                + " at up to " + SPRAY + " random ports (hard-NAT technique)");
        peers.inc("holepunch_worker_hard_nat_attempts_total", "side", "easy");
        peers.scheduler.schedule(0, () -> sprayTick(hard));
        return true;
    }

    private void sprayTick(InetSocketAddress hard) {
        synchronized (link) {
            if (over) return;
            if (sprayLeft <= 0 || !link.punching()) {
                end();
                return;
            }
            ThreadLocalRandom r = ThreadLocalRandom.current();
            for (int i = 0; i < SPRAY_PER_TICK && sprayLeft > 0; i++) {
                int port = sprayed.nextClearBit(r.nextInt(LOWEST_PORT, 65536));
                if (port > 65535) port = sprayed.nextClearBit(LOWEST_PORT);
                if (port > 65535) {
                    sprayLeft = 0;
                    break;
                }
                sprayed.set(port);
                sprayLeft--;
                link.send(peers.transport, new InetSocketAddress(hard.getAddress(), port), link.probe(peers.scheduler.nowMillis()));
            }
        }
        peers.scheduler.schedule(TICK_MILLIS, () -> sprayTick(hard));
    }

    /**
     * Until when this attempt keeps the link punching (0 when none runs): keys that come late on a
     * loaded machine, or a signal slow over the relay, still get the whole burst, and no more.
     */
    long endsAt() {
        synchronized (link) {
            return over ? 0 : endsAt;
        }
    }

    /** Whether a probe of the spray went to {@code a}. */
    boolean sprayedTo(InetSocketAddress a) {
        synchronized (link) {
            return sprayed != null && sprayed.get(a.getPort());
        }
    }

    int sprayed() {
        synchronized (link) {
            return sprayed == null ? 0 : SPRAY - sprayLeft;
        }
    }

    /** The peer reached us on {@code s}. */
    void hit(Peers.Socket s) {
        synchronized (link) {
            if (sockets.contains(s)) hits.add(s);
        }
    }

    /**
     * The path opened through {@code winner} (an extra socket, or the worker's own): every other
     * extra socket closes but those the peer has reached (it may have settled on one of them).
     */
    void opened(Peers.Socket winner) {
        synchronized (link) {
            for (Peers.Socket s : sockets) if (s != winner && !hits.contains(s)) s.close();
            sockets.removeIf(s -> s != winner && !hits.contains(s));
            end();
        }
    }

    /** The attempt is over without a path, or the link ends: every extra socket closes. */
    void close() {
        synchronized (link) {
            for (Peers.Socket s : sockets) s.close();
            sockets.clear();
            end();
        }
    }

    private void end() {
        if (over) return;
        over = true;
        if (hardSide) peers.hardSideBusy.set(false);
        if (easySide) peers.easySideBusy.set(false);
    }
}
