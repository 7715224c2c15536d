package holepunch.peer;

import holepunch.json.Json;
import holepunch.testing.FakeScheduler;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The peer state machine on a fake clock: bursts are bounded, only authentic answers open a path. */
class PeersTest {
    static final byte[] KEY = new byte[32];
    /** "me" is the initiator: its datagrams verify with I2R, the peer's are made with R2I. */
    static final byte[] I2R = Probe.directionKey(KEY, "initiator");
    static final byte[] R2I = Probe.directionKey(KEY, "responder");
    static final InetSocketAddress PEER = new InetSocketAddress("127.0.0.1", 40002);

    record Sent(InetSocketAddress to, byte[] data) {
    }

    final FakeScheduler clock = new FakeScheduler();
    final List<Sent> sent = new ArrayList<>();
    final List<Map<String, Object>> toRendezvous = new ArrayList<>();
    final Peers peers = new Peers("me", (d, to) -> {
        byte[] b = new byte[d.remaining()];
        d.get(b);
        sent.add(new Sent(to, b));
    }, m -> toRendezvous.add(m.toJson()), clock, new Peers.Settings(500, 50, 15_000, 3000, 30_000, List.of(), List.of("peer")));

    private void offer() {
        deliver(peers, Json.obj("type", "p2p_connection_offer", "peer_worker_id", "peer", "peer_udp_ip", "127.0.0.1",
                "peer_udp_port", 40002L, "peer_host_candidates", List.of(), "pair_id", "00000000000000ab",
                "pair_key", Base64.getEncoder().encodeToString(KEY), "role", "initiator", "start_in_ms", 100L));
    }

    /** As the worker does: parse the offer, and ignore one it cannot use (it logs the field). */
    static void deliver(Peers p, Map<String, Object> json) {
        try {
            p.onOffer((holepunch.protocol.P2pConnectionOffer) holepunch.protocol.Message.parse(json));
        } catch (holepunch.protocol.ProtocolException e) {
            // ignored, as Worker does
        }
    }

    private Object state() {
        return peers.status().get(0).get("state");
    }

    @Test
    void silentPeer_getsABoundedBurstThenRelayWithAReason() {
        offer();
        clock.advance(99);
        assertTrue(sent.isEmpty(), "nothing before the coordinated start");
        clock.advance(10_000);
        assertTrue(sent.size() >= 10 && sent.size() <= 12, "burst of deadline/interval probes, got " + sent.size());
        assertTrue(sent.stream().allMatch(s -> s.to().equals(PEER)));
        assertEquals("relay", state());
        assertTrue(((String) peers.status().get(0).get("detail")).contains("no probe answered"));
        assertEquals("relay", toRendezvous.getLast().get("state"));
        assertTrue(peers.send("peer", new byte[] {1, 2, 3}));
        assertEquals("relay_data", toRendezvous.getLast().get("type"), "no direct path: payloads go to the relay");
    }

    private byte[] ackFor(Sent probe, byte[] key) {
        Probe p = Probe.parse(probe.data(), probe.data().length, I2R);
        return new Probe(Probe.Kind.PROBE_ACK, p.pairId(), p.counter(), null).encode(key);
    }

    @Test
    void authenticAnswer_makesTheLinkDirect_forgedOrReplayedOnesDoNot() {
        offer();
        clock.advance(100);
        Sent first = sent.getFirst();
        byte[] wrongKey = new byte[32];
        wrongKey[0] = 1;
        byte[] forged = ackFor(first, wrongKey);
        assertFalse(peers.onDatagram(PEER, forged, forged.length), "a datagram made without the pair key is refused");
        byte[] unknownNonce = new Probe(Probe.Kind.PROBE_ACK, 0xab, 12345, null).encode(R2I);
        peers.onDatagram(PEER, unknownNonce, unknownNonce.length);
        assertEquals("connecting", state(), "an answer to a probe we never sent opens nothing");

        byte[] ack = ackFor(first, R2I);
        assertTrue(peers.onDatagram(PEER, ack, ack.length));
        assertEquals("direct", state());
        assertEquals("127.0.0.1:40002", peers.status().get(0).get("remote"));
        assertEquals("direct", toRendezvous.getLast().get("state"));

        sent.clear();
        assertTrue(peers.send("peer", "app".getBytes()));
        assertEquals(PEER, sent.getLast().to(), "direct: payloads go over UDP to the remote");
        assertEquals(Probe.Kind.DATA, Probe.parse(sent.getLast().data(), sent.getLast().data().length, I2R).kind());

        InetSocketAddress attacker = new InetSocketAddress("127.0.0.1", 50000);
        peers.onDatagram(attacker, ack, ack.length);
        assertEquals("127.0.0.1:40002", peers.status().get(0).get("remote"), "a replayed answer cannot move the path");
    }

