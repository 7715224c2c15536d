package holepunch.peer;

import holepunch.json.Json;
import holepunch.protocol.NatBehaviour;
import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.P2pConnectionStatus;
import holepunch.protocol.PathState;
import holepunch.protocol.Role;
import holepunch.timer.Backoff;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One peer path. After the offered start delay both sides send a paced, bounded burst of probes
 * to every candidate of the peer (its STUN endpoint, its host addresses, and any address an
 * authenticated probe arrives from) and answer the probes they get; the first probe answered
 * marks the path {@link PathState#DIRECT} (a round trip both ways). Keepalives hold the NAT
 * mappings open; a path that stops answering is reported and punched again; no answer within
 * P2P_DEADLINE_MS means {@link PathState#RELAY}, with direct retries backing off. Meanwhile the
 * initiator runs the Noise handshake over the relay ({@link PathCrypto}) and renews it every
 * P2P_REKEY_SEC; once it completes, a pair with one NAT that maps per destination also tries
 * the birthday technique ({@link HardNat}), whose extra sockets answer here too. Timer and
 * UDP-reader threads both call in, so the state methods synchronize;
 * nothing here blocks (sends to the rendezvous are queued).
 */
final class Link {
    static final long HANDSHAKE_RETRY_MILLIS = 1000;
    static final int HANDSHAKE_TRIES = 30;

    private final Peers peers;
    final String peer;
    final long pairId;
    final Role role;
    final PathCrypto crypto;
    /** This pair's relayed traffic, held to the rendezvous's budget. */
    final RelayPacer relayPacer = new RelayPacer();
    /** The addresses probed, in order, each with how it was learnt: the technique a path through it is shown with. */
    private final LinkedHashMap<InetSocketAddress, Technique> candidates = new LinkedHashMap<>();
    /** The peer's endpoint as its STUN found it (null when the offer had only host candidates). */
    private final InetSocketAddress reported;
    private final HardNat hardNat;
    private final NatBehaviour peerMapping;
    private final ProbeLedger ledger;
    final long createdMillis;
    private int probesLeft = Peers.MAX_PROBES_PER_OFFER;
    private long startedPunching;
    private int handshakeTries;
    volatile PathState state = PathState.CONNECTING;
    volatile InetSocketAddress remote;
    /** The socket the direct path goes through: the worker's own, or an extra one of the hard-NAT technique. */
    volatile Peers.Socket path;
    private volatile Technique technique;
    private volatile long rttMillis = -1;
    private volatile String detail = "punching";
    private volatile long lastAnswer;
    /** When this side last sent data on the direct path, and last heard anything authenticated from the peer (scheduler millis). */
    private volatile long lastSent, lastHeard;
    /** A probe of the active-path watch is out. */
    private boolean watchProbe;
    /**
     * An active path (data sent within {@value #ACTIVE_MILLIS} ms) that has heard nothing from the
     * peer for {@value #SILENT_MILLIS} ms is probed at once, and lost when that probe goes
     * unanswered for {@value #ACTIVE_WAIT_MILLIS} ms: traffic moves to the relay within about 2.5 s
     * of a path dying, not at the next keepalive (every P2P_KEEPALIVE_SEC) plus its wait. Idle
     * paths keep the keepalive pace; a path with one-way traffic costs one probe a second.
     */
    static final long WATCH_MILLIS = 250, ACTIVE_MILLIS = 1000, SILENT_MILLIS = 1000, ACTIVE_WAIT_MILLIS = 1000;
    volatile boolean stopped;
    /** Replaced by a newer pair with the same peer, but still carrying payloads until that one has keys ({@link Peers#RETIRED_MILLIS}). */
    volatile boolean retired;
    /** The pair this one replaced, while it still carries payloads for this one (null once this one has keys). */
    volatile Link previous;

    Link(Peers peers, String peer, long pairId, Role role, PathCrypto crypto, InetSocketAddress reported,
         List<InetSocketAddress> hosts, InetSocketAddress mapped, NatBehaviour peerMapping, InetSocketAddress relayCandidate) {
        this.peers = peers;
        this.peer = peer;
        this.pairId = pairId;
        this.role = role;
        this.crypto = crypto;
        this.reported = reported;
        this.peerMapping = peerMapping;
        this.createdMillis = peers.scheduler.nowMillis();
        this.ledger = new ProbeLedger(createdMillis);
        this.hardNat = new HardNat(this, peers);
        this.bursts = new BurstGate(peers, peer);
        if (reported != null) addCandidate(reported, reported.equals(mapped) ? Technique.PORT_MAPPING : Technique.STUN);   // the gateway's mapping keeps that port
        for (InetSocketAddress h : hosts) {
            addCandidate(h, h.equals(mapped) ? Technique.PORT_MAPPING : h.getAddress() instanceof java.net.Inet6Address ? Technique.IPV6 : Technique.HOST);
        }
        if (relayCandidate != null) addCandidate(relayCandidate, Technique.TURN);
    }

    /** A TURN path that answered while punching: taken at the deadline if nothing direct answers by then. */
    private Peers.Socket turnVia;
    private InetSocketAddress turnRemote;
    private long turnRtt;

    /** Whether an answer from {@code from} on {@code via} went through a TURN server (ours, or the peer's relayed address). */
    private boolean throughTurn(Peers.Socket via, InetSocketAddress from) {
        return via.relayed() || candidates.get(from) == Technique.TURN;
    }

    /**
     * Which of the TURN paths that answered is taken (lowest first): through our own allocation to the peer's own
     * address; from our socket to the peer's relayed address; through both allocations (the server relays twice)
     * last. Our own allocation first: it needs nothing of our network but the TURN server's port, which the
     * allocation proved open, and it is what carried the most in the relay bench: 56,000-85,000 datagrams/s at the
     * top against 25,000-40,000 through the peer's relayed address on the same coturn (BENCH_ONLY=relay).
     */
    private int turnRank(Peers.Socket via, InetSocketAddress from) {
        boolean peersRelay = candidates.get(from) == Technique.TURN;
        if (via.relayed() && peersRelay) return 2;
        return via.relayed() ? 0 : 1;
    }

    /** Whether this pair's UDP path (direct or TURN) heard from the peer within the last two seconds: alive, as far as we know. */
    boolean pathAlive(long now) {
        return state == PathState.DIRECT && now - lastHeard <= SILENT_MILLIS + ACTIVE_WAIT_MILLIS;
    }

    /** The tier traffic takes now: direct, turn, relay (the WebSocket relay) or connecting. */
    String tier() {
        PathState s = state;
        if (s == PathState.DIRECT) return technique == Technique.TURN ? "turn" : "direct";
        return s == PathState.RELAY ? "relay" : s == PathState.FAILED ? "failed" : "connecting";
    }

    /** What /status and the rendezvous are told: a TURN path is relayed (by the TURN server), shown with technique turn. */
    private PathState shownState() {
        return state == PathState.DIRECT && technique == Technique.TURN ? PathState.RELAY : state;
    }

    /** Where this peer's bursts may go (the hard-NAT technique's): {@link BurstGate}. */
    final BurstGate bursts;

    void vouch(String ip) {
        bursts.vouch(ip);
    }

    private boolean addCandidate(InetSocketAddress a, Technique origin) {
        return candidates.size() < Peers.MAX_CANDIDATES && candidates.putIfAbsent(a, origin) == null;
    }

    /** The addresses probed, in order (the offer's, then what authenticated probes came from). */
    synchronized List<InetSocketAddress> candidates() {
        return List.copyOf(candidates.keySet());
    }

    /** How long the real probes wait after the priming ones: longer than the two sides' start skew. */
    static final long PRIME_LEAD_MILLIS = 50;

    void start(long startInMillis) {
        if (role == Role.INITIATOR) handshake(true);
        if (peers.settings().primeTtl() > 0) {
            peers.scheduler.schedule(startInMillis, this::prime);
            peers.scheduler.schedule(startInMillis + PRIME_LEAD_MILLIS, this::punchTick);
        } else {
            peers.scheduler.schedule(startInMillis, this::punchTick);
        }
    }

    /**
     * Before any probe that could reach the peer: one to each candidate with a TTL that leaves our
     * NAT but expires before the peer's. Our NAT maps our port towards the peer, so the peer's first
     * probe finds that mapping instead of a NAT with no firewall taking the port for itself (Linux
     * MASQUERADE on a Docker host or a cloud NAT instance).
     */
    private synchronized void prime() {
        if (stopped || peers.closed || state != PathState.CONNECTING) return;
        long now = peers.scheduler.nowMillis();
        for (InetSocketAddress c : candidates.keySet()) {
            if (probesLeft <= 0) break;
            if (c.getAddress() instanceof java.net.Inet6Address) continue;       // no NAT to prime there (and IP_TTL is IPv4's)
            probesLeft--;
            try {
                if (!peers.transport.sendWithTtl(ByteBuffer.wrap(probe(now)), c, peers.settings().primeTtl())) return;
            } catch (IOException e) {
                peers.log.debug(peers.selfId, "priming probe to " + c + " failed: " + e.getMessage());
            }
        }
    }

    // ---- the Noise handshake, over the relay

    private synchronized void handshake(boolean fresh) {
        if (stopped || peers.closed) return;
        if (fresh) handshakeTries = 0;
        if (++handshakeTries > HANDSHAKE_TRIES) {
            if (abandonedAt < 0) {
                peers.log.warn(peers.selfId, "no answer to the key handshake with " + peer + " after " + HANDSHAKE_TRIES
                        + " tries; tried again when traffic wants keys");
            }
            abandonedAt = peers.scheduler.nowMillis();
            return;
        }
        abandonedAt = -1;
        byte[] init = crypto.handshakeInit(fresh);
        peers.relay(this, init);
        // And on the direct path when there is one: the relay may have lost this pair (a rendezvous session
        // replaced, say) while the path itself works. The responder answers a repeat from its cache.
        if (state == PathState.DIRECT && path != null && remote != null) send(path, remote, init);
        peers.scheduler.schedule(HANDSHAKE_RETRY_MILLIS, this::retryHandshake);
    }

    /** Data went out on the direct path (every datagram: one volatile write). */
    void sentData(long now) {
        lastSent = now;
    }

    /** Paces a TURN path to what reaches the peer, by its receipts. */
    private final TurnPacer pacer = new TurnPacer();

    /** The rate a TURN path is paced to, datagrams per second, or null (not TURN, or not paced). */
    private Long turnPacedRate() {
        double r = pacer.rate();
        return technique == Technique.TURN && state == PathState.DIRECT && r != Double.POSITIVE_INFINITY ? Math.round(r) : null;
    }

    /** Whether a datagram over this pair's path must be left here: the path is TURN, paced, and over its rate. */
    boolean turnPaced(long now) {
        return technique == Technique.TURN && state == PathState.DIRECT && !pacer.take(now);
    }

    /**
     * While data arrives on the direct path, the peer hears from this side every
     * {@value #RECEIPT_MILLIS} ms (a keepalive), whatever this side sends: a sender whose own
     * direction is saturated (a TURN server relaying a flood drops most of what comes in, probes
     * included) would otherwise find its probes unanswered and leave a path that is carrying its
     * data. When nothing arrives, nothing is sent: an idle path costs what it did.
     */
    static final long RECEIPT_MILLIS = SILENT_MILLIS / 2;
    private volatile long lastReceipt;

    /**
     * The receipt goes back the way the data came ({@code via}, to {@code from}), whatever this side's own
     * state: a retired pair still carries the peer's data while its successor punches (make before
     * break), and a pair whose own punching failed here (its probes lost in a congested TURN server)
     * may still be the one the peer sends on. The address is proven: authenticated data came from it.
     */
    private synchronized void receipt(Peers.Socket via, InetSocketAddress from) {
        if (stopped && !retired || peers.closed) return;
        long[] r = crypto.received();
        if (r[0] < 0) return;
        byte[] body = java.nio.ByteBuffer.allocate(Probe.RECEIPT_BODY).put((byte) r[0]).putLong(r[1]).putLong(r[2]).array();
        send(via, from, new Probe(Probe.Kind.RECEIPT, pairId, newCounter(peers.scheduler.nowMillis()), body).encode(crypto.sendProbeKey));
    }

    /** The active-path watch, every {@value #WATCH_MILLIS} ms while the path is direct. */
    private synchronized void watch() {
        if (stopped || peers.closed || state != PathState.DIRECT) return;
        long now = peers.scheduler.nowMillis();
        long heard = Math.max(lastHeard, lastAnswer);
        if (!watchProbe && now - lastSent < ACTIVE_MILLIS && now - heard >= SILENT_MILLIS) {
            watchProbe = true;
            sendControl(path, Probe.Kind.KEEPALIVE, remote, newCounter(now));
            peers.scheduler.schedule(ACTIVE_WAIT_MILLIS, () -> checkActive(now));
        }
        peers.scheduler.schedule(WATCH_MILLIS, this::watch);
    }

    private synchronized void checkActive(long sentAt) {
        watchProbe = false;
        if (stopped || peers.closed || state != PathState.DIRECT) return;
        if (lastAnswer >= sentAt || lastHeard >= sentAt) return;
        pathLost("sent data heard nothing from the peer for " + (peers.scheduler.nowMillis() - Math.max(lastHeard, lastAnswer))
                + " ms, and a probe went unanswered");
    }

    /** When the last handshake was given up (scheduler millis), or -1. Read without the lock on every send. */
    private volatile long abandonedAt = -1;

    /**
     * Whether traffic that wants keys should start the handshake again: it was given up at least
     * {@value #HANDSHAKE_RETRY_MILLIS} ms ago (WireGuard retries an abandoned handshake on the next
     * send); the initiator only.
     */
    boolean retryAbandoned(long now) {
        if (abandonedAt < 0) return false;                 // the common case: nothing given up
        synchronized (this) {
            if (abandonedAt < 0 || now - abandonedAt < HANDSHAKE_RETRY_MILLIS || stopped) return false;
            abandonedAt = now;
            return crypto.isInitiator();
        }
    }

    /** A new handshake now (the initiator's keys have sealed REKEY_AFTER_MESSAGES datagrams). */
    void rekeyNow() {
        handshake(true);
    }

    private synchronized void retryHandshake() {
        if (crypto.handshakePending()) handshake(false);
    }

    private void onHandshake(Peers.Socket via, InetSocketAddress from, Probe p) {
        if (crypto.isNewHandshake(p) && !ledger.mayHandshake(peers.scheduler.nowMillis())) {
            peers.dropped("handshake_rate");      // each costs Diffie-Hellman work and moves the keys
            return;
        }
        PathCrypto.Result r = crypto.onHandshake(p);
        if (PathCrypto.DUPLICATE.equals(r.dropped())) return;         // the other copy of an answer already taken
        if (r.dropped() != null) {
            peers.dropped("handshake_" + r.dropped());
            return;
        }
        if (p.kind() == Probe.Kind.HANDSHAKE_RESP) {
            peers.log.info(peers.selfId, "end-to-end keys with " + peer + " (epoch " + crypto.epoch() + ")");
            peers.scheduler.schedule(peers.settings().rekeyMillis(), () -> {
                if (!stopped && peers.isCurrent(this)) handshake(true);          // rotate, as WireGuard does every 2 minutes
            });
        }
        send(via, from, r.reply());
        if (crypto.hasKeys()) maybeHardSide();
    }

    // ---- the hard-NAT technique (HardNat), decided once the peer has proved its key

    private synchronized void maybeHardSide() {
        if (reported != null && punching()) hardNat.maybeHardSide(reported, peerMapping);
    }

    /** {@code HARD_NAT} from the peer (authenticated with its probe key): its NAT maps per destination. */
    private synchronized void onHardNat(Probe p) {
        if (!ledger.unseen(p.counter())) {
            peers.dropped("replay");
            return;
        }
        if (reported != null && punching()) hardNat.onPeerHard(reported);
    }

    /** A burst to {@code to}: see {@link BurstGate#may}. */
    boolean burstMay(InetSocketAddress to) {
        return bursts.may(to);
    }

    /** Tells the peer over the relay that our NAT maps per destination and how many extra sockets we opened. */
    synchronized void signalHardNat(int sockets) {
        byte[] count = {(byte) (sockets >> 8), (byte) sockets};
        peers.relay(this, new Probe(Probe.Kind.HARD_NAT, pairId, crypto.nextControlCounter(), count).encode(crypto.sendProbeKey));
    }

    /** Still looking for a direct path, within the deadline. */
    synchronized boolean punching() {
        return !stopped && !peers.closed && state == PathState.CONNECTING
                && (startedPunching == 0 || peers.scheduler.nowMillis() <= punchDeadline());
    }

    /** The link's deadline, or later while a hard-NAT attempt that started before it still runs. */
    private long punchDeadline() {
        return Math.max(startedPunching + peers.settings().deadlineMillis(), hardNat.endsAt());
    }

    /** A new PROBE of ours (for the hard-NAT technique's sockets and bursts). */
    synchronized byte[] probe(long now) {
        return new Probe(Probe.Kind.PROBE, pairId, newCounter(now), null).encode(crypto.sendProbeKey);
    }

    /** A datagram on one of this link's extra sockets: only this pair's are taken there. */
    void onExtraDatagram(Peers.Socket via, InetSocketAddress from, byte[] data, int length) {
        if (length < Probe.HEADER + Probe.MAC_BYTES || Probe.pairIdOf(data, length) != pairId) {
            peers.dropped("unknown_pair");
            return;
        }
        onDatagram(via, from, data, length);
    }

    /** A reply goes back the way its request came: from the socket it came to, or through the relay. */
    void send(Peers.Socket via, InetSocketAddress to, byte[] datagram) {
        if (datagram == null) return;
        if (to == null) {
            peers.relay(this, datagram);
            return;
        }
        try {
            via.send(ByteBuffer.wrap(datagram), to);
        } catch (IOException e) {
            peers.log.debug(peers.selfId, "datagram to " + to + " failed: " + e.getMessage());
        }
    }

    // ---- datagrams from the peer: from an address to one of our sockets, or through the relay (from == null)

    boolean onDatagram(Peers.Socket via, InetSocketAddress from, byte[] data, int length) {
        if (Probe.kindOf(data, length) == Probe.Kind.DATA) {
            // Authenticated (AEAD, per direction) and checked against the replay window: taken from
            // whichever address and socket it came, as the peer may have settled on another pair of them.
            byte[] plain = Peers.scratch(Peers.OPENED, length);
            int n = crypto.open(data, length, plain);
            if (n < 0) {
                peers.dropped(PathCrypto.DROPS[-n]);
                return false;
            }
            if (from != null) {
                heardOn(via, from);
                bursts.proven(from);
                long now = peers.scheduler.nowMillis();
                lastHeard = now;
                if (now - lastReceipt >= RECEIPT_MILLIS) {
                    lastReceipt = now;
                    peers.scheduler.schedule(0, () -> receipt(via, from));
                }
            }
            peers.deliver(this, from != null, plain, n);
            return true;
        }
        Probe p = Probe.parse(data, length, crypto.recvProbeKey);
        if (p == null) {
            peers.dropped("unauthenticated");
            return false;
        }
        if (from != null) {
            bursts.proven(from);
            lastHeard = peers.scheduler.nowMillis();
        }
        if (p.kind() == Probe.Kind.HANDSHAKE_INIT || p.kind() == Probe.Kind.HANDSHAKE_RESP) {
            onHandshake(via, from, p);
        } else if (p.kind() == Probe.Kind.HARD_NAT) {
            onHardNat(p);
        } else if (from != null) {
            onProbe(via, from, p);
        }
        return true;
    }

    // ---- punching and keepalives

    synchronized void punchTick() {
        if (stopped || peers.closed || state != PathState.CONNECTING) return;
        long now = peers.scheduler.nowMillis();
        if (startedPunching == 0) startedPunching = now;
        if (now > punchDeadline()) {
            hardNat.close();
            if (turnRemote != null) {
                Link before = previous;
                if (before != null) pacer.startAt(before.pacer, now);
                adopt(turnVia, turnRemote, turnRtt, Technique.TURN, now);
                return;
            }
            fail("no probe answered within " + (now - startedPunching) + " ms"
                    + RelayReason.of(peers.ownMapping(), peerMapping, peers.ownIpv6(), candidates.keySet()));
            return;
        }
        for (InetSocketAddress c : candidates.keySet()) {
            if (probesLeft <= 0) break;
            probesLeft--;
            sendControl(peers.transport, Probe.Kind.PROBE, c, newCounter(now));
        }
        peers.scheduler.schedule(peers.settings().probeIntervalMillis(), this::punchTick);
    }

    private long newCounter(long now) {
        long counter = crypto.nextControlCounter();
        ledger.sent(counter, now);
        return counter;
    }

    private void sendControl(Peers.Socket via, Probe.Kind kind, InetSocketAddress to, long counter) {
        send(via, to, new Probe(kind, pairId, counter, null).encode(crypto.sendProbeKey));
    }

    /**
     * Authenticated traffic from the peer on {@code via}. An extra socket it arrives on has been
     * found by the peer and stays open; once the path is direct, the hard side follows the peer to
     * the extra socket the peer uses (both sides may have found more than one at once, each taking
     * the first that answered).
     */
    private void heardOn(Peers.Socket via, InetSocketAddress from) {
        if (via != peers.transport) follow(via, from);      // the worker's own socket (the hot path): nothing to do, no lock
    }

    private synchronized void follow(Peers.Socket via, InetSocketAddress from) {
        if (via.relayed()) return;                         // TURN carries what it carries; the path stays where it is
        hardNat.hit(via);
        if (state == PathState.DIRECT && via != path && !stopped) {
            peers.log.debug(peers.selfId, "path to " + peer + " follows the peer to " + Peers.text(from) + " on another extra socket");
            path = via;
            remote = from;
        }
    }

    private synchronized void onProbe(Peers.Socket via, InetSocketAddress from, Probe p) {
        if (stopped) return;
        long now = peers.scheduler.nowMillis();
        switch (p.kind()) {
            case PROBE, KEEPALIVE -> {
                // Bounded age: far behind the newest counter is stale; seen before is a replay.
                if (!ledger.fresh(p.counter())) {
                    peers.dropped("replay");
                    return;
                }
                if (!ledger.mayAnswer(now) || !peers.answers.take(1, now * 1_000_000L)) {
                    peers.dropped("answer_rate");     // over this peer's (or the worker's) answers: moves nothing
                    return;
                }
                if (via == peers.transport && addCandidate(from, hardNat.sprayedTo(from) ? Technique.HARD_NAT : Technique.PEER_REFLEXIVE)) {
                    peers.log.info(peers.selfId, "peer-reflexive candidate " + Peers.text(from) + " for " + peer);
                }
                heardOn(via, from);
                sendControl(via, p.kind() == Probe.Kind.PROBE ? Probe.Kind.PROBE_ACK : Probe.Kind.KEEPALIVE_ACK, from, p.counter());
                if (via != peers.transport && p.kind() == Probe.Kind.PROBE && state != PathState.DIRECT) {
                    sendControl(via, Probe.Kind.PROBE, from, newCounter(now));    // from the extra socket the peer found
                }
            }
            case PROBE_ACK, KEEPALIVE_ACK -> {
                Long sent = ledger.answered(p.counter());
                if (sent == null) return;                                   // not ours, or answered already
                lastAnswer = now;
                rttMillis = now - sent;
                // The first answer makes the path; later ones (another candidate, another extra
                // socket) do not move it: the two sides would otherwise flap between them. An
                // answer through TURN waits for the deadline: anything direct goes first.
                if (state != PathState.DIRECT && throughTurn(via, from)) {
                    if (turnRemote == null || turnRank(via, from) < turnRank(turnVia, turnRemote)) {
                        turnVia = via;
                        turnRemote = from;
                        turnRtt = now - sent;
                        peers.log.info(peers.selfId, "TURN path to " + peer + " via " + Peers.text(from) + (via.relayed() ? " through our allocation"
                                : " (the peer's relayed address)") + " answers (rtt " + turnRtt + " ms); taken if nothing direct answers by the deadline");
                    }
                } else if (state != PathState.DIRECT) {
                    adopt(via, from, now - sent, via != peers.transport || hardNat.sprayedTo(from) ? Technique.HARD_NAT
                            : candidates.getOrDefault(from, Technique.PEER_REFLEXIVE), now);
                }
            }
            case RECEIPT -> {
                if (p.payload().length != Probe.RECEIPT_BODY || !ledger.fresh(p.counter())) {
                    peers.dropped(p.payload().length != Probe.RECEIPT_BODY ? "malformed" : "replay");
                    return;
                }
                if (technique != Technique.TURN || state != PathState.DIRECT) return;
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(p.payload());
                double change = pacer.onReceipt(b.get() & 0xFF, b.getLong(), b.getLong(), now);
                if (change == Double.POSITIVE_INFINITY) {
                    peers.log.info(peers.selfId, "TURN path to " + peer + " delivers what is sent again: no longer paced");
                } else if (!Double.isNaN(change)) {
                    peers.log.info(peers.selfId, "TURN path to " + peer + " loses over " + TurnPacer.LOSS_PERCENT + " % of what is sent: paced to "
                            + Math.round(change) + " datagrams/s and down to what arrives, the excess dropped here (turn_paced)");
                }
            }
            default -> peers.dropped("unexpected");
        }
    }

    /** The path is {@code via} to {@code from}: direct (or through TURN), with its keepalives and watch. */
    private void adopt(Peers.Socket via, InetSocketAddress from, long rtt, Technique how, long now) {
        remote = from;
        path = via;
        rttMillis = rtt;
        technique = how;
        detail = how == Technique.TURN ? "through the TURN server (nothing direct answered within " + (now - startedPunching) + " ms"
                + RelayReason.of(peers.ownMapping(), peerMapping, peers.ownIpv6(), candidates.keySet()) + ")" : null;
        state = PathState.DIRECT;                           // last: a reader that sees the state sees its detail (volatile order)
        hardNat.opened(via);
        peers.inc("holepunch_worker_direct_paths_total", "technique", technique.wire);
        peers.log.info(peers.selfId, (how == Technique.TURN ? "TURN path to " : "direct path to ") + peer + " via " + Peers.text(from)
                + " (" + technique.wire + ", rtt " + rttMillis + " ms)");
        if (how != Technique.TURN) {
            peers.failures.remove(peer);
            if (peers.lostAt.remove(peer) != null) peers.log.info(peers.selfId, "direct again with " + peer);
        } else if (peers.settings().connectTo().contains(peer)) {
            peers.scheduler.schedule(retryDelay(peers.failures.merge(peer, 1, Integer::sum), now), this::retryDirect);   // direct is still preferred
        }
        report();
        if (via == peers.transport && technique == Technique.HARD_NAT) {
            sendControl(via, Probe.Kind.KEEPALIVE, from, newCounter(now));   // the hard side follows it to this socket now
        }
        peers.scheduler.schedule(peers.settings().keepaliveMillis(), this::keepalive);
        lastHeard = now;
        peers.scheduler.schedule(WATCH_MILLIS, this::watch);
    }

    synchronized void keepalive() {
        if (stopped || peers.closed || state != PathState.DIRECT) return;
        long sentAt = peers.scheduler.nowMillis();
        sendControl(path, Probe.Kind.KEEPALIVE, remote, newCounter(sentAt));
        peers.scheduler.schedule(peers.settings().answerWaitMillis(), () -> checkAnswered(sentAt));
    }

    synchronized void checkAnswered(long sentAt) {
        if (stopped || peers.closed || state != PathState.DIRECT) return;
        if (lastAnswer >= sentAt) {
            peers.scheduler.schedule(Math.max(0, peers.settings().keepaliveMillis() - peers.settings().answerWaitMillis()), this::keepalive);
            return;
        }
        pathLost("keepalives stopped being answered");
    }

    /** The direct path died: said and reported, and the peer asked for again (traffic takes the relay meanwhile). */
    private void pathLost(String why) {
        turnRemote = null;                                  // a TURN path that answered before must answer again
        peers.lostAt.put(peer, peers.scheduler.nowMillis());
        // Traffic takes the WebSocket relay with this pair's keys at once, until a new pair (asked
        // for now by the side that wants the peer) has a path: never a blackhole meanwhile.
        detail = "path via " + Peers.text(remote) + " stopped answering (" + why + "); relaying while a new pair punches";
        technique = null;
        state = PathState.RELAY;
        peers.log.warn(peers.selfId, "lost the direct path to " + peer + " via " + Peers.text(remote) + ": " + why);
        peers.inc("holepunch_worker_path_lost_total", "why", why.startsWith("keepalives") ? "keepalive" : "active_watch");
        report();
        hardNat.close();
        if (peers.wanted(peer)) peers.requestPeer(peer);
    }

    /**
     * After a direct path to the peer was lost, direct is tried again soon and often: first after
     * {@value #AGAIN_FIRST_MILLIS} ms, doubling to {@value #AGAIN_CAP_MILLIS} ms (jittered), for
     * {@value #AGAIN_FOR_MILLIS} ms after the loss; with each attempt's punching that is a new try
     * every 13 s at most, so a healed path is direct again within about 8 s (4-5 introductions a
     * minute: within the offer budgets). A pair that never went direct keeps the slow schedule.
     */
    static final long AGAIN_FIRST_MILLIS = 2000, AGAIN_CAP_MILLIS = 8000, AGAIN_FOR_MILLIS = 600_000;

    /** When to try direct again after the {@code n}th failure in a row: soon after a loss, else backing off. */
    private long retryDelay(int n, long now) {
        Long lost = peers.lostAt.get(peer);
        boolean wasDirect = lost != null && now - lost < AGAIN_FOR_MILLIS;
        return wasDirect
                ? Math.min(peers.settings().retryDirectMillis(), Backoff.jittered(n - 1, AGAIN_FIRST_MILLIS, AGAIN_CAP_MILLIS))
                : Backoff.delay(n - 1, peers.settings().retryDirectMillis(), 32 * peers.settings().retryDirectMillis());   // 1x ... 32x
    }

    /** No direct path: traffic goes through the rendezvous relay, and a direct path is tried again later. */
    private void fail(String why) {
        int n = peers.failures.merge(peer, 1, Integer::sum);
        Long lost = peers.lostAt.get(peer);
        long now = peers.scheduler.nowMillis();
        boolean wasDirect = lost != null && now - lost < AGAIN_FOR_MILLIS;
        long retry = retryDelay(n, now);
        detail = why + "; relaying through the rendezvous and retrying direct in " + (retry + 500) / 1000 + " s"
                + (wasDirect ? " (it was direct " + (now - lost) / 1000 + " s ago)" : ", backing off from every "
                + peers.settings().retryDirectMillis() / 1000 + " s");
        state = PathState.RELAY;                            // after its detail: the status never shows "relay" with "punching"
        peers.log.warn(peers.selfId, "no direct path to " + peer + ": " + why + "; using the relay, direct again in " + (retry + 500) / 1000 + " s");
        report();
        if (peers.settings().connectTo().contains(peer)) peers.scheduler.schedule(retry, this::retryDirect);
    }

    /** Asks for a new pair to try direct again (when the offer budget allows: {@link Peers#requestPeer}). */
    private void retryDirect() {
        if (peers.isCurrent(this) && !directNow()) peers.requestPeer(peer);
    }

    /** Whether traffic goes direct now (not through TURN, not the WebSocket relay). */
    boolean directNow() {
        return state == PathState.DIRECT && technique != Technique.TURN;
    }

    /** The peer declined this pair (its P2P_ALLOW, or a key it does not expect): no probing, no retries. */
    synchronized void declined(String why) {
        detail = why;
        state = PathState.FAILED;
        stop();
        peers.log.warn(peers.selfId, "no path to " + peer + ": " + why);
    }

    private void report() {
        peers.rendezvous.send(new P2pConnectionStatus(P2pConnectionOffer.pairIdText(pairId), shownState(), Peers.text(remote),
                rttMillis < 0 ? null : rttMillis, detail, state == PathState.DIRECT && technique != null ? technique.wire : null));
    }

    synchronized void stop() {
        stopped = true;
        hardNat.close();
        peers.forget(this);
    }

    /** Stops this pair's own work (punching, keepalives, rekeys) but keeps it receiving and sending payloads a while. */
    synchronized void retire() {
        retired = true;
        stopped = true;
    }

    Map<String, Object> json() {
        long last = lastAnswer;
        return Json.obj("peer_worker_id", peer, "state", shownState().wire(), "remote", Peers.text(remote),
                "technique", state == PathState.DIRECT && technique != null ? technique.wire : null,
                "rtt_ms", rttMillis < 0 ? null : rttMillis, "detail", detail, "turn_paced_per_sec", turnPacedRate(),
                "last_answer_ms_ago", last == 0 ? null : peers.scheduler.nowMillis() - last,
                "encrypted", crypto.hasKeys(), "key_epoch", crypto.hasKeys() ? crypto.epoch() : null,
                "key_fingerprint", crypto.peerIdentity() == null ? null : crypto.peerIdentity().fingerprint(),
                "key_trust", peers.knownPeers.trust(peer));
    }
}
