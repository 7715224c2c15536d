package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.protocol.NatBehaviour;
import holepunch.protocol.RelayData;
import holepunch.protocol.Role;
import org.junit.jupiter.api.Test;

import java.util.Base64;
import java.util.List;
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
}