    @Test
    void peersProbe_isAnsweredOnceAndItsSourceBecomesACandidate() {
        offer();
        byte[] probe = new Probe(Probe.Kind.PROBE, 0xab, 777, null).encode(R2I);
        InetSocketAddress reflexive = new InetSocketAddress("127.0.0.1", 45555);
        peers.onDatagram(reflexive, probe, probe.length);
        peers.onDatagram(reflexive, probe, probe.length);     // replayed: not answered again
        List<Sent> acks = sent.stream().filter(s -> Probe.parse(s.data(), s.data().length, I2R).kind() == Probe.Kind.PROBE_ACK).toList();
        assertEquals(1, acks.size());
        assertEquals(reflexive, acks.getFirst().to());
        sent.clear();
        clock.advance(100);
        assertTrue(sent.stream().anyMatch(s -> s.to().equals(reflexive)), "the peer-reflexive address is probed too");
    }

    @Test
    void lostPath_isDetectedWhenKeepalivesGoUnanswered() {
        offer();
        clock.advance(100);
        byte[] ack = ackFor(sent.getFirst(), R2I);
        peers.onDatagram(PEER, ack, ack.length);
        assertEquals("direct", state());
        clock.advance(15_000 + 3_000);     // a keepalive goes out and nothing answers it
        assertEquals("connecting", state());
        assertTrue(((String) peers.status().get(0).get("detail")).contains("stopped answering"));
    }

