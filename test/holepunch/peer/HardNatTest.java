package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.protocol.Message;
import holepunch.protocol.NatBehaviour;
import holepunch.protocol.RelayData;
import holepunch.protocol.Role;
import holepunch.testing.FakeScheduler;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The birthday technique on a fake clock, against a scripted peer holding its own key: the hard
 * side opens a bounded set of sockets and keeps only the one that answers; the easy side probes
 * a bounded number of distinct ports at a bounded pace, and only when the peer itself (not the
 * rendezvous, not a stranger) asks; both stop at the first answer, and each runs once per worker.
 */
class HardNatTest {
    static final InetSocketAddress PEER = new InetSocketAddress("127.0.0.1", 40002);
    static final long PAIR = 0xbd;
    static final Identity ME = Identity.generate();
    static final Identity THEM = Identity.generate();

    /** A socket the fake transport hands out: what was sent from it, and whether it was closed. */
    static final class FakeSocket implements Peers.Socket {
        final List<PeersTest.Sent> sent = new ArrayList<>();
        final List<Integer> ttls = new ArrayList<>();
        final Peers.Receiver receiver;
        boolean closed;

        FakeSocket(Peers.Receiver receiver) {
            this.receiver = receiver;
        }

        @Override
        public void send(ByteBuffer d, InetSocketAddress to) {
            byte[] b = new byte[d.remaining()];
            d.get(b);
            sent.add(new PeersTest.Sent(to, b));
            ttls.add(0);
        }

