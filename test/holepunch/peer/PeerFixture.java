package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.crypto.Keys;
import holepunch.json.Json;
import holepunch.protocol.Message;
import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.RelayData;
import holepunch.protocol.Role;
import holepunch.testing.FakeScheduler;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the peer tests share: a worker "me" on a fake clock whose datagrams and rendezvous messages
 * are recorded, and a scripted peer that holds its own key and runs its side of the path crypto.
 * Each test class extends it; JUnit makes a fresh one per test.
 */
abstract class PeerFixture {
    static final InetSocketAddress PEER = new InetSocketAddress("127.0.0.1", 40002);
    static final long PAIR = 0xab;
    static final Identity ME = Identity.generate();
    static final Identity THEM = Identity.generate();

    record Sent(InetSocketAddress to, byte[] data) {
    }

    final FakeScheduler clock = new FakeScheduler();
    final List<Sent> sent = new ArrayList<>();
    final List<Message> toRendezvous = new ArrayList<>();
    final List<String> delivered = new ArrayList<>();
    final Peers peers = peers(List.of("peer"), Map.of(), List.of());
    /** The peer's side of the path: its probe keys and its half of the handshake. */
    final PathCrypto them = new PathCrypto(THEM, ME.publicIdentity(), Role.RESPONDER, PAIR, "me", "peer");

    Peers peers(List<String> allow, Map<String, String> pins, List<String> connectTo) {
        return peers(new PeerSettings(500, 50, 15_000, 3000, 30_000, connectTo, allow, pins, 120_000));
    }

    Peers peers(PeerSettings settings) {
        Peers p = new Peers("me", ME, (d, to) -> {
            byte[] b = new byte[d.remaining()];
            d.get(b);
            sent.add(new Sent(to, b));
        }, toRendezvous::add, clock, settings);
        p.onData((peer, buf, off, len) -> delivered.add(new String(buf, off, len, StandardCharsets.UTF_8)));
        return p;
    }

    static Map<String, Object> offerJson(String peer, long pair, Identity key, String role) {
        Map<String, Object> m = Json.obj("type", "p2p_connection_offer", "peer_worker_id", peer, "peer_udp_ip", "127.0.0.1",
                "peer_udp_port", 40002L, "peer_host_candidates", List.of(), "pair_id", Long.toHexString(pair),
                "pair_key", Base64.getEncoder().encodeToString(new byte[32]), "role", role, "start_in_ms", 100L);
        if (key != null) {
            m.put("peer_public_key", Keys.b64(key.publicIdentity().signingKey()));
            m.put("peer_static_key", Keys.b64(key.publicIdentity().staticKey()));
            m.put("peer_static_sig", Keys.b64(key.publicIdentity().staticSig()));
        }
        return m;
    }

    /** As the worker does: parse the offer, and ignore one it cannot use (it logs the field). */
    static void deliver(Peers p, Map<String, Object> json) {
        try {
            p.onOffer((P2pConnectionOffer) Message.parse(json));
        } catch (holepunch.protocol.ProtocolException e) {
            // ignored, as Worker does
        }
    }

    void offer() {
        deliver(peers, offerJson("peer", PAIR, THEM, "initiator"));
    }

    Object state() {
        return peers.status().getFirst().get("state");
    }

    Probe ours(Sent s) {
        return Probe.parse(s.data(), s.data().length, them.recvProbeKey);
    }

    byte[] fromThem(Probe.Kind kind, long counter) {
        return new Probe(kind, PAIR, counter, null).encode(them.sendProbeKey);
    }

    byte[] ackFor(Sent probe) {
        return fromThem(Probe.Kind.PROBE_ACK, ours(probe).counter());
    }

    /** Plays the peer's half of the handshake that "me" started over the relay; returns what "me" sent back. */
    void completeHandshake() {
        RelayData init = relayed().getFirst();
        byte[] hs1 = Base64.getDecoder().decode(init.data());
        PathCrypto.Result answer = them.onHandshake(Probe.parse(hs1, hs1.length, them.recvProbeKey));
        assertNull(answer.dropped());
        toRendezvous.clear();
        peers.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(answer.reply())));
    }

    List<RelayData> relayed() {
        return toRendezvous.stream().filter(m -> m instanceof RelayData).map(m -> (RelayData) m).toList();
    }

    /** An offer, the burst, and the peer's authentic answer: a direct path. */
    void makeDirect() {
        offer();
        clock.advance(100);
        byte[] ack = ackFor(sent.getFirst());
        assertTrue(peers.onDatagram(PEER, ack, ack.length));
        assertEquals("direct", state());
    }
}
