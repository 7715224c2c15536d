package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.crypto.PublicIdentity;
import holepunch.limits.TokenBucket;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.net.Addresses;
import holepunch.protocol.Message;
import holepunch.protocol.NatBehaviour;
import holepunch.protocol.P2pConnectionDecline;
import holepunch.protocol.P2pConnectionError;
import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.PathState;
import holepunch.protocol.RelayData;
import holepunch.protocol.Role;
import holepunch.timer.Scheduler;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The worker's peer paths, one {@link Link} per peer. An offer from a peer this worker accepts
 * (P2P_ALLOW) whose key checks out (signed static key, PEER_KEYS) starts a link: both sides punch
 * with authenticated probes while the initiator runs a Noise IK handshake with the peer over the
 * relay, so application data is end-to-end encrypted from the first payload, over the direct path
 * once one answers and over the relay until then (or for good, where the NATs allow no direct path).
 * The rendezvous sees only ciphertext and cannot forge a datagram: it never holds a key of the path.
 */
public final class Peers {

    /** A UDP socket a path can send from. */
    public interface Socket {
        void send(ByteBuffer datagram, InetSocketAddress to) throws IOException;

        /** Sends with a small TTL (see {@code SocketTtl}); false when this socket cannot, and nothing was sent. */
        default boolean sendWithTtl(ByteBuffer datagram, InetSocketAddress to, int ttl) throws IOException {
            return false;
        }

        /** Releases an extra socket (the worker's own socket is the worker's to close). */
        default void close() {
        }

        /** Whether what goes through it is relayed (a TURN allocation), not a path of its own. */
        default boolean relayed() {
            return false;
        }
    }

    /** Lets a peer's addresses through this worker's TURN allocation (null: no TURN). */
    private volatile java.util.function.Consumer<List<InetAddress>> turnPermits;

    /** This worker has a TURN allocation: offers let their peers' addresses through it. */
    public void turn(java.util.function.Consumer<List<InetAddress>> permits) {
        turnPermits = permits;
    }

    /** Datagrams that arrive on an extra socket. */
    public interface Receiver {
        void onDatagram(InetSocketAddress from, byte[] data, int length);
    }

    /** The worker's own socket, and the extra ones the hard-NAT technique opens ({@link HardNat}). */
    public interface Transport extends Socket {
        /** Opens another UDP socket whose datagrams go to {@code receiver}; null when this transport has none. */
        default Socket open(Receiver receiver) throws IOException {
            return null;
        }

        /** This thread's sends are held and go out together at {@link #release} (one system call for many); a no-op where they cannot. */
        default void hold() {
        }

        /** Sends what this thread held; returns how many the kernel refused. */
        default int release() {
            return 0;
        }

        /** This thread is done sending: what it held for batches is freed. */
        default void forgetThread() {
        }
    }