    @Test
    void failedPeer_isRetriedWithBackoff() {
        Peers asking = new Peers("me", (d, to) -> sent.add(new Sent(to, new byte[0])), m -> toRendezvous.add(m.toJson()), clock,
                new Peers.Settings(500, 50, 15_000, 3000, 1_000, List.of("peer")));
        List<Long> requests = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            deliver(asking, Json.obj("type", "p2p_connection_offer", "peer_worker_id", "peer", "peer_udp_ip", "127.0.0.1",
                    "peer_udp_port", 40002L, "pair_id", "0000000000000" + (100 + round), "pair_key", Base64.getEncoder().encodeToString(KEY),
                    "role", "initiator", "start_in_ms", 0L));
            long failedAt = -1;
            for (int ms = 0; ms < 60_000 && requests.size() == round; ms += 10) {
                clock.advance(10);
                if (failedAt < 0 && "relay".equals(asking.status().getFirst().get("state"))) failedAt = clock.nowMillis();
                if (!toRendezvous.isEmpty() && "request_p2p_connection".equals(toRendezvous.getLast().get("type"))) {
                    requests.add(clock.nowMillis() - failedAt);
                    toRendezvous.add(Json.obj("type", "noted"));
                }
            }
        }
        assertEquals(3, requests.size());
        assertTrue(requests.get(0) >= 1000 && requests.get(1) >= 2000 && requests.get(2) >= 4000, "doubling: " + requests);
    }

    @Test
    void offerWithoutUsableKeyOrAddress_isIgnored() {
        deliver(peers, Json.obj("type", "p2p_connection_offer", "peer_worker_id", "x", "pair_id", "zz", "pair_key", "!!"));
        deliver(peers, Json.obj("type", "p2p_connection_offer", "peer_worker_id", "x", "pair_id", "01", "peer_udp_ip", "not-ip",
                "peer_udp_port", 1L, "pair_key", Base64.getEncoder().encodeToString(KEY)));
        assertTrue(peers.status().isEmpty());
    }

    private Probe parseOurs(Sent s) {
        return Probe.parse(s.data(), s.data().length, I2R);
    }

    @Test
    void reflectedDatagrams_neverVerify_soABounceCannotOpenAPath() {
        offer();
        clock.advance(100);
        Sent ourProbe = sent.getFirst();
        InetSocketAddress reflector = new InetSocketAddress("127.0.0.1", 50001);
        sent.clear();
        // Our own PROBE bounced back: made with our direction key, so it fails under the peer's.
        assertFalse(peers.onDatagram(reflector, ourProbe.data(), ourProbe.data().length));
        assertTrue(sent.stream().noneMatch(s -> s.to().equals(reflector)), "a bounced probe is not answered");
        // The peer probes us; our PROBE_ACK bounced back to us does not verify either.
        byte[] theirs = new Probe(Probe.Kind.PROBE, 0xab, 1, null).encode(R2I);
        peers.onDatagram(PEER, theirs, theirs.length);
        Sent ourAck = sent.stream().filter(s -> parseOurs(s) != null && parseOurs(s).kind() == Probe.Kind.PROBE_ACK).findFirst().orElseThrow();
        assertFalse(peers.onDatagram(reflector, ourAck.data(), ourAck.data().length));
        assertEquals("connecting", state(), "no path via the reflector");
    }

    private void makeDirect() {
        offer();
        clock.advance(100);
        byte[] ack = ackFor(sent.getFirst(), R2I);
        assertTrue(peers.onDatagram(PEER, ack, ack.length));
        assertEquals("direct", state());
    }

    @Test
    void data_isDeliveredOnce_reorderedWithinTheWindow_andNeverWhenTooOld() {
        List<String> delivered = new ArrayList<>();
        peers.onData((peer, payload) -> delivered.add(new String(payload)));
        makeDirect();
        byte[] five = new Probe(Probe.Kind.DATA, 0xab, 5000, "five".getBytes()).encode(R2I);
        assertTrue(peers.onDatagram(PEER, five, five.length));
        peers.onDatagram(PEER, five, five.length);
        peers.onDatagram(PEER, five, five.length);
        assertEquals(List.of("five"), delivered, "the same DATA datagram three times is delivered once");
        byte[] late = new Probe(Probe.Kind.DATA, 0xab, 4990, "late".getBytes()).encode(R2I);
        peers.onDatagram(PEER, late, late.length);
        assertEquals(List.of("five", "late"), delivered, "reordered within the window: delivered");
        byte[] ancient = new Probe(Probe.Kind.DATA, 0xab, 5000 - ReplayWindow.SIZE, "old".getBytes()).encode(R2I);
        peers.onDatagram(PEER, ancient, ancient.length);
        assertEquals(List.of("five", "late"), delivered, "older than the window: refused");
        byte[] tampered = five.clone();
        tampered[Probe.HEADER] ^= 1;
        assertFalse(peers.onDatagram(PEER, tampered, tampered.length));
        assertEquals(2, delivered.size());
    }

    @Test
    void oldProbe_isNotAnsweredAfterNewerOnes() {
        offer();
        byte[] captured = new Probe(Probe.Kind.PROBE, 0xab, 0, null).encode(R2I);
        for (long c = 1; c <= 513; c++) {
            byte[] p = new Probe(Probe.Kind.PROBE, 0xab, c, null).encode(R2I);
            peers.onDatagram(PEER, p, p.length);
        }
        sent.clear();
        InetSocketAddress attacker = new InetSocketAddress("127.0.0.1", 50002);
        peers.onDatagram(attacker, captured, captured.length);
        assertTrue(sent.isEmpty(), "a probe 513 counters old is stale: not answered");
        byte[] fresh = new Probe(Probe.Kind.PROBE, 0xab, 514, null).encode(R2I);
        peers.onDatagram(attacker, fresh, fresh.length);
        assertEquals(1, sent.size(), "a fresh one is");
    }

    @Test
    void offerFromAPeerNotAllowed_isDeclinedAndCostsNoDatagram() {
        deliver(peers, Json.obj("type", "p2p_connection_offer", "peer_worker_id", "stranger", "peer_udp_ip", "127.0.0.1",
                "peer_udp_port", 40009L, "pair_id", "00000000000000cd", "pair_key", Base64.getEncoder().encodeToString(KEY),
                "role", "responder", "start_in_ms", 0L));
        clock.advance(10_000);
        assertTrue(sent.isEmpty());
        assertTrue(peers.status().isEmpty());
        assertEquals(Json.obj("type", "p2p_connection_decline", "pair_id", "00000000000000cd", "detail", "not in this worker's P2P_ALLOW"),
                toRendezvous.getLast());
    }

    @Test
    void links_areCappedAndTheOldestUndirectedArePruned() {
        Peers open = new Peers("me", (d, to) -> { }, m -> true, clock, new Peers.Settings(500, 50, 15_000, 3000, 30_000, List.of(), List.of("*")));
        for (int i = 0; i < Peers.MAX_LINKS + 20; i++) {
            clock.advance(1);
            deliver(open, Json.obj("type", "p2p_connection_offer", "peer_worker_id", "p" + i, "peer_udp_ip", "127.0.0.1",
                    "peer_udp_port", 40002L, "pair_id", Long.toHexString(0x1000 + i), "pair_key", Base64.getEncoder().encodeToString(KEY),
                    "role", "responder", "start_in_ms", 0L));
        }
        assertEquals(Peers.MAX_LINKS, open.status().size());
        assertTrue(open.status().stream().noneMatch(m -> m.get("peer_worker_id").equals("p0")), "the oldest went first");
    }
}
