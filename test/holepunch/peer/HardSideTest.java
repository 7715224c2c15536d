package holepunch.peer;

import holepunch.protocol.NatBehaviour;
import holepunch.protocol.Role;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The birthday technique's hard side on a fake clock ({@link HardNatFixture}): when our NAT maps per
 * destination and the peer's does not, we open a bounded set of extra sockets, probe from each, keep
 * only the one the peer's answer reaches and close the rest, and at the deadline close them all.
 */
class HardSideTest extends HardNatFixture {
    @Test
    void hardSide_opensBoundedSockets_keepsOnlyTheOneThatAnswers_andSendsThroughIt() {
        Peers p = peers(true);
        holepunch.metrics.Metrics metrics = new holepunch.metrics.Metrics();
        p.useMetrics(metrics);
        p.ownMapping(NatBehaviour.ENDPOINT_DEPENDENT, false);
        PathCrypto them = them(PAIR, Role.RESPONDER, "peer");
        PeerFixture.deliver(p, offer("peer", PAIR, "initiator", "endpoint-independent"));
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
        PeerFixture.deliver(p, offer("peer", PAIR, "initiator", "unknown"));
        completeHandshake(p, them(PAIR, Role.RESPONDER, "peer"), PAIR);
        assertEquals(HardNat.SOCKETS, extra.size());
        clock.advance(6000);
        assertEquals("relay", p.status().getFirst().get("state"));
        assertTrue(extra.stream().allMatch(s -> s.closed));

        toRendezvous.clear();
        PeerFixture.deliver(p, offer("other", PAIR + 7, "initiator", "endpoint-independent"));
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
            PeerFixture.deliver(p, offer("peer", PAIR + failed, "initiator", "endpoint-independent"));
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
}
