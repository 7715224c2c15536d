package holepunch.peer;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.net.Addresses;
import holepunch.protocol.Message;
import holepunch.protocol.P2pConnectionDecline;
import holepunch.protocol.P2pConnectionError;
import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.P2pConnectionStatus;
import holepunch.protocol.PathState;
import holepunch.protocol.RelayData;
import holepunch.protocol.RequestP2pConnection;
import holepunch.protocol.Role;
import holepunch.stun.Scheduler;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The worker's peer paths. On a {@code p2p_connection_offer} both sides wait the offered start
 * delay, then send a paced burst of authenticated probes to every candidate of the peer (its
 * STUN endpoint, its host addresses, and any address an authenticated probe arrives from) and
 * answer the probes they get. The first probe answered marks the path direct (a round trip in
 * both directions); keepalives hold the NAT mappings open, and a path that stops answering is
 * reported and punched again. Datagrams that fail authentication are dropped: a stray or forged
 * datagram can neither open nor take over a path, and a false endpoint gets at most one bounded
 * burst.
 */
public final class Peers {

    public interface Transport {
        void send(ByteBuffer datagram, InetSocketAddress to) throws IOException;
    }

    public interface Rendezvous {
        boolean send(Message message);
    }

    /**
     * P2P_* settings: punch deadline and pace, keepalive period, direct retries while relaying, the
     * peers to ask for, and the peers this worker takes part in connections with ({@code allow};
     * {@code "*"} for any).
     */
    public record Settings(long deadlineMillis, long probeIntervalMillis, long keepaliveMillis, long answerWaitMillis,
                           long retryDirectMillis, List<String> connectTo, List<String> allow) {
        public Settings(long deadlineMillis, long probeIntervalMillis, long keepaliveMillis, long answerWaitMillis,
                        long retryDirectMillis, List<String> connectTo) {
            this(deadlineMillis, probeIntervalMillis, keepaliveMillis, answerWaitMillis, retryDirectMillis, connectTo, connectTo);
        }

        boolean allows(String peer) {
            return allow.contains("*") || allow.contains(peer);
        }
    }

    /** Receives application payloads from peers, over whichever path carried them. */
    public interface DataListener {
        void onData(String peer, byte[] payload);
    }

    private volatile DataListener dataListener = (peer, payload) -> { };
    private volatile holepunch.metrics.Metrics metrics = new holepunch.metrics.Metrics();

    /** Counts application bytes per peer, path and direction into {@code m}, and shows each path's state. */
    public void useMetrics(holepunch.metrics.Metrics m) {
        metrics = m;
        m.counterFamily("holepunch_worker_path_bytes_total", "Application bytes, by peer, path (direct or relay) and direction.");
        m.counterFamily("holepunch_worker_dropped_total", "Peer datagrams and payloads dropped, by reason.");
        m.gaugeSeries("holepunch_worker_path_state", "1 for each peer's current path state.", () -> {
            Map<String, Double> out = new LinkedHashMap<>();
            for (Link l : byPeer.values()) out.put(holepunch.metrics.Metrics.labels("peer", l.peer, "state", l.state), 1.0);
            return out;
        });
    }

    /** Counts a dropped datagram or payload: {@code unauthenticated}, {@code replay}, {@code unknown_pair}, ... */
    public void dropped(String reason) {
        metrics.inc("holepunch_worker_dropped_total", "reason", reason);
    }

    private void count(String peer, String path, String direction, int bytes) {
        metrics.add("holepunch_worker_path_bytes_total", bytes, "peer", peer, "path", path, "direction", direction);
    }

    public void onData(DataListener listener) {
        dataListener = listener;
    }

    /**
     * Sends an application payload to {@code peer}: directly when the path is direct, else through
     * the rendezvous relay. False when there is no pair with that peer (yet).
     */
    public boolean send(String peer, byte[] payload) {
        Link l = byPeer.get(peer);
        if (l == null) return false;
        InetSocketAddress r = l.remote;
        if (l.state.equals("direct") && r != null) {
            try {
                transport.send(ByteBuffer.wrap(new Probe(Probe.Kind.DATA, l.pairId, l.nextCounter(), payload).encode(l.sendKey)), r);
                count(peer, "direct", "sent", payload.length);
                return true;
            } catch (IOException e) {
                log.debug(selfId, "direct send to " + peer + " failed: " + e.getMessage());
            }
        }
        boolean sent = rendezvous.send(new RelayData(P2pConnectionOffer.pairIdText(l.pairId), null,
                Base64.getEncoder().encodeToString(payload)));
        if (sent) count(peer, "relay", "sent", payload.length);
        return sent;
    }

