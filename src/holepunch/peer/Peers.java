package holepunch.peer;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.net.Addresses;
import holepunch.stun.Scheduler;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
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
        boolean send(Map<String, Object> message);
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
        boolean sent = rendezvous.send(Json.obj("type", "relay_data", "pair_id", HexFormat.of().toHexDigits(l.pairId),
                "data", Base64.getEncoder().encodeToString(payload)));
        if (sent) count(peer, "relay", "sent", payload.length);
        return sent;
    }

    /** {@code relay_data} from the rendezvous: a payload the peer sent through the relay. */
    public void onRelay(Map<String, Object> message) {
        try {
            Link l = byPair.get(Long.parseUnsignedLong((String) message.get("pair_id"), 16));
            if (l == null || l.stopped) {
                dropped("unknown_pair");
                return;
            }
            byte[] data = Base64.getDecoder().decode((String) message.get("data"));
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
        if (rendezvous.send(Json.obj("type", "request_p2p_connection", "target_worker_id", peer))) {
            log.info(selfId, "asked the rendezvous for a path to " + peer);
        }
    }

    public void onError(Map<String, Object> message) {
        Object target = message.get("target_worker_id");
        String detail = message.get("detail") instanceof String d ? Log.excerpt(d) : "no detail";
        Link declined = message.get("pair_id") instanceof String p ? byPair.get(parsePairId(p)) : null;
        if (declined != null && declined.peer.equals(target)) {
            // the peer declined a pair already offered: stop probing it
            declined.declined(detail);
            return;
        }
        log.warn(selfId, "no introduction to " + (target instanceof String t ? Log.excerpt(t) : "?") + ": " + detail);
        if (target instanceof String t && settings.connectTo().contains(t)) {
            scheduler.schedule(5000, () -> requestPeer(t));    // the peer may not have registered yet
        }
    }

    private static long parsePairId(String hex) {
        try {
            return Long.parseUnsignedLong(hex, 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    public void onOffer(Map<String, Object> offer) {
        String peer = offer.get("peer_worker_id") instanceof String s ? s : null;
        String pairHex = offer.get("pair_id") instanceof String s ? s : null;
        byte[] key;
        long pairId;
        try {
            key = Base64.getDecoder().decode((String) offer.get("pair_key"));
            pairId = Long.parseUnsignedLong(pairHex, 16);
        } catch (RuntimeException e) {
            log.warn(selfId, "ignored a p2p_connection_offer without a usable pair_id or pair_key");
            return;
        }
        if (peer == null || key.length < 16) {
            log.warn(selfId, "ignored a p2p_connection_offer without peer_worker_id or with a short pair_key");
            return;
        }
        Object role = offer.get("role");
        if (!"initiator".equals(role) && !"responder".equals(role)) {
            log.warn(selfId, "ignored a p2p_connection_offer whose field 'role' is not initiator or responder");
            return;
        }
        if (!settings.allows(peer)) {
            // Defaults deny: only peers this worker asked for (P2P_CONNECT_TO, FORWARD) or P2P_ALLOW names.
            log.warn(selfId, "declined an offer from '" + Log.excerpt(peer) + "': not in P2P_ALLOW (nor P2P_CONNECT_TO)");
            rendezvous.send(Json.obj("type", "p2p_connection_decline", "pair_id", pairHex,
                    "detail", "not in this worker's P2P_ALLOW"));
            return;
        }
        LinkedHashSet<InetSocketAddress> candidates = new LinkedHashSet<>();
        addCandidate(candidates, offer.get("peer_udp_ip"), offer.get("peer_udp_port"));
        if (offer.get("peer_host_candidates") instanceof List<?> hosts) {
            for (Object h : hosts) {
                if (h instanceof String s && s.lastIndexOf(':') > 0) {
                    addCandidate(candidates, s.substring(0, s.lastIndexOf(':')), s.substring(s.lastIndexOf(':') + 1));
                }
            }
        }
        if (candidates.isEmpty()) {
            log.warn(selfId, "ignored an offer for " + peer + " without a usable peer address");
            return;
        }
        Link old = byPeer.get(peer);
        if (old != null) old.stop();
        String peerRole = "initiator".equals(role) ? "responder" : "initiator";
        Link link = new Link(peer, pairId, Probe.directionKey(key, (String) role), Probe.directionKey(key, peerRole), candidates,
                String.valueOf(offer.get("peer_nat_mapping")));
        byPeer.put(peer, link);
        byPair.put(pairId, link);
        prune();
        long start = offer.get("start_in_ms") instanceof Long l ? Math.clamp(l, 0, 10_000) : 0;
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

    private static void addCandidate(LinkedHashSet<InetSocketAddress> set, Object ip, Object port) {
        InetAddress a = ip instanceof String s ? Addresses.literal(s) : null;
        long p = port instanceof Long l ? l : port instanceof String s && s.matches("\\d{1,5}") ? Long.parseLong(s) : -1;
        if (a != null && p >= 1 && p <= 65535 && set.size() < MAX_CANDIDATES) set.add(new InetSocketAddress(a, (int) p));
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
            rendezvous.send(Json.obj("type", "p2p_connection_status", "pair_id", HexFormat.of().toHexDigits(pairId),
                    "state", state, "remote", remote == null ? null : remote.getAddress().getHostAddress() + ":" + remote.getPort(),
                    "rtt_ms", rttMillis < 0 ? null : rttMillis, "detail", detail));
        }

        synchronized void stop() {
            stopped = true;
            byPair.remove(pairId, this);
        }

        Map<String, Object> json() {
            InetSocketAddress r = remote;
            long last = lastAnswer;
            return Json.obj("peer_worker_id", peer, "state", state,
                    "remote", r == null ? null : r.getAddress().getHostAddress() + ":" + r.getPort(),
                    "rtt_ms", rttMillis < 0 ? null : rttMillis, "detail", detail,
                    "last_answer_ms_ago", last == 0 ? null : scheduler.nowMillis() - last);
        }
    }
}
