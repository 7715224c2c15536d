package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.crypto.Keys;
import holepunch.json.Json;
import holepunch.protocol.Message;
import holepunch.protocol.P2pConnectionDecline;
import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.P2pConnectionStatus;
import holepunch.protocol.RelayData;
import holepunch.protocol.RequestP2pConnection;
import holepunch.protocol.Role;
import holepunch.testing.FakeScheduler;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The peer state machine on a fake clock, against a scripted peer that holds its own key and runs
 * its side of the path crypto: bursts are bounded, only authentic answers open a path, payloads
 * are sealed end to end, and nothing replayed, reflected or forged is delivered.
 */
class PeersTest {
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
        p.onData((peer, payload) -> delivered.add(new String(payload, StandardCharsets.UTF_8)));
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

    private void offer() {
        deliver(peers, offerJson("peer", PAIR, THEM, "initiator"));
    }

    private Object state() {
        return peers.status().getFirst().get("state");
    }

    private Probe ours(Sent s) {
        return Probe.parse(s.data(), s.data().length, them.recvProbeKey);
    }

    private byte[] fromThem(Probe.Kind kind, long counter) {
        return new Probe(kind, PAIR, counter, null).encode(them.sendProbeKey);
    }

    private byte[] ackFor(Sent probe) {
        return fromThem(Probe.Kind.PROBE_ACK, ours(probe).counter());
    }

