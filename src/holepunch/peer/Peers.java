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

    /** P2P_* settings: punch deadline and pace, keepalive period, direct retries while relaying, and the peers to ask for. */
    public record Settings(long deadlineMillis, long probeIntervalMillis, long keepaliveMillis, long answerWaitMillis,
                           long retryDirectMillis, List<String> connectTo) {
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
        m.gaugeSeries("holepunch_worker_path_state", "1 for each peer's current path state.", () -> {
            Map<String, Double> out = new LinkedHashMap<>();
            for (Link l : byPeer.values()) out.put(holepunch.metrics.Metrics.labels("peer", l.peer, "state", l.state), 1.0);
            return out;
        });
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
                transport.send(ByteBuffer.wrap(new Probe(Probe.Kind.DATA, l.pairId, RANDOM.nextLong(), payload).encode(l.key)), r);
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
            if (l == null) return;
            byte[] data = Base64.getDecoder().decode((String) message.get("data"));
            count(l.peer, "relay", "received", data.length);
            dataListener.onData(l.peer, data);
        } catch (RuntimeException e) {
            log.warn(selfId, "ignored a relay_data without a usable pair_id or data");
        }
    }

    static final int MAX_CANDIDATES = 12;
    static final int MAX_OUTSTANDING = 512;
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
        log.warn(selfId, "no introduction to " + target + ": " + message.get("detail"));
        if (target instanceof String t && settings.connectTo().contains(t)) {
            scheduler.schedule(5000, () -> requestPeer(t));    // the peer may not have registered yet
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
        Link link = new Link(peer, pairId, key, candidates, String.valueOf(offer.get("peer_nat_mapping")));
        byPeer.put(peer, link);
        byPair.put(pairId, link);
        long start = offer.get("start_in_ms") instanceof Long l ? Math.clamp(l, 0, 10_000) : 0;
        log.info(selfId, "offer for " + peer + " (pair " + pairHex + "): punching " + candidates + " in " + start + " ms");
        scheduler.schedule(start, link::punchTick);
    }

    private static void addCandidate(LinkedHashSet<InetSocketAddress> set, Object ip, Object port) {
        InetAddress a = ip instanceof String s ? Addresses.literal(s) : null;
        long p = port instanceof Long l ? l : port instanceof String s && s.matches("\\d{1,5}") ? Long.parseLong(s) : -1;
        if (a != null && p >= 1 && p <= 65535 && set.size() < MAX_CANDIDATES) set.add(new InetSocketAddress(a, (int) p));
    }

    /** A datagram that looks like a probe; false when no pair of ours authenticates it. */
    public boolean onDatagram(InetSocketAddress from, byte[] data, int length) {
        Link link = byPair.get(Probe.pairIdOf(data, length));
        if (link == null) return false;
        Probe p = Probe.parse(data, length, link.key);
        if (p == null) return false;
        link.onProbe(from, p);
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
        final byte[] key;
        final LinkedHashSet<InetSocketAddress> candidates;
        final String peerMapping;
        final LinkedHashMap<Long, Long> outstanding = new LinkedHashMap<>();     // nonce -> sent at
        final LinkedHashSet<Long> answered = new LinkedHashSet<>();             // nonces of theirs we answered
        volatile String state = "connecting";
        volatile InetSocketAddress remote;
        volatile long rttMillis = -1;
        volatile String detail = "punching";
        volatile long lastAnswer;
        boolean stopped;

        Link(String peer, long pairId, byte[] key, LinkedHashSet<InetSocketAddress> candidates, String peerMapping) {
            this.peer = peer;
            this.pairId = pairId;
            this.key = key;
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
            for (InetSocketAddress c : candidates) send(Probe.Kind.PROBE, c, newNonce(now));
            scheduler.schedule(settings.probeIntervalMillis(), this::punchTick);
        }

        long startedPunching;

        private String reasonFromMappings() {
            return "endpoint-dependent".equals(peerMapping)
                    ? "; the peer's NAT maps endpoint-dependently (symmetric), which defeats hole punching from here"
                    : "; a firewall or an endpoint-dependent NAT on the way drops the probes";
        }

        private long newNonce(long now) {
            long nonce = RANDOM.nextLong();
            if (outstanding.size() >= MAX_OUTSTANDING) outstanding.remove(outstanding.keySet().iterator().next());
            outstanding.put(nonce, now);
            return nonce;
        }

        private void send(Probe.Kind kind, InetSocketAddress to, long nonce) {
            try {
                transport.send(ByteBuffer.wrap(new Probe(kind, pairId, nonce, null).encode(key)), to);
            } catch (IOException e) {
                log.debug(selfId, "probe to " + to + " failed: " + e.getMessage());
            }
        }

        synchronized void onProbe(InetSocketAddress from, Probe p) {
            if (stopped) return;
            long now = scheduler.nowMillis();
            switch (p.kind()) {
                case PROBE, KEEPALIVE -> {
                    if (!answered.add(p.nonce())) return;                     // a replay: answered already
                    if (answered.size() > MAX_OUTSTANDING) answered.remove(answered.iterator().next());
                    if (candidates.size() < MAX_CANDIDATES && candidates.add(from)) {
                        log.info(selfId, "peer-reflexive candidate " + from + " for " + peer);
                    }
                    send(p.kind() == Probe.Kind.PROBE ? Probe.Kind.PROBE_ACK : Probe.Kind.KEEPALIVE_ACK, from, p.nonce());
                }
                case PROBE_ACK, KEEPALIVE_ACK -> {
                    Long sent = outstanding.remove(p.nonce());
                    if (sent == null) return;                                   // not ours, or answered already
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
                    if (from.equals(remote)) {
                        count(peer, "direct", "received", p.payload().length);
                        dataListener.onData(peer, p.payload());
                    }
                }
            }
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