        @Override
        public boolean sendWithTtl(ByteBuffer d, InetSocketAddress to, int ttl) {
            send(d, to);
            ttls.set(ttls.size() - 1, ttl);
            return true;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    final FakeScheduler clock = new FakeScheduler();
    final FakeSocket own = new FakeSocket(null);
    final List<FakeSocket> extra = new ArrayList<>();
    final List<Message> toRendezvous = new ArrayList<>();
    final List<String> delivered = new ArrayList<>();

    Peers peers(boolean hardNat) {
        Peers p = new Peers("me", ME, new Peers.Transport() {
            @Override
            public void send(ByteBuffer d, InetSocketAddress to) {
                own.send(d, to);
            }

            @Override
            public Peers.Socket open(Peers.Receiver receiver) {
                FakeSocket s = new FakeSocket(receiver);
                extra.add(s);
                return s;
            }
        }, toRendezvous::add, clock, new PeerSettings(5000, 50, 15_000, 3000, 30_000, List.of(), List.of("*"), Map.of(), 120_000, 2, hardNat));
        p.onData((peer, payload) -> delivered.add(new String(payload, StandardCharsets.UTF_8)));
        return p;
    }

    static Map<String, Object> offer(String peer, long pair, String role, String peerMapping) {
        Map<String, Object> o = PeersTest.offerJson(peer, pair, THEM, role);
        o.put("peer_nat_mapping", peerMapping);
        o.put("start_in_ms", 0L);
        return o;
    }

    static PathCrypto them(long pair, Role role, String peerId) {
        return role == Role.RESPONDER ? new PathCrypto(THEM, ME.publicIdentity(), Role.RESPONDER, pair, "me", peerId)
                : new PathCrypto(THEM, ME.publicIdentity(), Role.INITIATOR, pair, peerId, "me");
    }

    private List<RelayData> relayed() {
        return toRendezvous.stream().filter(m -> m instanceof RelayData).map(m -> (RelayData) m).toList();
    }

    private static byte[] b64(RelayData r) {
        return Base64.getDecoder().decode(r.data());
    }

    /** Plays the responder's half of the handshake "me" started over the relay. */
    private void completeHandshake(Peers p, PathCrypto them, long pair) {
        byte[] hs1 = b64(relayed().getFirst());
        PathCrypto.Result answer = them.onHandshake(Probe.parse(hs1, hs1.length, them.recvProbeKey));
        assertNull(answer.dropped());
        toRendezvous.clear();
        p.onRelay(new RelayData(Long.toHexString(pair), "peer", Base64.getEncoder().encodeToString(answer.reply())));
    }

    /** "me" as the hard side (our NAT maps per destination), initiator of a pair with {@code peer}, keys done with {@code them}. */
    private Peers hardSide(boolean technique, long pair, String peer, String peerMapping, PathCrypto them) {
        Peers p = peers(technique);
        p.ownMapping(NatBehaviour.ENDPOINT_DEPENDENT, false);
        PeersTest.deliver(p, offer(peer, pair, "initiator", peerMapping));
        completeHandshake(p, them, pair);
        return p;
    }

    private Peers hardSide(boolean technique, long pair, String peer, String peerMapping) {
        return hardSide(technique, pair, peer, peerMapping, them(pair, Role.RESPONDER, peer));
    }

    private static Probe parse(PathCrypto them, byte[] d) {
        return Probe.parse(d, d.length, them.recvProbeKey);
    }

    @Test
    void hardSide_opensBoundedSockets_keepsOnlyTheOneThatAnswers_andSendsThroughIt() {
        Peers p = peers(true);
        holepunch.metrics.Metrics metrics = new holepunch.metrics.Metrics();
        p.useMetrics(metrics);
        p.ownMapping(NatBehaviour.ENDPOINT_DEPENDENT, false);
        PathCrypto them = them(PAIR, Role.RESPONDER, "peer");
        PeersTest.deliver(p, offer("peer", PAIR, "initiator", "endpoint-independent"));
        assertTrue(extra.isEmpty(), "no extra socket before the peer has proved its key");
        completeHandshake(p, them, PAIR);

        assertEquals(HardNat.SOCKETS, extra.size());
        for (FakeSocket s : extra) {
            assertEquals(1, s.sent.size(), "one opening probe per socket");
            assertEquals(PEER, s.sent.getFirst().to());
            assertEquals(List.of(2), s.ttls, "the opening probe leaves our NAT but dies before the peer's");
            assertEquals(Probe.Kind.PROBE, parse(them, s.sent.getFirst().data()).kind());
        }
        Probe signal = relayed().stream().map(r -> parse(them, b64(r))).filter(x -> x != null && x.kind() == Probe.Kind.HARD_NAT)
                .findFirst().orElseThrow();
        assertEquals(HardNat.SOCKETS, ((signal.payload()[0] & 0xFF) << 8) | (signal.payload()[1] & 0xFF));

        // The easy side's probe falls on socket 137's mapping: answered from there, and probed back from there.
        FakeSocket winner = extra.get(137);
        InetSocketAddress easy = new InetSocketAddress("127.0.0.1", 40002);
        byte[] probe = new Probe(Probe.Kind.PROBE, PAIR, 900, null).encode(them.sendProbeKey);
        winner.receiver.onDatagram(easy, probe, probe.length);
        assertEquals(3, winner.sent.size(), "opening probe, the answer, and a probe of our own");
        assertEquals(Probe.Kind.PROBE_ACK, parse(them, winner.sent.get(1).data()).kind());
        Probe ours = parse(them, winner.sent.get(2).data());
        assertEquals(Probe.Kind.PROBE, ours.kind());
        assertEquals("connecting", p.status().getFirst().get("state"), "answering is not a round trip");
        byte[] ack = new Probe(Probe.Kind.PROBE_ACK, PAIR, ours.counter(), null).encode(them.sendProbeKey);
        winner.receiver.onDatagram(easy, ack, ack.length);

        Map<String, Object> st = p.status().getFirst();
        assertEquals("direct", st.get("state"));
        assertEquals("hard-nat", st.get("technique"));
        assertEquals(1, metrics.value("holepunch_worker_direct_paths_total", "technique", "hard-nat"));
        assertEquals(1, metrics.value("holepunch_worker_hard_nat_attempts_total", "side", "hard"));
        assertFalse(winner.closed);
        assertEquals(HardNat.SOCKETS - 1, extra.stream().filter(s -> s.closed).count(), "every other socket closed");

        int ownBefore = own.sent.size();
        assertTrue(p.send("peer", "hello".getBytes(StandardCharsets.UTF_8)));
        assertEquals(ownBefore, own.sent.size(), "not from the worker's own socket");
        assertEquals(Probe.Kind.DATA, Probe.kindOf(winner.sent.getLast().data(), winner.sent.getLast().data().length));

        byte[] sealed = them.seal("back".getBytes(StandardCharsets.UTF_8));
        winner.receiver.onDatagram(easy, sealed, sealed.length);
        assertEquals(List.of("back"), delivered);
        p.onDatagram(easy, sealed, sealed.length);
        winner.receiver.onDatagram(easy, sealed, sealed.length);
        assertEquals(List.of("back"), delivered, "a replay is not delivered again, on any socket");

        byte[] otherPair = new Probe(Probe.Kind.PROBE, PAIR + 1, 901, null).encode(them.sendProbeKey);
        int before = winner.sent.size();
        winner.receiver.onDatagram(easy, otherPair, otherPair.length);
        assertEquals(before, winner.sent.size(), "an extra socket serves its own pair only");

        p.close();
        assertTrue(winner.closed, "the path's socket closes with the link");
    }

    /**
     * Two of the easy side's probes land at once, on sockets 10 and 20; we take 10 (its answer came
     * first), the easy side took 20. Socket 20 stays open, and the path follows the peer there as
     * soon as its traffic arrives on it; sockets nobody reached close.
     */
    @Test
    void twoHitsAtOnce_thePathFollowsThePeersChoice_andTheSocketItUsesStaysOpen() {
        PathCrypto them = them(PAIR, Role.RESPONDER, "peer");
        Peers p = hardSide(true, PAIR, "peer", "endpoint-independent", them);
        FakeSocket first = extra.get(10), second = extra.get(20);
        for (FakeSocket s : List.of(first, second)) {
            byte[] probe = new Probe(Probe.Kind.PROBE, PAIR, s == first ? 900 : 901, null).encode(them.sendProbeKey);
            s.receiver.onDatagram(PEER, probe, probe.length);
        }
        Probe ours = parse(them, first.sent.getLast().data());
        byte[] ack = new Probe(Probe.Kind.PROBE_ACK, PAIR, ours.counter(), null).encode(them.sendProbeKey);
        first.receiver.onDatagram(PEER, ack, ack.length);
        assertEquals("direct", p.status().getFirst().get("state"));
        assertFalse(first.closed);
        assertFalse(second.closed, "the peer reached us there too");
        assertEquals(HardNat.SOCKETS - 2, extra.stream().filter(s -> s.closed).count());

        byte[] keepalive = new Probe(Probe.Kind.KEEPALIVE, PAIR, 950, null).encode(them.sendProbeKey);
        second.receiver.onDatagram(PEER, keepalive, keepalive.length);
        assertEquals(Probe.Kind.KEEPALIVE_ACK, parse(them, second.sent.getLast().data()).kind(), "answered where it came");
        int before = second.sent.size();
        assertTrue(p.send("peer", "hi".getBytes(StandardCharsets.UTF_8)));
        assertEquals(before + 1, second.sent.size(), "our data now goes where the peer's traffic comes from");
        p.close();
        assertTrue(first.closed && second.closed);
    }

    @Test
    void hardSide_withoutAnAnswer_closesEverySocketAtTheDeadline_andFreesTheSlot() {
        Peers p = peers(true);
        p.ownMapping(NatBehaviour.UNKNOWN, false);        // one STUN server, but the port was not kept: evidence enough
        PeersTest.deliver(p, offer("peer", PAIR, "initiator", "unknown"));
        completeHandshake(p, them(PAIR, Role.RESPONDER, "peer"), PAIR);
        assertEquals(HardNat.SOCKETS, extra.size());
        clock.advance(6000);
        assertEquals("relay", p.status().getFirst().get("state"));
        assertTrue(extra.stream().allMatch(s -> s.closed));

        toRendezvous.clear();
        PeersTest.deliver(p, offer("other", PAIR + 7, "initiator", "endpoint-independent"));
        completeHandshake(p, them(PAIR + 7, Role.RESPONDER, "other"), PAIR + 7);
        assertEquals(2 * HardNat.SOCKETS, extra.size(), "the next pair may use the technique again");
    }

    @Test
    void hardSide_sendsItsOpeningProbesAgainOneHopFurther_halfWayThroughTheBurst_unlessThePathIsOpen() {
        Peers p = hardSide(true, PAIR, "peer", "endpoint-independent");
        clock.advance(HardNat.REOPEN_AFTER_MILLIS - 1);
        assertTrue(extra.stream().allMatch(s -> s.sent.size() == 1), "only the primed probe so far");
        clock.advance(1);
        for (FakeSocket s : extra) {
            assertEquals(List.of(2, 3), s.ttls, "then once more one hop further, for a carrier's NAT behind ours, but not to the peer's NAT");
            assertEquals(PEER, s.sent.getLast().to());
        }
        clock.advance(10_000);
        assertTrue(extra.stream().allMatch(s -> s.sent.size() == 2), "and no more");

        // When a path opened before that, nothing more is sent.
        extra.clear();
        toRendezvous.clear();
        PathCrypto them = them(PAIR + 3, Role.RESPONDER, "other");
        Peers q = hardSide(true, PAIR + 3, "other", "endpoint-independent", them);
        FakeSocket winner = extra.get(7);
        byte[] probe = new Probe(Probe.Kind.PROBE, PAIR + 3, 900, null).encode(them.sendProbeKey);
        winner.receiver.onDatagram(PEER, probe, probe.length);
        Probe ours = parse(them, winner.sent.getLast().data());
        byte[] ack = new Probe(Probe.Kind.PROBE_ACK, PAIR + 3, ours.counter(), null).encode(them.sendProbeKey);
        winner.receiver.onDatagram(PEER, ack, ack.length);
        assertEquals("direct", q.status().getFirst().get("state"));
        int sent = winner.sent.size();
        clock.advance(HardNat.REOPEN_AFTER_MILLIS + 10);
        assertEquals(sent, winner.sent.size(), "the path is open: no more opening probes");
        assertTrue(extra.stream().filter(s -> s != winner).allMatch(s -> s.sent.size() == 1), "closed sockets send nothing more");
    }

    /** Each failed attempt with a peer sends the second round one hop further; the last goes at the normal TTL. */
    @Test
    void failedAttempts_sendTheSecondRoundFurtherEachTime_thenUnlimited() {
        List<List<Integer>> seen = new ArrayList<>();
        for (int failed = 0; failed < HardNat.REOPEN_STEPS; failed++) {
            extra.clear();
            toRendezvous.clear();
            Peers p = peers(true);
            p.ownMapping(NatBehaviour.ENDPOINT_DEPENDENT, false);
            if (failed > 0) p.failures.put("peer", failed);
            PeersTest.deliver(p, offer("peer", PAIR + failed, "initiator", "endpoint-independent"));
            completeHandshake(p, them(PAIR + failed, Role.RESPONDER, "peer"), PAIR + failed);
            clock.advance(HardNat.REOPEN_AFTER_MILLIS);
            seen.add(extra.getFirst().ttls);
            assertTrue(extra.stream().allMatch(s -> s.ttls.equals(extra.getFirst().ttls)));
        }
        assertEquals(List.of(List.of(2, 3), List.of(2, 4), List.of(2, 0)), seen);
    }

    @Test
    void hardSide_doesNothing_whenBothMapPerDestination_orTheTechniqueIsOff() {
        Peers both = hardSide(true, PAIR, "peer", "endpoint-dependent");
        assertTrue(extra.isEmpty(), "symmetric on both sides: the birthday technique cannot meet");

        toRendezvous.clear();
        Peers off = hardSide(false, PAIR, "peer", "endpoint-independent");
        assertTrue(extra.isEmpty(), "P2P_HARD_NAT=false");
    }

    /** The peer (the hard side) tells us over the relay; we are the easy side, the responder. */
    private PathCrypto easySide(Peers p, long pair, String peer, byte[] signalKey, long counter) {
        PeersTest.deliver(p, offer(peer, pair, "responder", "endpoint-dependent"));
        PathCrypto them = them(pair, Role.INITIATOR, peer);
        byte[] signal = new Probe(Probe.Kind.HARD_NAT, pair, counter, new byte[] {1, 0}).encode(signalKey == null ? them.sendProbeKey : signalKey);
        p.onRelay(new RelayData(Long.toHexString(pair), peer, Base64.getEncoder().encodeToString(signal)));
        return them;
    }

    private Set<Integer> sprayedPorts() {
        Set<Integer> ports = new HashSet<>();
        for (PeersTest.Sent s : own.sent) if (s.to().getPort() != PEER.getPort()) ports.add(s.to().getPort());
        return ports;
    }

    @Test
    void easySide_probesDistinctRandomPorts_boundedInCountAndPace_untilOneAnswers() {
        Peers p = peers(true);
        p.ownMapping(NatBehaviour.ENDPOINT_INDEPENDENT, true);
        PathCrypto them = easySide(p, PAIR, "peer", null, 3);
        int maxPerTick = 0;
        clock.advance(1);                      // each window below holds one tick
        for (int t = 0; t < 100; t++) {
            int before = sprayedPorts().size();
            clock.advance(HardNat.TICK_MILLIS);
            maxPerTick = Math.max(maxPerTick, sprayedPorts().size() - before);
        }
        assertTrue(maxPerTick <= HardNat.SPRAY_PER_TICK, "paced: " + maxPerTick + " in one tick");
        long toOthers = own.sent.stream().filter(s -> s.to().getPort() != PEER.getPort()).count();
        assertEquals(toOthers, sprayedPorts().size(), "no port probed twice");
        assertTrue(own.sent.stream().allMatch(s -> s.to().getAddress().equals(PEER.getAddress())), "only the peer's own address");
        assertTrue(sprayedPorts().stream().allMatch(port -> port >= HardNat.LOWEST_PORT));
        assertTrue(toOthers >= 1000, "about 1,000 a second: " + toOthers);

        // One of the last falls on the peer's mapping (its answer comes within a round trip): the path opens, the burst stops.
        List<PeersTest.Sent> spray = own.sent.stream().filter(s -> s.to().getPort() != PEER.getPort()).toList();
        PeersTest.Sent hit = spray.get(spray.size() - 10);
        Probe probe = Probe.parse(hit.data(), hit.data().length, them.recvProbeKey);
        byte[] ack = new Probe(Probe.Kind.PROBE_ACK, PAIR, probe.counter(), null).encode(them.sendProbeKey);
        assertTrue(p.onDatagram(hit.to(), ack, ack.length));
        assertEquals("direct", p.status().getFirst().get("state"));
        assertEquals("hard-nat", p.status().getFirst().get("technique"));
        int sprayed = sprayedPorts().size();
        clock.advance(5000);
        assertEquals(sprayed, sprayedPorts().size(), "no probe after the path opened");
    }

    @Test
    void easySide_unanswered_stopsAtItsBudget() {
        Peers p = peers(true);
        p.ownMapping(NatBehaviour.ENDPOINT_INDEPENDENT, true);
        easySide(p, PAIR, "peer", null, 3);
        clock.advance(20_000);
        assertEquals(HardNat.SPRAY, sprayedPorts().size());
        assertEquals("relay", p.status().getFirst().get("state"));
    }

    /** On a loaded machine the keys or the signal can come just before the link's deadline: the attempt still gets its whole burst, and no more. */
    @Test
    void aLateAttempt_runsItsWholeBurst_pastTheLinksDeadline_thenEndsOnTheRelay() {
        Peers p = peers(true);
        p.ownMapping(NatBehaviour.ENDPOINT_INDEPENDENT, true);
        PeersTest.deliver(p, offer("peer", PAIR, "responder", "endpoint-dependent"));
        clock.advance(4500);                                              // the link's deadline is 5000 ms
        PathCrypto them = them(PAIR, Role.INITIATOR, "peer");
        byte[] signal = new Probe(Probe.Kind.HARD_NAT, PAIR, 3, new byte[] {1, 0}).encode(them.sendProbeKey);
        p.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(signal)));
        clock.advance(HardNat.BURST_MILLIS);
        assertEquals(HardNat.SPRAY, sprayedPorts().size(), "the whole burst, though it ran past the deadline");
        assertEquals("connecting", p.status().getFirst().get("state"), "still waiting for the last probes' answers");
        clock.advance(HardNat.SLACK_MILLIS + 200);
        assertEquals("relay", p.status().getFirst().get("state"));
        clock.advance(10_000);
        assertEquals(HardNat.SPRAY, sprayedPorts().size(), "and no more");