    /** Plays the peer's half of the handshake that "me" started over the relay; returns what "me" sent back. */
    private void completeHandshake() {
        RelayData init = relayed().getFirst();
        byte[] hs1 = Base64.getDecoder().decode(init.data());
        PathCrypto.Result answer = them.onHandshake(Probe.parse(hs1, hs1.length, them.recvProbeKey));
        assertNull(answer.dropped());
        toRendezvous.clear();
        peers.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(answer.reply())));
    }

    private List<RelayData> relayed() {
        return toRendezvous.stream().filter(m -> m instanceof RelayData).map(m -> (RelayData) m).toList();
    }

    @Test
    void silentPeer_getsABoundedBurstThenRelayWithAReason() {
        offer();
        clock.advance(99);
        assertTrue(sent.isEmpty(), "nothing over UDP before the coordinated start");
        clock.advance(10_000);
        assertTrue(sent.size() >= 10 && sent.size() <= 12, "burst of deadline/interval probes, got " + sent.size());
        assertTrue(sent.stream().allMatch(s -> s.to().equals(PEER)));
        assertEquals("relay", state());
        assertTrue(((String) peers.status().getFirst().get("detail")).contains("no probe answered"));
        assertEquals("relay", toRendezvous.stream().filter(m -> m instanceof P2pConnectionStatus).map(m -> ((P2pConnectionStatus) m).state().wire())
                .reduce((a, b) -> b).orElseThrow());
        assertFalse(peers.send("peer", "too early".getBytes()), "no keys yet: nothing is sent in clear");
        completeHandshake();
        toRendezvous.clear();
        assertTrue(peers.send("peer", new byte[] {1, 2, 3}));
        assertEquals(1, relayed().size(), "no direct path: payloads go to the relay");
    }

    @Test
    void authenticAnswer_makesTheLinkDirect_forgedOrReplayedOnesDoNot() {
        offer();
        clock.advance(100);
        Sent first = sent.getFirst();
        PathCrypto stranger = new PathCrypto(Identity.generate(), ME.publicIdentity(), Role.RESPONDER, PAIR, "me", "peer");
        byte[] forged = new Probe(Probe.Kind.PROBE_ACK, PAIR, ours(first).counter(), null).encode(stranger.sendProbeKey);
        assertFalse(peers.onDatagram(PEER, forged, forged.length), "a datagram made without the peer's key is refused");
        byte[] unknownNonce = fromThem(Probe.Kind.PROBE_ACK, 12345);
        peers.onDatagram(PEER, unknownNonce, unknownNonce.length);
        assertEquals("connecting", state(), "an answer to a probe we never sent opens nothing");

        byte[] ack = ackFor(first);
        assertTrue(peers.onDatagram(PEER, ack, ack.length));
        assertEquals("direct", state());
        assertEquals("127.0.0.1:40002", peers.status().getFirst().get("remote"));

        InetSocketAddress attacker = new InetSocketAddress("127.0.0.1", 50000);
        peers.onDatagram(attacker, ack, ack.length);
        assertEquals("127.0.0.1:40002", peers.status().getFirst().get("remote"), "a replayed answer cannot move the path");
    }

    @Test
    void peersProbe_isAnsweredOnceAndItsSourceBecomesACandidate() {
        offer();
        byte[] probe = fromThem(Probe.Kind.PROBE, 777);
        InetSocketAddress reflexive = new InetSocketAddress("127.0.0.1", 45555);
        peers.onDatagram(reflexive, probe, probe.length);
        peers.onDatagram(reflexive, probe, probe.length);     // replayed: not answered again
        List<Sent> acks = sent.stream().filter(s -> ours(s) != null && ours(s).kind() == Probe.Kind.PROBE_ACK).toList();
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
        byte[] ack = ackFor(sent.getFirst());
        peers.onDatagram(PEER, ack, ack.length);
        assertEquals("direct", state());
        clock.advance(15_000 + 3_000);     // a keepalive goes out and nothing answers it
        assertEquals("connecting", state());
        assertTrue(((String) peers.status().getFirst().get("detail")).contains("stopped answering"));
    }

    @Test
    void failedPeer_isRetriedWithBackoff() {
        Peers asking = peers(new PeerSettings(500, 50, 15_000, 3000, 1_000, List.of("peer"), List.of("peer"), Map.of(), 120_000));
        asking.onData((p, d) -> { });
        List<Long> requests = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            Map<String, Object> o = offerJson("peer", 0x100 + round, THEM, "initiator");
            o.put("start_in_ms", 0L);
            deliver(asking, o);
            long failedAt = -1;
            for (int ms = 0; ms < 60_000 && requests.size() == round; ms += 10) {
                clock.advance(10);
                if (failedAt < 0 && "relay".equals(asking.status().getFirst().get("state"))) failedAt = clock.nowMillis();
                if (toRendezvous.stream().anyMatch(m -> m instanceof RequestP2pConnection)) {
                    requests.add(clock.nowMillis() - failedAt);
                    toRendezvous.clear();
                }
            }
        }
        assertEquals(3, requests.size());
        assertTrue(requests.get(0) >= 1000 && requests.get(1) >= 2000 && requests.get(2) >= 4000, "doubling: " + requests);
    }

    /** Both workers started together: the peer we ask for is not registered yet, so we ask again soon, then less often. */
    @Test
    void introductionRefused_isAskedAgainSoon_thenLessOften_onceAtATime_andNotOnceLinked() {
        Peers asking = peers(List.of("peer"), Map.of(), List.of("peer"));
        List<Long> gaps = new ArrayList<>();
        for (int round = 0; round < 7; round++) {
            long refusedAt = clock.nowMillis();
            asking.onError(new holepunch.protocol.P2pConnectionError("peer", null, "worker 'peer' is not registered"));
            for (int ms = 0; ms < 10_000 && toRendezvous.isEmpty(); ms += 10) clock.advance(10);
            assertTrue(toRendezvous.getLast() instanceof RequestP2pConnection r && r.targetWorkerId().equals("peer"), toRendezvous.toString());
            gaps.add(clock.nowMillis() - refusedAt);
            toRendezvous.clear();
        }
        assertEquals(List.of(250L, 500L, 1000L, 2000L, 4000L, 5000L, 5000L), gaps, "250 ms, doubling, capped at 5 s");


        // Two refusals at once (the endpoint was reported twice): one question again, not two; and
        // none when an offer made a link meanwhile (a second pair would replace the first).
        toRendezvous.clear();
        Peers fresh = peers(List.of("other"), Map.of(), List.of("other"));
        fresh.onError(new holepunch.protocol.P2pConnectionError("other", null, "worker 'other' is not registered"));
        fresh.onError(new holepunch.protocol.P2pConnectionError("other", null, "worker 'other' is not registered"));
        clock.advance(10_000);
        assertEquals(1, toRendezvous.stream().filter(m -> m instanceof RequestP2pConnection).count(), toRendezvous.toString());
        toRendezvous.clear();
        fresh.onError(new holepunch.protocol.P2pConnectionError("other", null, "worker 'other' is not registered"));
        deliver(fresh, offerJson("other", 0x400, THEM, "initiator"));
        clock.advance(10_000);
        assertEquals(0, toRendezvous.stream().filter(m -> m instanceof RequestP2pConnection).count(), "the link exists: " + toRendezvous);
    }

    @Test
    void offerWithoutUsableKeyOrAddress_isIgnored() {
        deliver(peers, Json.obj("type", "p2p_connection_offer", "peer_worker_id", "peer", "pair_id", "zz", "pair_key", "!!"));
        Map<String, Object> noAddress = offerJson("peer", 1, THEM, "initiator");
        noAddress.put("peer_udp_ip", "not-ip");
        deliver(peers, noAddress);
        Map<String, Object> badSig = offerJson("peer", 2, THEM, "initiator");
        badSig.put("peer_static_key", Keys.b64(Identity.generate().publicIdentity().staticKey()));    // not the one THEM signed
        deliver(peers, badSig);
        assertTrue(peers.status().isEmpty());
    }

    @Test
    void reflectedDatagrams_neverVerify_soABounceCannotOpenAPath() {
        offer();
        clock.advance(100);
        Sent ourProbe = sent.getFirst();
        InetSocketAddress reflector = new InetSocketAddress("127.0.0.1", 50001);
        sent.clear();
        assertFalse(peers.onDatagram(reflector, ourProbe.data(), ourProbe.data().length), "our own probe, bounced back");
        assertTrue(sent.stream().noneMatch(s -> s.to().equals(reflector)), "a bounced probe is not answered");
        byte[] theirs = fromThem(Probe.Kind.PROBE, 1);
        peers.onDatagram(PEER, theirs, theirs.length);
        Sent ourAck = sent.stream().filter(s -> ours(s) != null && ours(s).kind() == Probe.Kind.PROBE_ACK).findFirst().orElseThrow();
        assertFalse(peers.onDatagram(reflector, ourAck.data(), ourAck.data().length), "our own answer, bounced back");
        assertEquals("connecting", state(), "no path via the reflector");
    }

    private void makeDirect() {
        offer();
        clock.advance(100);
        byte[] ack = ackFor(sent.getFirst());
        assertTrue(peers.onDatagram(PEER, ack, ack.length));
        assertEquals("direct", state());
    }

    @Test
    void data_isSealed_deliveredOnce_andNeverWhenTampered() {
        makeDirect();
        completeHandshake();
        byte[] confirmation = Base64.getDecoder().decode(relayed().getFirst().data());
        assertArrayEquals(new byte[0], them.open(confirmation, confirmation.length).payload(), "an empty sealed datagram confirms the keys");

        sent.clear();
        assertTrue(peers.send("peer", "secret marker".getBytes()));
        byte[] wire = sent.getLast().data();
        assertEquals(PEER, sent.getLast().to(), "direct: payloads go over UDP to the remote");
        assertFalse(new String(wire, StandardCharsets.ISO_8859_1).contains("secret marker"), "the payload is not in clear on the wire");
        assertEquals("secret marker", new String(them.open(wire, wire.length).payload(), StandardCharsets.UTF_8));

        byte[] data = them.seal("once".getBytes());
        assertTrue(peers.onDatagram(PEER, data, data.length));
        peers.onDatagram(PEER, data, data.length);
        peers.onDatagram(PEER, data, data.length);
        assertEquals(List.of("once"), delivered, "the same DATA datagram three times is delivered once");
        for (int i = 0; i < data.length; i += 5) {
            byte[] tampered = them.seal("tampered".getBytes());
            tampered[i] ^= 1;
            peers.onDatagram(PEER, tampered, tampered.length);
        }
        assertEquals(List.of("once"), delivered, "no tampered byte is accepted");
        // Authentic data from another address of the peer (it may have settled on another of our
        // candidates) is taken; its replay, from anywhere, is not.
        InetSocketAddress elsewhere = new InetSocketAddress("127.0.0.1", 50003);
        byte[] offPath = them.seal("off path".getBytes());
        assertTrue(peers.onDatagram(elsewhere, offPath, offPath.length));
        assertFalse(peers.onDatagram(PEER, offPath, offPath.length), "a replay, from the path's address");
        assertFalse(peers.onDatagram(elsewhere, data, data.length), "a replay, from another address");
        assertEquals(List.of("once", "off path"), delivered);
    }

    @Test
    void reorderedData_isDeliveredWithinTheWindow_andRefusedBehindIt() {
        makeDirect();
        completeHandshake();
        byte[] held = them.seal("held".getBytes());                 // counter 0, delivered late
        byte[] ancient = held;
        for (int i = 0; i < 10; i++) them.seal(new byte[0]);
        byte[] recent = them.seal("recent".getBytes());
        peers.onDatagram(PEER, recent, recent.length);
        peers.onDatagram(PEER, held, held.length);
        assertEquals(List.of("recent", "held"), delivered, "reordered within the window: delivered");
        for (int i = 0; i < ReplayWindow.SIZE + 10; i++) them.seal(new byte[0]);
        byte[] newest = them.seal("newest".getBytes());
        peers.onDatagram(PEER, newest, newest.length);
        peers.onDatagram(PEER, ancient, ancient.length);
        assertEquals(List.of("recent", "held", "newest"), delivered, "behind the window: refused");
    }

    @Test
    void oldProbe_isNotAnsweredAfterNewerOnes() {
        offer();
        byte[] captured = fromThem(Probe.Kind.PROBE, 0);
        for (long c = 1; c <= 513; c++) {
            byte[] p = fromThem(Probe.Kind.PROBE, c);
            peers.onDatagram(PEER, p, p.length);
        }
        sent.clear();
        InetSocketAddress attacker = new InetSocketAddress("127.0.0.1", 50002);
        peers.onDatagram(attacker, captured, captured.length);
        assertTrue(sent.isEmpty(), "a probe 513 counters old is stale: not answered");
        byte[] fresh = fromThem(Probe.Kind.PROBE, 514);
        peers.onDatagram(attacker, fresh, fresh.length);
        assertEquals(1, sent.size(), "a fresh one is");
    }

    @Test
    void offerFromAPeerNotAllowed_isDeclinedAndCostsNoDatagram() {
        deliver(peers, offerJson("stranger", 0xcd, THEM, "responder"));
        clock.advance(10_000);
        assertTrue(sent.isEmpty());
        assertTrue(peers.status().isEmpty());
        assertEquals(new P2pConnectionDecline("cd", "not in this worker's P2P_ALLOW"), toRendezvous.getLast());
    }

    @Test
    void offerWithoutAKey_isDeclined() {
        deliver(peers, offerJson("peer", 0xce, null, "responder"));
        assertTrue(peers.status().isEmpty());
        assertTrue(((P2pConnectionDecline) toRendezvous.getLast()).detail().contains("no identity key"));
    }

    @Test
    void peerKeys_catchAnImpostorTheRendezvousIntroduces() {
        Peers pinned = peers(List.of("peer"), Map.of("peer", THEM.publicIdentity().fingerprint()), List.of());
        deliver(pinned, offerJson("peer", 0xd1, Identity.generate(), "responder"));
        assertTrue(pinned.status().isEmpty(), "an impostor's key is refused");
        P2pConnectionDecline decline = assertInstanceOf(P2pConnectionDecline.class, toRendezvous.getLast());
        assertTrue(decline.detail().contains("key mismatch"), decline.detail());
        deliver(pinned, offerJson("peer", 0xd2, THEM, "responder"));
        assertEquals(1, pinned.status().size(), "the pinned key is taken");
        Peers shortPin = peers(List.of("peer"), Map.of("peer", THEM.publicIdentity().fingerprint().substring(0, 16)), List.of());
        deliver(shortPin, offerJson("peer", 0xd3, THEM, "responder"));
        assertEquals(1, shortPin.status().size(), "a 16-character prefix pins too");
    }

    @Test
    void keys_areRotatedAndLateDatagramsOfThePreviousEpochStillOpen() {
        offer();
        completeHandshake();
        them.open(Base64.getDecoder().decode(relayed().getFirst().data()), Base64.getDecoder().decode(relayed().getFirst().data()).length);
        byte[] before = them.seal("before".getBytes());
        int epoch = them.epoch();
        toRendezvous.clear();
        clock.advance(120_000);                                       // P2P_REKEY_SEC: "me" starts a new handshake
        assertEquals(1, relayed().size(), "a new handshake over the relay");
        completeHandshake();
        assertEquals(epoch + 1, ((Number) peers.status().getFirst().get("key_epoch")).intValue());
        byte[] confirmation = Base64.getDecoder().decode(relayed().getFirst().data());
        them.open(confirmation, confirmation.length);                 // the peer switches to the new keys
        assertEquals(epoch + 1, them.epoch());
        byte[] after = them.seal("after".getBytes());
        peers.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(after)));
        peers.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(before)));
        assertEquals(List.of("after", "before"), delivered, "the previous epoch's late datagram still opens");
    }

    @Test
    void links_areCappedAndTheOldestUndirectedArePruned() {
        Peers open = peers(List.of("*"), Map.of(), List.of());
        for (int i = 0; i < Peers.MAX_LINKS + 20; i++) {
            clock.advance(1);
            deliver(open, offerJson("p" + i, 0x1000 + i, THEM, "responder"));
        }
        assertEquals(Peers.MAX_LINKS, open.status().size());
        assertTrue(open.status().stream().noneMatch(m -> m.get("peer_worker_id").equals("p0")), "the oldest went first");
    }

    @Test
    void priming_sendsOneShortLivedProbePerCandidateBeforeTheBurst() {
        List<String> events = new ArrayList<>();
        Peers primed = new Peers("me", ME, new Peers.Transport() {
            @Override
            public void send(java.nio.ByteBuffer d, InetSocketAddress to) {
                events.add("probe " + to.getPort() + " at " + clock.nowMillis());
            }

            @Override
            public boolean sendWithTtl(java.nio.ByteBuffer d, InetSocketAddress to, int ttl) {
                events.add("ttl " + ttl + " " + to.getPort() + " at " + clock.nowMillis());
                return true;
            }
        }, toRendezvous::add, clock, new PeerSettings(500, 50, 15_000, 3000, 30_000, List.of(), List.of("peer"), Map.of(), 120_000, 2, true));
        Map<String, Object> o = offerJson("peer", PAIR, THEM, "initiator");
        o.put("peer_host_candidates", List.of("10.0.0.9:40003"));
        deliver(primed, o);
        clock.advance(100 + Link.PRIME_LEAD_MILLIS);
        assertEquals(List.of("ttl 2 40002 at 100", "ttl 2 40003 at 100", "probe 40002 at 150", "probe 40003 at 150"), events,
                "one short-lived probe per candidate at the coordinated start, the burst after it");
    }

    @Test
    void relayReason_saysWhenOnlyOneSideHasIpv6() {
        Map<String, Object> o = offerJson("peer", PAIR, THEM, "initiator");
        o.put("peer_host_candidates", List.of("[2001:db8:2::2]:4000"));
        o.put("peer_nat_mapping", "endpoint-dependent");
        peers.ownMapping(holepunch.protocol.NatBehaviour.ENDPOINT_DEPENDENT, false);
        deliver(peers, o);
        clock.advance(10_000);
        String detail = (String) peers.status().getFirst().get("detail");
        assertTrue(detail.contains("both NATs map endpoint-dependently"), detail);
        assertTrue(detail.contains("only the peer has IPv6"), detail);
    }
}