    /** {@code relay_data} from the rendezvous: a payload the peer sent through the relay. */
    public void onRelay(RelayData message) {
        try {
            Link l = message.pairId() == null ? null : byPair.get(parsePairId(message.pairId()));
            if (l == null || l.stopped) {
                dropped("unknown_pair");
                return;
            }
            byte[] data = Base64.getDecoder().decode(message.data());
            count(l.peer, "relay", "received", data.length);
            dataListener.onData(l.peer, data);
        } catch (RuntimeException e) {
            log.warn(selfId, "ignored a relay_data without a usable pair_id or data");
        }
    }

    static final int MAX_CANDIDATES = 12;
    static final int MAX_OUTSTANDING = 512;
    /** Probes one offer may cost this worker, over all candidates and the whole deadline. */
    public static final int MAX_PROBES_PER_OFFER = 400;
    /** Peer links kept; past it, the oldest that is not direct is dropped. */
    static final int MAX_LINKS = 64;
    /** A probe or keepalive this far behind the peer's newest counter is too old to answer. */
    static final int MAX_PROBE_LAG = 64;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final String selfId;
    private final Transport transport;
    private final Rendezvous rendezvous;
    private final Scheduler scheduler;
    private final Settings settings;
    private final Log log = Log.of("peers");
    private final Map<String, Link> byPeer = new ConcurrentHashMap<>();
    private final Map<Long, Link> byPair = new ConcurrentHashMap<>();
    /** Failed punching attempts in a row, per peer: direct retries back off (a false endpoint gets ever less). */
    private final Map<String, Integer> failures = new ConcurrentHashMap<>();
    private volatile boolean closed;

    public Peers(String selfId, Transport transport, Rendezvous rendezvous, Scheduler scheduler, Settings settings) {
        this.selfId = selfId;
        this.transport = transport;
        this.rendezvous = rendezvous;
        this.scheduler = scheduler;
        this.settings = settings;
    }

    /** After each successful endpoint report: ask for the configured peers that have no path. */
    public void onEndpointAccepted() {
        for (String peer : settings.connectTo()) {
            Link l = byPeer.get(peer);
            if (l == null) requestPeer(peer);
        }
    }

    private void requestPeer(String peer) {
        if (closed || peer.equals(selfId)) return;
        if (rendezvous.send(new RequestP2pConnection(peer))) {
            log.info(selfId, "asked the rendezvous for a path to " + peer);
        }
    }

    public void onError(P2pConnectionError message) {
        String target = message.targetWorkerId();
        String detail = message.detail() == null ? "no detail" : Log.excerpt(message.detail());
        Link declined = message.pairId() == null ? null : byPair.get(parsePairId(message.pairId()));
        if (declined != null && declined.peer.equals(target)) {
            // the peer declined a pair already offered: stop probing it
            declined.declined(detail);
            return;
        }
        log.warn(selfId, "no introduction to " + (target == null ? "?" : Log.excerpt(target)) + ": " + detail);
        if (target != null && settings.connectTo().contains(target)) {
            scheduler.schedule(5000, () -> requestPeer(target));    // the peer may not have registered yet
        }
    }