    /**
     * The hard-NAT technique's bursts (256 opening probes, or 2,048 to random ports) per peer: at
     * most {@value #BURSTS_PER_PEER} at once and one more a minute, whatever the offers: a new offer
     * does not start a fresh budget. Peers counted most recently, at most {@value #BURST_PEERS}.
     */
    static final int BURSTS_PER_PEER = 3, BURST_PEERS = 1024;
    private final Map<String, holepunch.limits.TokenBucket> burstBudget = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, holepunch.limits.TokenBucket> eldest) {
            return size() > BURST_PEERS;
        }
    };

    /** Takes one of {@code peer}'s bursts; false when its budget is spent. */
    boolean takeBurst(String peer) {
        long now = scheduler.nowMillis() * 1_000_000L;
        synchronized (burstBudget) {                     // its own lock: taken under a link's
            return burstBudget.computeIfAbsent(peer, p -> new holepunch.limits.TokenBucket(1 / 60.0, BURSTS_PER_PEER, now)).take(1, now);
        }
    }

    /** Holds this thread's sends on the worker's socket until {@link #release} (see {@link Transport#hold}). */
    public void hold() {
        transport.hold();
    }

    public void release() {
        int refused = transport.release();
        if (refused > 0) metrics.add("holepunch_worker_dropped_total", refused, "reason", "send_failed");
    }

    public void forgetThread() {
        transport.forgetThread();
    }

    /** Sends a message to the rendezvous without blocking; false when it could not be queued. */
    public interface Rendezvous {
        boolean send(Message message);

        /** For application payloads, whose senders may wait: by default the same as {@link #send}. */
        default boolean sendPaced(Message message) {
            return send(message);
        }

        /** Whether the session selected the binary relay: datagrams go by {@link #relayDatagram}, not as relay_data. */
        default boolean binaryRelay() {
            return false;
        }

        /** Queues one datagram for the binary relay: null when queued, else why it was dropped (a metric label). */
        default String relayDatagram(long pairId, byte[] buf, int off, int len) {
            return "relay_closed";
        }
    }

    /** Receives application payloads from peers, over whichever path carried them. */
    public interface DataListener {
        /** {@code buf[off, off + len)} is the payload; it is only valid during the call (the buffer is reused). */
        void onData(String peer, byte[] buf, int off, int len);
    }

    /**
     * Per thread: where DATA is opened ({@link #OPENED}) and sealed ({@link #SEALED}), apart so that a
     * listener may send from within a delivery; grown to the largest datagram that thread has seen,
     * so nothing of ours is allocated per datagram.
     */
    private static final ThreadLocal<byte[][]> SCRATCH = ThreadLocal.withInitial(() -> new byte[][] {new byte[2048], new byte[2048], new byte[2048]});
    static final int OPENED = 0, SEALED = 1, RELAYED = 2;

    static byte[] scratch(int slot, int size) {
        byte[][] holder = SCRATCH.get();
        if (holder[slot].length < size) holder[slot] = new byte[Math.max(size, holder[slot].length * 2)];
        return holder[slot];
    }

    static final int MAX_CANDIDATES = 12;
    static final int MAX_OUTSTANDING = 512;
    /** Probes one offer may cost this worker, over all candidates and the whole deadline. */
    public static final int MAX_PROBES_PER_OFFER = 400;
    /** Peer links kept; past it, the oldest that is not direct is dropped. */
    static final int MAX_LINKS = 64;
    /** A probe or keepalive this far behind the peer's newest counter is too old to answer. */
    static final int MAX_PROBE_LAG = 64;

    final String selfId;
    final Identity identity;
    final Transport transport;
    final Rendezvous rendezvous;
    final Scheduler scheduler;
    private final PeerSettings settings;
    final Log log = Log.of("peers");
    private final Map<String, Link> byPeer = new ConcurrentHashMap<>();
    private final Map<Long, Link> byPair = new ConcurrentHashMap<>();
    /**
     * Failed punching attempts in a row, per peer: direct retries back off (a false endpoint gets
     * ever less). The {@value #MAX_FAILURES} most recent peers: peers the rendezvous introduces come and go.
     */
    final Map<String, Integer> failures = java.util.Collections.synchronizedMap(new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Integer> eldest) {
            return size() > MAX_FAILURES;
        }
    });
    static final int MAX_FAILURES = 1024;
    /**
     * When a direct path to a peer was last lost (scheduler millis), the most recent peers: such a
     * pair worked directly before, so direct is tried again soon while it is relayed (Link#fail).
     */
    final Map<String, Long> lostAt = java.util.Collections.synchronizedMap(new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > MAX_FAILURES;
        }
    });
    volatile boolean closed;
    private volatile DataListener dataListener = (peer, buf, off, len) -> { };
    private volatile Metrics metrics = new Metrics();
    private volatile PathBytes pathBytes = new PathBytes(metrics);
    private final Introductions introductions;
    /** Probes and keepalives answered over all peers (each has its own budget too, in its ProbeLedger). */
    final TokenBucket answers;
    private final OfferBudget offers;

    public Peers(String selfId, Identity identity, Transport transport, Rendezvous rendezvous, Scheduler scheduler, PeerSettings settings) {
        this.selfId = selfId;
        this.identity = identity;
        this.transport = transport;
        this.answers = new TokenBucket(ProbeLedger.WORKER_ANSWERS_PER_SEC, ProbeLedger.WORKER_ANSWER_BURST, scheduler.nowMillis() * 1_000_000L);
        this.offers = new OfferBudget(scheduler.nowMillis());
        this.rendezvous = rendezvous;
        this.scheduler = scheduler;
        this.settings = settings;
        this.introductions = new Introductions(selfId, settings.connectTo(), rendezvous, scheduler, peer -> byPeer.get(peer) != null, log);
        this.knownPeers = new KnownPeers(settings.knownPeersFile());
    }

    /**
     * This process's probe nonce: reported to the rendezvous ({@code probe_nonce}), which passes it to
     * this worker's peers, and mixed into every pair's probe keys with the peer's (PathCrypto).
     */
    private final byte[] probeNonce = new byte[16];

    {
        new java.security.SecureRandom().nextBytes(probeNonce);
    }

    /** The probe nonce as update_udp_endpoint carries it. */
    public String probeNonce() {
        return holepunch.crypto.Keys.b64(probeNonce);
    }

    /**
     * The pair ids this process took part in, with which peer (the newest {@value #MAX_USED_PAIRS}): an
     * offer that repeats one would make that pair's recorded probes and answers valid again (the
     * rendezvous chooses pair ids), so it is declined.
     */
    private final java.util.LinkedHashMap<String, Boolean> usedPairs = new java.util.LinkedHashMap<>();
    static final int MAX_USED_PAIRS = 4096;

    /** Records {@code pairId} with {@code peer}; false when this process took it with that peer before. */
    private boolean firstUseOfPair(String peer, String pairId) {
        synchronized (usedPairs) {
            if (usedPairs.putIfAbsent(peer + "/" + pairId.toLowerCase(java.util.Locale.ROOT), Boolean.TRUE) != null) return false;
            if (usedPairs.size() > MAX_USED_PAIRS) usedPairs.remove(usedPairs.keySet().iterator().next());
            return true;
        }
    }

    /** The newest handshake time taken from each peer key, across pairs (a recorded INIT is refused on a later pair too). */
    final PathCrypto.Timestamps handshakeTimes = new PathCrypto.Timestamps();

    /** Peers' keys as first proved (trust on first use), how each is trusted now, and the alarms of keys that changed. */
    final KnownPeers knownPeers;

    /** Offers refused because the peer's key changed (newest last), for /status. */
    public List<Map<String, Object>> keyAlarms() {
        return knownPeers.alarms();
    }

    /** This worker's own NAT mapping, as its last discovery found it (named in relay reasons). */
    private volatile NatBehaviour ownMapping = NatBehaviour.UNKNOWN;
    private volatile boolean ownPortPreserved = true;

    /** Whether this worker has an IPv6 endpoint to offer (named in relay reasons). */
    private volatile boolean ownIpv6;

    public void ownIpv6(boolean has) {
        ownIpv6 = has;
    }

    boolean ownIpv6() {
        return ownIpv6;
    }

    public void ownMapping(NatBehaviour b, boolean portPreserved) {
        ownMapping = b == null ? NatBehaviour.UNKNOWN : b;
        ownPortPreserved = portPreserved;
    }

    NatBehaviour ownMapping() {
        return ownMapping;
    }

    /**
     * Whether our NAT maps per destination: classified so, or, where one STUN server could not
     * classify it, the evidence that the port it gave us is not our own.
     */
    boolean ownMappingHard() {
        NatBehaviour b = ownMapping;
        return b == NatBehaviour.ENDPOINT_DEPENDENT || (b == NatBehaviour.UNKNOWN && !ownPortPreserved);
    }

    /** One hard-NAT attempt of each side at a time, worker-wide: the extra sockets and the probe bursts are bounded in total. */
    final java.util.concurrent.atomic.AtomicBoolean hardSideBusy = new java.util.concurrent.atomic.AtomicBoolean();
    final java.util.concurrent.atomic.AtomicBoolean easySideBusy = new java.util.concurrent.atomic.AtomicBoolean();

    /** Counts application bytes per peer, path and direction into {@code m}, and shows each path's state. */
    public void useMetrics(Metrics m) {
        metrics = m;
        pathBytes = new PathBytes(m);
        m.counterFamily(PathBytes.NAME, "Application bytes, by peer, path (direct or relay) and direction.");
        m.counterFamily("holepunch_worker_dropped_total", "Peer datagrams and payloads dropped, by reason.");
        m.counterFamily("holepunch_worker_direct_paths_total", "Direct paths opened, by the technique that opened them.");
        m.counterFamily("holepunch_worker_hard_nat_attempts_total", "Hard-NAT attempts, by side (hard: extra sockets opened; easy: a burst of probes).");
        m.counterFamily("holepunch_worker_path_seconds_total", "Seconds pairs spent on each tier: direct, turn, relay (the WebSocket relay), connecting.");
        m.counterFamily("holepunch_worker_path_lost_total", "Direct paths lost, by what noticed it (keepalive, or active_watch: data sent and nothing heard).");
        m.counterFamily("holepunch_worker_peer_key_changed_total", "Offers refused because the peer's key differs from the one it proved before (trust on first use).");
        m.gaugeSeries("holepunch_worker_path_state", "1 for each peer's current path state.", () -> {
            Map<String, Double> out = new LinkedHashMap<>();
            for (Link l : byPeer.values()) out.put(Metrics.labels("peer", l.peer, "state", l.state.wire()), 1.0);
            return out;
        });
    }

    /** Counts a dropped datagram or payload: {@code unauthenticated}, {@code replay}, {@code unknown_pair}, ... */
    public void dropped(String reason) {
        metrics.inc("holepunch_worker_dropped_total", "reason", reason);
    }

    void inc(String name, String... labels) {
        metrics.inc(name, labels);
    }

    void count(String peer, boolean direct, boolean sent, int bytes) {
        pathBytes.add(peer, direct, sent, bytes);
    }

    public void onData(DataListener listener) {
        dataListener = listener;
    }

    void deliver(Link l, boolean direct, byte[] buf, int len) {
        if (len == 0) return;                            // a key confirmation
        count(l.peer, direct, false, len);
        dataListener.onData(l.peer, buf, 0, len);
    }

    /**
     * Sends an application payload to {@code peer}, sealed with the path's keys: directly when the
     * path is direct, else through the rendezvous relay. True when it was taken: sent, or dropped
     * here and counted with its reason (over the relay's budget, say); false when there is no
     * usable path yet (no pair, or no keys), which the caller counts as {@code no_path}.
     */
    public boolean send(String peer, byte[] payload) {
        return send(peer, payload, 0, payload.length);
    }

    /** As {@link #send(String, byte[])}, for {@code buf[off, off + len)}: sealed into this thread's scratch, not a new array. */
    public boolean send(String peer, byte[] buf, int off, int len) {
        Link l = byPeer.get(peer);
        if (l == null || l.stopped) return false;
        Link before = l.previous;
        if (before != null) {
            // Make before break: the replaced pair carries until its successor has keys, and while
            // it still has a live UDP path (direct or TURN) that the successor is still punching for.
            // A path the peer no longer answers on (it was lost on the other side) is left at once.
            boolean successorReady = l.crypto.hasKeys() && (l.state == PathState.DIRECT || !before.pathAlive(scheduler.nowMillis()));
            if (successorReady) l.previous = null;
            else l = before;
        }
        long now = scheduler.nowMillis();                     // once per datagram
        if (l.turnPaced(now)) {                               // before it is sealed: the excess costs nothing more
            dropped("turn_paced");
            return true;
        }
        byte[] out = scratch(SEALED, PathCrypto.DATA_HEADER + len + holepunch.crypto.Noise.TAGLEN);
        int n = l.crypto.seal(buf, off, len, out);
        if (n < 0) {                                          // no keys yet, or too old: no usable path (the caller counts no_path)
            if (l.retryAbandoned(now) || l.crypto.wantsHandshake()) l.rekeyNow();
            return false;
        }
        if (l.crypto.wantsHandshake() || l.retryAbandoned(now)) l.rekeyNow();   // worn keys, or a rekey given up
        InetSocketAddress r = l.remote;
        Socket via = l.path;
        if (l.state == PathState.DIRECT && r != null && via != null) {
            try {
                via.send(ByteBuffer.wrap(out, 0, n), r);
                count(peer, true, true, len);
                l.sentData(now);
                return true;
            } catch (IOException e) {
                log.debug(selfId, "direct send to " + peer + " failed: " + e.getMessage());
            }
        }
        return relay.payload(l, out, n, len, now);
    }

    /** The pairs' side of the rendezvous relay. */
    private final PeerRelay relay = new PeerRelay(this);

    /** {@code relay_budget}: the rates the rendezvous relays at; each pair is paced to its rate from now on. */
    public void onRelayBudget(holepunch.protocol.RelayBudget budget) {
        relay.onBudget(budget);
    }

    /** The pair rate the rendezvous announced, or 0. */
    public long relayPairRate() {
        return relay.pairRate();
    }

    /** A control datagram to the peer through the relay. */
    boolean relay(Link l, byte[] datagram) {
        return relay.control(l, datagram);
    }

    /** {@code relay_data} from the rendezvous: a datagram the peer sent through the relay (sealed or a handshake). */
    public void onRelay(RelayData message) {
        relay.onJson(message);
    }

    /** A binary relay message from the rendezvous: each record's datagram goes to its pair's link. */
    public void onRelayFrame(java.nio.ByteBuffer message) {
        relay.onBinary(message);
    }

    Link linkOfPair(long pairId) {
        return byPair.get(pairId);
    }

    /** After each successful endpoint report: ask for the configured peers that have no path. */
    public void onEndpointAccepted() {
        introductions.askForMissing();
    }

    /**
     * Asks the rendezvous for a new pair with {@code peer}, when this worker's offer budget can follow
     * its offer; otherwise once it can, if the peer is not direct by then. Retries after a loss come
     * every few seconds, faster than the budget's {@value OfferBudget#PER_PEER_PER_MIN} a minute, and an
     * offer asked for and then declined (by this side or the peer's) only ends the pairs carrying traffic.
     */
    void requestPeer(String peer) {
        long wait = offerWaitMillis(peer);
        if (wait <= 0) {
            introductions.ask(peer);
            return;
        }
        if (!askingLater.add(peer)) return;
        scheduler.schedule(wait + 50, () -> {
            askingLater.remove(peer);
            Link l = byPeer.get(peer);
            if (!closed && (l == null || !l.directNow())) requestPeer(peer);
        });
    }

    /**
     * Once a second (the worker's tick): each pair's second is counted on the tier it is on now,
     * so {@code holepunch_worker_path_seconds_total{tier}} says how long traffic could go direct,
     * through TURN, or only over the WebSocket relay.
     */
    public void countTiers() {
        for (Link l : byPeer.values()) {
            if (!l.stopped) metrics.inc("holepunch_worker_path_seconds_total", "tier", l.tier());
        }
    }

    /**
     * This worker's public endpoint changed (a NAT reboot, a new address): every peer it asks for
     * is asked for again at once, so that new pairs punch to where it is now (traffic stays on the
     * old pairs until the new ones have their paths), not after the old paths are noticed dead.
     */
    public void endpointChanged() {
        List<String> again = new ArrayList<>();
        for (Link l : byPeer.values()) {
            if (!l.stopped && wanted(l.peer)) again.add(l.peer);
        }
        if (again.isEmpty()) return;
        log.info(selfId, "our endpoint changed: asking again for " + again);
        for (String peer : again) requestPeer(peer);
    }

    /** How long until this worker's offer budget could follow an offer for {@code peer} (0: now). */
    long offerWaitMillis(String peer) {
        return offers.waitMillis(peer, scheduler.nowMillis());
    }

    /** Peers with a request scheduled for when the offer budget allows one again (at most one each). */
    private final java.util.Set<String> askingLater = ConcurrentHashMap.newKeySet();

    /**
     * This worker has a new candidate its peers were not offered (a TURN relayed address that came
     * after the introduction): the peers it asks for (P2P_CONNECT_TO) and has no UDP path with are
     * asked for again, so that the next offer carries it (traffic stays on the old pair until the
     * new one has its path). The other side's own retries carry it to the rest.
     */
    public void candidatesChanged() {
        List<String> again = new ArrayList<>();
        for (Link l : byPeer.values()) {
            if (!l.stopped && l.state != PathState.DIRECT && wanted(l.peer)) again.add(l.peer);
        }
        if (again.isEmpty()) return;
        log.info(selfId, "new candidate (TURN relayed address): asking again for " + again);
        for (String peer : again) requestPeer(peer);
    }

    /** Whether {@code peer} is one this worker asks the rendezvous for (P2P_CONNECT_TO). */
    boolean wanted(String peer) {
        return introductions.wanted(peer);
    }

    public void onError(P2pConnectionError message) {
        String target = message.targetWorkerId();
        String detail = message.detail() == null ? "no detail" : Log.excerpt(message.detail());
        Link declined = message.pairId() == null ? null : byPair.get(parsePairId(message.pairId()));
        if (declined != null && declined.peer.equals(target)) {
            declined.declined(detail);                  // the peer declined a pair already offered: stop probing it
            return;
        }
        int inARow = target == null ? 0 : introductions.refused(target);
        String text = "no introduction to " + (target == null ? "?" : Log.excerpt(target)) + ": " + detail;
        if (inARow == 0 || inARow == Introductions.QUIET_REFUSALS) {
            log.warn(selfId, text + (inARow == 0 ? "" : " (" + inARow + " tries in a row; asking again, less often)"));
        } else if (inARow < Introductions.QUIET_REFUSALS) {
            log.info(selfId, text + "; asking again soon (expected while both start)");
        } else {
            log.debug(selfId, text);
        }
    }

    static long parsePairId(String hex) {
        try {
            return Long.parseUnsignedLong(hex, 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    public void onOffer(P2pConnectionOffer offer) {
        String peer = offer.peerWorkerId();
        introductions.answered(peer);
        String refusal = refusal(offer);
        boolean overBudget = refusal == null && !offers.take(peer, scheduler.nowMillis());
        if (overBudget) refusal = OfferBudget.REFUSAL;
        if (refusal == null && !firstUseOfPair(peer, offer.pairId())) {
            refusal = "pair id " + offer.pairId() + " was taken with '" + peer + "' before: its recorded probes would be valid again";
        }
        if (refusal != null) {
            log.warn(selfId, "declined an offer from '" + peer + "': " + refusal);
            rendezvous.send(new P2pConnectionDecline(offer.pairId(), refusal));
            if (overBudget && wanted(peer)) requestPeer(peer);   // a peer we want: again once the budget allows
            return;
        }
        InetAddress ip = Addresses.literal(offer.peerUdpIp());
        InetSocketAddress reported = ip != null && offer.peerUdpPort() > 0 ? new InetSocketAddress(ip, offer.peerUdpPort()) : null;
        List<InetSocketAddress> hosts = new ArrayList<>();
        for (String h : offer.peerHostCandidates()) {
            InetSocketAddress a = Addresses.hostPort(h);
            if (a != null && hosts.size() < MAX_CANDIDATES) hosts.add(a);
        }
        InetSocketAddress mapped = offer.peerMappedEndpoint() == null ? null : Addresses.hostPort(offer.peerMappedEndpoint());
        InetSocketAddress relayCandidate = offer.peerRelayCandidate() == null ? null : Addresses.hostPort(offer.peerRelayCandidate());
        java.util.function.Consumer<List<InetAddress>> permits = turnPermits;
        if (permits != null) {                  // the peer's probes to our relayed address come from where the rendezvous saw it
            List<InetAddress> ips = new ArrayList<>();
            if (ip != null) ips.add(ip);
            InetAddress observed = offer.peerObservedIp() == null ? null : Addresses.literal(offer.peerObservedIp());
            if (observed != null && !ips.contains(observed)) ips.add(observed);
            if (!ips.isEmpty()) permits.accept(ips);
        }
        if (mapped != null) hosts.addFirst(mapped);
        if (reported == null && hosts.isEmpty()) {
            log.warn(selfId, "ignored an offer for " + peer + " without a usable peer address");
            return;
        }
        Link old = byPeer.get(peer);
        Role role = offer.role();
        byte[] peerNonce = holepunch.crypto.Keys.unb64(offer.peerProbeNonce(), 16);
        if (peerNonce == null) log.info(selfId, "the offer for " + peer + " carries no peer_probe_nonce (an earlier version): its probe keys are as before");
        PathCrypto crypto = new PathCrypto(identity, offer.peerIdentity(), role, offer.pairIdValue(),
                role == Role.INITIATOR ? selfId : peer, role == Role.INITIATOR ? peer : selfId, scheduler::nowMillis, handshakeTimes,
                peerNonce == null ? null : role == Role.INITIATOR ? probeNonce : peerNonce,
                peerNonce == null ? null : role == Role.INITIATOR ? peerNonce : probeNonce);
        Link link = new Link(this, peer, offer.pairIdValue(), role, crypto, reported, hosts, mapped, NatBehaviour.ofWire(offer.peerNatMapping()),
                relayCandidate);
        link.vouch(offer.peerObservedIp());
        if (old != null) replaced(old, link);
        byPeer.put(peer, link);
        byPair.put(link.pairId, link);
        prune();
        log.info(selfId, "offer for " + peer + " (pair " + offer.pairId() + ", key " + offer.peerIdentity().shortFingerprint()
                + "): punching " + link.candidates() + " in " + offer.startInMs() + " ms");
        link.start(offer.startInMs());
    }

    /** Why this worker will not take part in an offer, or null. Defaults deny. */
    private String refusal(P2pConnectionOffer offer) {
        String peer = offer.peerWorkerId();
        if (!settings.allows(peer)) return "not in this worker's P2P_ALLOW";
        PublicIdentity key = offer.peerIdentity();
        if (key == null) return "the peer proved no identity key, and end-to-end encryption needs one";
        String pin = settings.peerKeys().get(peer);
        if (pin != null && !key.matchesPin(pin)) {
            log.error(selfId, "the rendezvous offered '" + peer + "' with key " + key.fingerprint() + ", but PEER_KEYS pins " + pin
                    + ": refusing (an impostor, or the peer has a new key)");
            return "key mismatch: PEER_KEYS expects another key for '" + peer + "'";
        }
        if (key.sameKey(identity.publicIdentity())) return "the offered peer holds this worker's own key";
        if (pin != null) {
            knownPeers.pinned(peer, key);
            knownPeers.trusted(peer, "pinned");
            return null;
        }
        KnownPeers.Verdict v = knownPeers.check(peer, key, offer.peerKeyEphemeral());
        if (v == KnownPeers.Verdict.CHANGED) {
            inc("holepunch_worker_peer_key_changed_total");
            knownPeers.alarm(peer, key, offer.peerKeyEphemeral(), System.currentTimeMillis());
            log.error(selfId, "KEY CHANGED: the rendezvous offered '" + peer + "' with key " + key.fingerprint()
                    + (offer.peerKeyEphemeral() ? " (a key for its process only)" : "") + ", but it proved " + knownPeers.known(peer)
                    + " before: refusing (an impostor, or the peer has a new key: to trust the new one, remove its line from "
                    + (knownPeers.file() == null ? "this worker's memory by restarting it" : knownPeers.file()) + " or name it in PEER_KEYS)");
            return "key changed: this worker knows '" + peer + "' by another key (trust on first use)";
        }
        if (v == KnownPeers.Verdict.NEW) log.info(selfId, "first key seen for " + peer + ": " + key.fingerprint() + " (kept"
                + (knownPeers.file() == null ? " for this process)" : " in " + knownPeers.file() + ")"));
        knownPeers.trusted(peer, v.label);
        return null;
    }

    /** Keeps at most {@value #MAX_LINKS} links: drops the oldest ones that are not direct. */
    private void prune() {
        if (byPeer.size() <= MAX_LINKS) return;
        List<Link> byAge = new ArrayList<>(byPeer.values());
        byAge.sort(Comparator.comparingLong(l -> l.createdMillis));
        for (Link l : byAge) {
            if (byPeer.size() <= MAX_LINKS) return;
            if (l.state != PathState.DIRECT) {
                l.stop();
                byPeer.remove(l.peer, l);
            }
        }
    }

    PeerSettings settings() {
        return settings;
    }

    void forget(Link l) {
        byPair.remove(l.pairId, l);
    }

    /** How long a replaced pair with keys keeps carrying traffic while its successor gets its own. */
    static final long RETIRED_MILLIS = 10_000;

    /**
     * A new offer replaces {@code old} (a direct retry, or the peer's restart). Make before break: a
     * pair that has keys stops its own work but still carries payloads both ways until the new one
     * has keys (or for {@value #RETIRED_MILLIS} ms), so a retry costs no traffic.
     */
    private void replaced(Link old, Link successor) {
        if (!old.crypto.hasKeys() || old.stopped) {
            old.stop();
            return;
        }
        old.retire();
        successor.previous = old;
        scheduler.schedule(RETIRED_MILLIS, () -> {
            if (successor.previous == old) successor.previous = null;
            forget(old);
        });
    }

    boolean isCurrent(Link l) {
        return byPeer.get(l.peer) == l;
    }

    /** A datagram that looks like ours; false when no pair of ours authenticates it. */
    public boolean onDatagram(InetSocketAddress from, byte[] data, int length) {
        return onDatagram(transport, from, data, length);
    }

    /** As above, for a datagram that came through {@code via} (a TURN allocation: {@code from} is the peer's address there). */
    public boolean onDatagram(Socket via, InetSocketAddress from, byte[] data, int length) {
        Link link = byPair.get(Probe.pairIdOf(data, length));
        if (link == null) {
            dropped("unauthenticated");
            return false;
        }
        return link.onDatagram(via, from, data, length);
    }

    /** The configured peers (P2P_CONNECT_TO) whose last request the rendezvous answered neither with an offer nor an error. */
    public java.util.Set<String> unansweredIntroductions() {
        return introductions.unanswered();
    }

    /** The {@code peers} list of {@code GET /status}. */
    public List<Map<String, Object>> status() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Link l : byPeer.values()) out.add(l.json());
        return out;
    }

    public void close() {
        closed = true;
        introductions.close();
        for (Link l : byPeer.values()) l.stop();
    }

    static String text(InetSocketAddress a) {
        return a == null ? null : Addresses.text(a);
    }
}