        // The hard side, its keys late: its sockets stay open for the peer's burst, then close.
        extra.clear();
        toRendezvous.clear();
        Peers q = peers(true);
        q.ownMapping(NatBehaviour.ENDPOINT_DEPENDENT, false);
        PeersTest.deliver(q, offer("other", PAIR + 5, "initiator", "endpoint-independent"));
        clock.advance(4500);
        completeHandshake(q, them(PAIR + 5, Role.RESPONDER, "other"), PAIR + 5);
        assertEquals(HardNat.SOCKETS, extra.size());
        clock.advance(HardNat.SLACK_MILLIS + HardNat.BURST_MILLIS);
        assertTrue(extra.stream().noneMatch(s -> s.closed), "open while the peer's burst can still reach them");
        assertEquals("connecting", q.status().getFirst().get("state"));
        clock.advance(HardNat.SLACK_MILLIS + 200);
        assertTrue(extra.stream().allMatch(s -> s.closed));
        assertEquals("relay", q.status().getFirst().get("state"));
    }

    @Test
    void attack_aForgedOrReplayedSignal_makesUsProbeNothing() {
        Peers p = peers(true);
        p.ownMapping(NatBehaviour.ENDPOINT_INDEPENDENT, true);
        // The rendezvous (or anyone but the peer) cannot make the signal: it lacks the peer's probe key.
        PathCrypto stranger = new PathCrypto(Identity.generate(), ME.publicIdentity(), Role.INITIATOR, PAIR, "peer", "me");
        easySide(p, PAIR, "peer", stranger.sendProbeKey, 3);
        clock.advance(3000);
        assertEquals(Set.of(), sprayedPorts(), "an unauthenticated signal moves nothing");
        assertNotNull(p.status().getFirst());
    }

    @Test
    void easySide_refuses_whenOurNatMapsPerDestinationToo_orTheTechniqueIsOff() {
        Peers hard = peers(true);
        hard.ownMapping(NatBehaviour.ENDPOINT_DEPENDENT, false);
        easySide(hard, PAIR, "peer", null, 3);
        clock.advance(3000);
        assertEquals(Set.of(), sprayedPorts());

        Peers off = peers(false);
        off.ownMapping(NatBehaviour.ENDPOINT_INDEPENDENT, true);
        easySide(off, PAIR, "peer", null, 3);
        clock.advance(3000);
        assertEquals(Set.of(), sprayedPorts());
    }

    @Test
    void oneBurstAtATime_perWorker() {
        Peers p = peers(true);
        p.ownMapping(NatBehaviour.ENDPOINT_INDEPENDENT, true);
        easySide(p, PAIR, "peer", null, 3);
        easySide(p, PAIR + 1, "other", null, 3);
        clock.advance(1000);
        int afterFirstSecond = sprayedPorts().size();
        assertTrue(afterFirstSecond <= 1000 + HardNat.SPRAY_PER_TICK, "one burst, not two: " + afterFirstSecond);
    }
}