    private static long parsePairId(String hex) {
        try {
            return Long.parseUnsignedLong(hex, 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    public void onOffer(P2pConnectionOffer offer) {
        String peer = offer.peerWorkerId();
        String pairHex = offer.pairId();
        long pairId = offer.pairIdValue();
        byte[] key = offer.pairKeyBytes();
        Role role = offer.role();
        if (!settings.allows(peer)) {
            // Defaults deny: only peers this worker asked for (P2P_CONNECT_TO, FORWARD) or P2P_ALLOW names.
            log.warn(selfId, "declined an offer from '" + peer + "': not in P2P_ALLOW (nor P2P_CONNECT_TO)");
            rendezvous.send(new P2pConnectionDecline(pairHex, "not in this worker's P2P_ALLOW"));
            return;
        }
        LinkedHashSet<InetSocketAddress> candidates = new LinkedHashSet<>();
        InetAddress ip = Addresses.literal(offer.peerUdpIp());
        if (ip != null && offer.peerUdpPort() > 0) candidates.add(new InetSocketAddress(ip, offer.peerUdpPort()));
        for (String h : offer.peerHostCandidates()) {
            InetSocketAddress a = Addresses.hostPort(h);
            if (a != null && candidates.size() < MAX_CANDIDATES) candidates.add(a);
        }
        if (candidates.isEmpty()) {
            log.warn(selfId, "ignored an offer for " + peer + " without a usable peer address");
            return;
        }
        Link old = byPeer.get(peer);
        if (old != null) old.stop();
        Link link = new Link(peer, pairId, Probe.directionKey(key, role.wire()), Probe.directionKey(key, role.other().wire()), candidates,
                String.valueOf(offer.peerNatMapping()));
        byPeer.put(peer, link);
        byPair.put(pairId, link);
        prune();
        long start = offer.startInMs();
        log.info(selfId, "offer for " + peer + " (pair " + pairHex + "): punching " + candidates + " in " + start + " ms");
        scheduler.schedule(start, link::punchTick);
    }

    /** Keeps at most {@value #MAX_LINKS} links: drops the oldest ones that are not direct. */
    private void prune() {
        if (byPeer.size() <= MAX_LINKS) return;
        List<Link> byAge = new ArrayList<>(byPeer.values());
        byAge.sort(java.util.Comparator.comparingLong(l -> l.createdMillis));
        for (Link l : byAge) {
            if (byPeer.size() <= MAX_LINKS) return;
            if (!l.state.equals("direct")) {
                l.stop();
                byPeer.remove(l.peer, l);
            }
        }
    }

    /** A datagram that looks like a probe; false when no pair of ours authenticates it. */
    public boolean onDatagram(InetSocketAddress from, byte[] data, int length) {
        Link link = byPair.get(Probe.pairIdOf(data, length));
        Probe p = link == null ? null : Probe.parse(data, length, link.recvKey);
        if (p == null) {
            dropped("unauthenticated");
            return false;
        }
        byte[] delivered = link.onProbe(from, p);
        if (delivered != null) {
            count(link.peer, "direct", "received", delivered.length);
            dataListener.onData(link.peer, delivered);
        }
        return true;
    }

    private void retryDirect(Link link) {
        if (byPeer.get(link.peer) == link && !link.state.equals("direct")) requestPeer(link.peer);
    }

    /** The {@code peers} list of {@code GET /status}. */
    public List<Map<String, Object>> status() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Link l : byPeer.values()) out.add(l.json());
        return out;
    }

    public void close() {
        closed = true;
        for (Link l : byPeer.values()) l.stop();
    }

    /** One peer path; its methods run on the scheduler and the UDP reader, so they synchronize. */
    private final class Link {
        final String peer;
        final long pairId;
        /** Our datagrams are authenticated with sendKey, the peer's with recvKey (Probe.directionKey). */
        final byte[] sendKey;
        final byte[] recvKey;
        final LinkedHashSet<InetSocketAddress> candidates;
        final String peerMapping;
        final LinkedHashMap<Long, Long> outstanding = new LinkedHashMap<>();     // our counter -> sent at
        final ReplayWindow window = new ReplayWindow();                        // the peer's counters
        final java.util.concurrent.atomic.AtomicLong counter = new java.util.concurrent.atomic.AtomicLong();
        final long createdMillis = scheduler.nowMillis();
        int probesLeft = MAX_PROBES_PER_OFFER;
        volatile String state = "connecting";
        volatile InetSocketAddress remote;
        volatile long rttMillis = -1;
        volatile String detail = "punching";
        volatile long lastAnswer;
        volatile boolean stopped;

        Link(String peer, long pairId, byte[] sendKey, byte[] recvKey, LinkedHashSet<InetSocketAddress> candidates, String peerMapping) {
            this.peer = peer;
            this.pairId = pairId;
            this.sendKey = sendKey;
            this.recvKey = recvKey;
            this.candidates = candidates;
            this.peerMapping = peerMapping;
        }

        synchronized void punchTick() {
            if (stopped || closed || !state.equals("connecting")) return;
            long now = scheduler.nowMillis();
            if (startedPunching == 0) startedPunching = now;
            if (now - startedPunching > settings.deadlineMillis()) {
                fail("no probe answered within " + settings.deadlineMillis() + " ms" + reasonFromMappings());
                return;
            }
            for (InetSocketAddress c : candidates) {
                if (probesLeft <= 0) break;
                probesLeft--;
                send(Probe.Kind.PROBE, c, newNonce(now));
            }
            scheduler.schedule(settings.probeIntervalMillis(), this::punchTick);
        }

        long startedPunching;

        private String reasonFromMappings() {
            return "endpoint-dependent".equals(peerMapping)
                    ? "; the peer's NAT maps endpoint-dependently (symmetric), which defeats hole punching from here"
                    : "; a firewall or an endpoint-dependent NAT on the way drops the probes";
        }

        long nextCounter() {
            return counter.getAndIncrement();
        }

        private long newNonce(long now) {
            long nonce = nextCounter();
            if (outstanding.size() >= MAX_OUTSTANDING) outstanding.remove(outstanding.keySet().iterator().next());
            outstanding.put(nonce, now);
            return nonce;
        }

        private void send(Probe.Kind kind, InetSocketAddress to, long nonce) {
            try {
                transport.send(ByteBuffer.wrap(new Probe(kind, pairId, nonce, null).encode(sendKey)), to);
            } catch (IOException e) {
                log.debug(selfId, "probe to " + to + " failed: " + e.getMessage());
            }
        }

        /** Handles an authenticated datagram; returns a DATA payload to deliver (outside the lock), or null. */
        synchronized byte[] onProbe(InetSocketAddress from, Probe p) {
            if (stopped) return null;
            long now = scheduler.nowMillis();
            switch (p.kind()) {
                case PROBE, KEEPALIVE -> {
                    // Bounded age: far behind the newest counter is stale; seen before is a replay.
                    if (p.counter() <= window.highest() - MAX_PROBE_LAG || !window.accept(p.counter())) {
                        dropped("replay");
                        return null;
                    }
                    if (candidates.size() < MAX_CANDIDATES && candidates.add(from)) {
                        log.info(selfId, "peer-reflexive candidate " + from + " for " + peer);
                    }
                    send(p.kind() == Probe.Kind.PROBE ? Probe.Kind.PROBE_ACK : Probe.Kind.KEEPALIVE_ACK, from, p.counter());
                }
                case PROBE_ACK, KEEPALIVE_ACK -> {
                    Long sent = outstanding.remove(p.counter());
                    if (sent == null) return null;                              // not ours, or answered already
                    lastAnswer = now;
                    rttMillis = now - sent;
                    if (!state.equals("direct") || !from.equals(remote)) {
                        remote = from;
                        state = "direct";
                        detail = null;
                        log.info(selfId, "direct path to " + peer + " via " + from + " (rtt " + rttMillis + " ms)");
                        failures.remove(peer);
                        report();
                        scheduler.schedule(settings.keepaliveMillis(), this::keepalive);
                    }
                }
                case DATA -> {
                    if (!from.equals(remote)) {
                        dropped("not_the_path");
                    } else if (!window.accept(p.counter())) {
                        dropped("replay");
                    } else {
                        return p.payload();
                    }
                }
            }
            return null;
        }

        /** The peer declined this pair (its P2P_ALLOW): no probing, no retries. */
        synchronized void declined(String why) {
            stopped = true;
            state = "failed";
            detail = why;
            log.warn(selfId, "no path to " + peer + ": " + why);
        }

        synchronized void keepalive() {
            if (stopped || closed || !state.equals("direct")) return;
            long sentAt = scheduler.nowMillis();
            send(Probe.Kind.KEEPALIVE, remote, newNonce(sentAt));
            scheduler.schedule(settings.answerWaitMillis(), () -> checkAnswered(sentAt));
        }

        synchronized void checkAnswered(long sentAt) {
            if (stopped || closed || !state.equals("direct")) return;
            if (lastAnswer >= sentAt) {
                scheduler.schedule(Math.max(0, settings.keepaliveMillis() - settings.answerWaitMillis()), this::keepalive);
                return;
            }
            state = "connecting";
            detail = "path via " + remote + " stopped answering; punching again";
            log.warn(selfId, "lost the direct path to " + peer + " via " + remote);
            report();
            stopped = true;
            if (settings.connectTo().contains(peer)) requestPeer(peer);
        }

        /** No direct path: traffic goes through the rendezvous relay, and a direct path is tried again later. */
        private void fail(String why) {
            state = "relay";
            detail = why + "; relaying through the rendezvous and retrying direct, backing off from every "
                    + settings.retryDirectMillis() / 1000 + " s";
            log.warn(selfId, "no direct path to " + peer + ": " + why + "; using the relay");
            report();
            int n = failures.merge(peer, 1, Integer::sum);
            long retry = settings.retryDirectMillis() << Math.min(n - 1, 5);     // 1x, 2x, 4x ... 32x
            if (settings.connectTo().contains(peer)) scheduler.schedule(retry, () -> retryDirect(this));
        }

        private void report() {
            rendezvous.send(new P2pConnectionStatus(P2pConnectionOffer.pairIdText(pairId), PathState.ofWire(state),
                    remote == null ? null : Addresses.text(remote), rttMillis < 0 ? null : rttMillis, detail));
        }

        synchronized void stop() {
            stopped = true;
            byPair.remove(pairId, this);
        }

        Map<String, Object> json() {
            InetSocketAddress r = remote;
            long last = lastAnswer;
            return Json.obj("peer_worker_id", peer, "state", state,
                    "remote", r == null ? null : Addresses.text(r),
                    "rtt_ms", rttMillis < 0 ? null : rttMillis, "detail", detail,
                    "last_answer_ms_ago", last == 0 ? null : scheduler.nowMillis() - last);
        }
    }
}
