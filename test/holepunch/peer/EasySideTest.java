package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.protocol.NatBehaviour;
import holepunch.protocol.RelayData;
import holepunch.protocol.Role;
import org.junit.jupiter.api.Test;

import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The birthday technique's easy side on a fake clock ({@link HardNatFixture}): it probes a bounded
 * number of distinct random ports at a bounded pace, only when the peer itself (not the rendezvous,
 * not a stranger) asks, stops at the first answer, and runs one burst at a time per worker.
 */
class EasySideTest extends HardNatFixture {
    /** "me" with the technique on, behind a NAT that maps endpoint-independently and keeps ports: the easy side. */
    private Peers easyWorker() {
        Peers p = peers(true);
        p.ownMapping(NatBehaviour.ENDPOINT_INDEPENDENT, true);
        return p;
    }

    @Test
    void easySide_probesDistinctRandomPorts_boundedInCountAndPace_untilOneAnswers() {
        Peers p = easyWorker();
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
        List<PeerFixture.Sent> spray = own.sent.stream().filter(s -> s.to().getPort() != PEER.getPort()).toList();
        PeerFixture.Sent hit = spray.get(spray.size() - 10);
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
        Peers p = easyWorker();
        easySide(p, PAIR, "peer", null, 3);
        clock.advance(20_000);
        assertEquals(HardNat.SPRAY, sprayedPorts().size());
        assertEquals("relay", p.status().getFirst().get("state"));
    }

    /** On a loaded machine the keys or the signal can come just before the link's deadline: the attempt still gets its whole burst, and no more. */
    @Test
    void aLateAttempt_runsItsWholeBurst_pastTheLinksDeadline_thenEndsOnTheRelay() {
        Peers p = easyWorker();
        PeerFixture.deliver(p, offer("peer", PAIR, "responder", "endpoint-dependent"));
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
        PeerFixture.deliver(q, offer("other", PAIR + 5, "initiator", "endpoint-independent"));
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
        Peers p = easyWorker();
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
        Peers p = easyWorker();
        easySide(p, PAIR, "peer", null, 3);
        easySide(p, PAIR + 1, "other", null, 3);
        clock.advance(1000);
        int afterFirstSecond = sprayedPorts().size();
        assertTrue(afterFirstSecond <= 1000 + HardNat.SPRAY_PER_TICK, "one burst, not two: " + afterFirstSecond);
    }

    /**
     * Issue 23, finding 8: an accepted peer reported another host's address (the rendezvous stores
     * what it is sent) and, with one HARD_NAT control, had this worker spray 2,048 probes at that
     * host's ports. A burst now goes only to the address the rendezvous saw the peer at, or one an
     * authenticated datagram of the peer came from.
     */
    @Test
    void attack_aPeerReportingAnotherHostsAddress_getsNoBurstThere() {
        Peers p = easyWorker();
        Map<String, Object> o = offer("peer", PAIR, "responder", "endpoint-dependent");
        o.put("peer_observed_ip", "203.0.113.5");                    // where the peer really is; 127.0.0.1 is its victim
        PeerFixture.deliver(p, o);
        PathCrypto them = them(PAIR, Role.INITIATOR, "peer");
        byte[] signal = new Probe(Probe.Kind.HARD_NAT, PAIR, 3, new byte[] {1, 0}).encode(them.sendProbeKey);
        p.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(signal)));
        clock.advance(20_000);
        assertEquals(0, sprayedPorts().size(), "no probe to the victim's random ports");
    }

    /** An authenticated datagram of the peer from an address proves it: then the burst may go there. */
    @Test
    void anAddressTheKeyedPeerSentFrom_isProven() {
        Peers p = easyWorker();
        Map<String, Object> o = offer("peer", PAIR, "responder", "endpoint-dependent");
        o.remove("peer_observed_ip");
        PeerFixture.deliver(p, o);
        PathCrypto them = them(PAIR, Role.INITIATOR, "peer");
        byte[] probe = new Probe(Probe.Kind.PROBE, PAIR, 1, null).encode(them.sendProbeKey);
        p.onDatagram(PEER, probe, probe.length);                       // from the peer's reported address, with its key
        byte[] signal = new Probe(Probe.Kind.HARD_NAT, PAIR, 3, new byte[] {1, 0}).encode(them.sendProbeKey);
        p.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(signal)));
        clock.advance(HardNat.BURST_MILLIS);
        assertTrue(sprayedPorts().size() > 1000, "proven: " + sprayedPorts().size());
    }

    /** Each new offer started a fresh burst (6,329 datagrams from 3 controls in 7.5 s); a peer's bursts now have a budget offers do not reset. */
    @Test
    void attack_newOffersDoNotResetTheBurstBudget() {
        Peers p = easyWorker();
        int bursts = 0;
        for (int round = 0; round < Peers.BURSTS_PER_PEER + 2; round++) {
            long pair = PAIR + 1 + round;
            int before = sprayedPorts().size();
            PeerFixture.deliver(p, offer("peer", pair, "responder", "endpoint-dependent"));
            PathCrypto them = them(pair, Role.INITIATOR, "peer");
            byte[] signal = new Probe(Probe.Kind.HARD_NAT, pair, 3, new byte[] {1, 0}).encode(them.sendProbeKey);
            p.onRelay(new RelayData(Long.toHexString(pair), "peer", Base64.getEncoder().encodeToString(signal)));
            clock.advance(HardNat.BURST_MILLIS + 1000);
            if (sprayedPorts().size() > before) bursts++;
            own.sent.clear();
        }
        assertEquals(Peers.BURSTS_PER_PEER, bursts, "within a minute, the budget's bursts and no more");
    }
}
