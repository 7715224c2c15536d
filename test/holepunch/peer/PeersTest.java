package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.crypto.Keys;
import holepunch.json.Json;
import holepunch.protocol.P2pConnectionDecline;
import holepunch.protocol.P2pConnectionStatus;
import holepunch.protocol.RequestP2pConnection;
import holepunch.protocol.Role;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The peer state machine on a fake clock, against a scripted peer ({@link PeerFixture}): bursts are
 * bounded, only authentic answers open a path, offers are taken only from peers allowed and keys
 * expected, and nothing replayed, reflected or forged opens or moves a path. (Payloads: PeerDataTest.)
 */
class PeersTest extends PeerFixture {
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
        assertEquals("relay", state(), "traffic takes the relay at once while a new pair punches");
        assertTrue(((String) peers.status().getFirst().get("detail")).contains("stopped answering"));
    }

    /** Issue 28: each pair's seconds are counted on the tier it is on (the worker ticks once a second). */
    @Test
    void tiers_areCountedEachTick() {
        holepunch.metrics.Metrics m = new holepunch.metrics.Metrics();
        peers.useMetrics(m);
        offer();
        peers.countTiers();
        clock.advance(100);
        byte[] ack = ackFor(sent.getFirst());
        assertTrue(peers.onDatagram(PEER, ack, ack.length));
        peers.countTiers();
        peers.countTiers();
        assertEquals(1, m.value("holepunch_worker_path_seconds_total", "tier", "connecting"));
        assertEquals(2, m.value("holepunch_worker_path_seconds_total", "tier", "direct"));
        assertEquals(0, m.value("holepunch_worker_path_seconds_total", "tier", "relay"));
    }

    /** Roaming (issue 28): when our endpoint moves, every peer we ask for is asked for again at once, direct or not. */
    @Test
    void endpointChanged_asksAgainForWantedPeers() {
        Peers wanting = peers(List.of("peer"), Map.of(), List.of("peer"));
        deliver(wanting, offerJson("peer", PAIR, THEM, "initiator"));
        toRendezvous.clear();
        wanting.endpointChanged();
        assertEquals(List.of(new holepunch.protocol.RequestP2pConnection("peer")),
                toRendezvous.stream().filter(x -> x instanceof holepunch.protocol.RequestP2pConnection).toList());
        toRendezvous.clear();
        peers.endpointChanged();                       // a worker that does not ask for the peer leaves it to the peer
        offer();
        toRendezvous.clear();
        peers.endpointChanged();
        assertTrue(toRendezvous.stream().noneMatch(x -> x instanceof holepunch.protocol.RequestP2pConnection));
    }

    /** A lost path is never a blackhole: payloads go over the relay with the pair's keys until a new pair has a path. */
    @Test
    void lostPath_payloadsTakeTheRelayAtOnce() {
        makeDirect();
        completeHandshake();
        clock.advance(15_000 + 3_000);
        assertEquals("relay", state());
        toRendezvous.clear();
        assertTrue(peers.send("peer", "after the loss".getBytes()), "taken");
        byte[] wire = java.util.Base64.getDecoder().decode(relayed().getFirst().data());
        assertEquals("after the loss", new String(them.open(wire, wire.length).payload(), java.nio.charset.StandardCharsets.UTF_8));
    }

    /**
     * Issue 28: a path that carries data and hears nothing back is probed within a second and
     * given up a second after that, so traffic takes the relay in about 2.5 s instead of waiting
     * for the next keepalive (15 s) and its answer (3 s). An idle path keeps the keepalive pace.
     */
    @Test
    void activePath_thatGoesSilent_isLostWithinSeconds() {
        makeDirect();
        completeHandshake();
        long lostAt = -1;
        int sentBefore = sent.size();
        for (int ms = 0; ms < 5000 && lostAt < 0; ms += 50) {
            assertTrue(peers.send("peer", "data".getBytes()) || !"direct".equals(state()));
            clock.advance(50);
            if (!"direct".equals(state())) lostAt = ms + 50;
        }
        assertTrue(lostAt > 0 && lostAt <= 2500, "lost after " + lostAt + " ms of silence while sending");
        assertTrue(((String) peers.status().getFirst().get("detail")).contains("heard nothing"), (String) peers.status().getFirst().get("detail"));
        assertTrue(sent.size() > sentBefore, "probed");
    }

    /** An idle path (nothing sent) costs no more than before: nothing before its keepalive. */
    @Test
    void idlePath_isNotProbedBeforeItsKeepalive() {
        makeDirect();
        completeHandshake();
        int before = sent.size();
        clock.advance(14_000);
        assertEquals(before, sent.size(), "no probe on an idle path before P2P_KEEPALIVE_SEC");
        assertEquals("direct", state());
    }

    /** Traffic that hears the peer (its answers, its data) keeps the path: no loss while the peer is there. */
    @Test
    void activePath_whoseProbesAreAnswered_staysDirect() {
        makeDirect();
        completeHandshake();
        for (int ms = 0; ms < 6000; ms += 50) {
            peers.send("peer", "data".getBytes());
            clock.advance(50);
            for (Sent s : List.copyOf(sent)) {
                Probe p = ours(s);
                if (p != null && p.kind() == Probe.Kind.KEEPALIVE) {
                    byte[] ack = fromThem(Probe.Kind.KEEPALIVE_ACK, p.counter());
                    peers.onDatagram(PEER, ack, ack.length);
                }
            }
            sent.clear();
        }
        assertEquals("direct", state());
    }

    /**
     * One-way traffic whose sender's direction is saturated (a TURN server relaying a flood dropped
     * most of it, the sender's probes too): the sender found its probes unanswered and left a path
     * that carried its data (the relay bench's top rate fell to the WebSocket relay's). The receiving
     * side now says so: while data arrives it sends a keepalive every half second, and nothing
     * when none does.
     */
    @Test
    void dataArriving_isAcknowledgedToTheSender_twiceASecond_andNothingWhenItStops() {
        makeDirect();
        completeHandshake();
        long receipts = receiptsWhileDataArrives(PEER, PEER);
        assertTrue(receipts >= 5 && receipts <= 7, receipts + " receipts in 3 s of arriving data");
        sent.clear();
        clock.advance(10_000);
        assertEquals(0, sent.stream().filter(s -> ours(s) != null && ours(s).kind() == Probe.Kind.RECEIPT).count(),
                "no data arriving, no receipts");
    }

    /**
     * Relay bench, TURN at the top rate (0.23-0.34x direct in two runs of three): each retry for direct (every few
     * seconds after a loss) made a new pair. The old one kept carrying (make before break), but the receiving
     * side's old pair, retired, confirmed nothing, so the sender found it silent and moved its data to the new
     * pair while that punched: the WebSocket relay, 2 s of every 6-9. A retired pair that data still arrives on
     * now confirms it as a live one does.
     */
    @Test
    void aRetiredPair_thatDataStillArrivesOn_confirmsItToTheSender() {
        makeDirect();
        completeHandshake();
        deliver(peers, offerJson("peer", PAIR + 1, THEM, "initiator"));    // a retry: the old pair is retired
        long receipts = receiptsWhileDataArrives(PEER, PEER);
        assertTrue(receipts >= 5 && receipts <= 7, receipts + " receipts from the retired pair in 3 s of arriving data");
    }

    /**
     * The relay bench again: the sender took TURN at its deadline, but the receiver's punching of the same pair
     * had failed (its probes lost in the congested TURN server), so that side was on the relay and confirmed
     * nothing; the sender lost the path 2.0 s later, every time. Data that arrives is now confirmed to where it
     * came from, whatever this side's own state.
     */
    @Test
    void dataArriving_onAPairWhosePunchingFailedHere_isConfirmedToWhereItCameFrom() {
        offer();
        completeHandshake();
        clock.advance(1000);
        assertEquals("relay", state(), "nothing answered here by the deadline");
        InetSocketAddress turnRelayed = new InetSocketAddress("127.0.0.1", 45999);
        long receipts = receiptsWhileDataArrives(turnRelayed, turnRelayed);
        assertTrue(receipts >= 5 && receipts <= 7, receipts + " receipts to where the data came from in 3 s");
    }

    /**
     * Relay bench, TURN at the top rate: a pair whose path went through the peer's relayed address carried 27,000-40,000
     * datagrams/s, one through this worker's own allocation to the peer's socket 85,000, on the same coturn; and a path
     * through both allocations is relayed twice. The first TURN answer was taken, whichever it was. Of those that answer
     * by the deadline, the one through our own allocation is taken now, and one through both allocations never displaces it.
     */
    @Test
    void ofTheTurnPathsThatAnswer_theOneThroughOurOwnAllocationIsTaken() {
        onTurnThroughOurAllocation();
        Map<String, Object> status = peers.status().getFirst();
        assertEquals("turn", status.get("technique"), "nothing direct: TURN at the deadline: " + status);
        assertEquals(Peers.text(PEER), status.get("remote"), "through our own allocation to the peer's socket: " + status);
    }

    /**
     * Attack: a receipt can slow a TURN path down to 100 datagrams/s, so only the peer may make one. Whoever sees the
     * path's datagrams (the TURN server, anyone on the way) can send one claiming that nothing arrived: made without
     * the pair's probe key it is dropped (unauthenticated) and paces nothing, and the peer's own played again is
     * dropped (replay) and moves nothing. The same claim made with the key does pace the path.
     */
    @Test
    void forgedOrReplayedReceipts_cannotSlowATurnPath() {
        holepunch.metrics.Metrics m = new holepunch.metrics.Metrics();
        peers.useMetrics(m);
        Peers.Socket allocation = onTurnThroughOurAllocation();
        byte[] strangersKey = new byte[32];
        byte[][] forged = {receipt(strangersKey, 1_000_010, 0, 0), receipt(strangersKey, 1_000_011, 10_000, 0)};
        for (byte[] r : forged) {
            assertFalse(peers.onDatagram(allocation, PEER, r, r.length));
            clock.advance(500);
        }
        assertEquals(2, m.value("holepunch_worker_dropped_total", "reason", "unauthenticated"));
        assertNull(peers.status().getFirst().get("turn_paced_per_sec"), "forged receipts pace nothing");
        byte[] baseline = receipt(them.sendProbeKey, 1_000_012, 0, 0), nothingArrived = receipt(them.sendProbeKey, 1_000_013, 10_000, 0);
        assertTrue(peers.onDatagram(allocation, PEER, baseline, baseline.length));
        clock.advance(500);
        assertTrue(peers.onDatagram(allocation, PEER, nothingArrived, nothingArrived.length));
        Object paced = peers.status().getFirst().get("turn_paced_per_sec");
        assertTrue(paced instanceof Number, "the peer's own receipts pace it: " + peers.status().getFirst());
        clock.advance(500);
        assertTrue(peers.onDatagram(allocation, PEER, nothingArrived, nothingArrived.length), "authentic, so taken as heard");
        assertEquals(1, m.value("holepunch_worker_dropped_total", "reason", "replay"));
        assertEquals(paced, peers.status().getFirst().get("turn_paced_per_sec"), "played again, it moves nothing (taken, it would lift the pacing)");
    }

    /** A RECEIPT as the peer's side would make it with {@code key}: epoch 0, the highest counter and the count it opened. */
    private static byte[] receipt(byte[] key, long counter, long highest, long opened) {
        byte[] body = java.nio.ByteBuffer.allocate(Probe.RECEIPT_BODY).put((byte) 0).putLong(highest).putLong(opened).array();
        return new Probe(Probe.Kind.RECEIPT, PAIR, counter, body).encode(key);
    }

    /**
     * An offer with the peer's relayed address, and three TURN answers, worst first: from the peer's relayed address
     * to our socket, from the peer's socket through our allocation, and through both allocations; then the deadline.
     * Returns our allocation (a socket whose sends are kept apart from the worker's own).
     */
    private Peers.Socket onTurnThroughOurAllocation() {
        InetSocketAddress peersRelayed = new InetSocketAddress("127.0.0.1", 45999);
        List<Sent> viaAllocation = new ArrayList<>();
        Peers.Socket allocation = new Peers.Socket() {
            @Override
            public void send(java.nio.ByteBuffer d, InetSocketAddress to) {
                byte[] b = new byte[d.remaining()];
                d.get(b);
                viaAllocation.add(new Sent(to, b));
            }

            @Override
            public boolean relayed() {
                return true;
            }
        };
        Map<String, Object> o = offerJson("peer", PAIR, THEM, "initiator");
        o.put("peer_relay_candidate", "127.0.0.1:45999");
        deliver(peers, o);
        clock.advance(100);
        Sent toRelayed = sent.stream().filter(s -> peersRelayed.equals(s.to()) && ours(s) != null).findFirst().orElseThrow();
        byte[] first = ackFor(toRelayed);
        assertTrue(peers.onDatagram(peersRelayed, first, first.length), "the peer's relayed address answers first");
        // The peer probes our relayed address: its probe comes through our allocation, which probes back the same way.
        byte[] theirs = fromThem(Probe.Kind.PROBE, 1_000_001);
        assertTrue(peers.onDatagram(allocation, PEER, theirs, theirs.length));
        Sent ourProbe = viaAllocation.stream().filter(s -> PEER.equals(s.to()) && ours(s) != null && ours(s).kind() == Probe.Kind.PROBE)
                .findFirst().orElseThrow();
        byte[] second = ackFor(ourProbe);
        assertTrue(peers.onDatagram(allocation, PEER, second, second.length), "then the peer's socket, through our allocation");
        // And the peer's allocation probes ours: through both, which answers last and must not displace it.
        byte[] fromTheirAllocation = fromThem(Probe.Kind.PROBE, 1_000_002);
        assertTrue(peers.onDatagram(allocation, peersRelayed, fromTheirAllocation, fromTheirAllocation.length));
        Sent viaBoth = viaAllocation.stream().filter(s -> peersRelayed.equals(s.to()) && ours(s) != null && ours(s).kind() == Probe.Kind.PROBE)
                .findFirst().orElseThrow();
        byte[] third = ackFor(viaBoth);
        assertTrue(peers.onDatagram(allocation, peersRelayed, third, third.length), "through both allocations");
        clock.advance(600);
        return allocation;
    }

    /**
     * Attack: a receipt makes this worker send to where data came from, so only data that opens with the pair's
     * keys may draw one. A datagram made without the key and a recorded one played from a victim's address (a
     * replay) reach the pair but draw nothing toward that address.
     */
    @Test
    void forgedOrReplayedData_fromAnotherAddress_drawsNoReceipt() {
        makeDirect();
        completeHandshake();
        InetSocketAddress victim = new InetSocketAddress("127.0.0.1", 47777);
        byte[] recorded = them.seal("once".getBytes(StandardCharsets.UTF_8));
        assertTrue(peers.onDatagram(PEER, recorded, recorded.length), "taken once, from the peer");
        sent.clear();
        for (int ms = 0; ms < 3000; ms += 10) {
            byte[] forged = them.seal("forged".getBytes(StandardCharsets.UTF_8));
            forged[forged.length - 1] ^= 1;                 // made without the key: its tag does not check out
            assertFalse(peers.onDatagram(victim, forged, forged.length));
            assertFalse(peers.onDatagram(victim, recorded, recorded.length));
            clock.advance(10);
        }
        assertTrue(sent.stream().noneMatch(s -> victim.equals(s.to())), "datagrams sent to the victim: " + sent.size());
    }

    /**
     * Feeds 3 s of the peer's data from {@code from} (100 a second) and counts this side's receipts sent to {@code to},
     * each of which says how many had arrived when it was made: its count grows, and the last is the 300 fed.
     */
    private long receiptsWhileDataArrives(InetSocketAddress from, InetSocketAddress to) {
        sent.clear();
        for (int ms = 0; ms < 3000; ms += 10) {
            byte[] data = them.seal("flow".getBytes(StandardCharsets.UTF_8));
            assertTrue(peers.onDatagram(from, data, data.length), "the peer's data is taken");
            clock.advance(10);
        }
        List<Long> counts = sent.stream().filter(s -> to.equals(s.to()) && ours(s) != null && ours(s).kind() == Probe.Kind.RECEIPT)
                .map(s -> java.nio.ByteBuffer.wrap(ours(s).payload()).getLong(9)).toList();     // epoch (1), highest counter (8), opened (8)
        for (int i = 1; i < counts.size(); i++) assertTrue(counts.get(i) > counts.get(i - 1), "receipt counts: " + counts);
        assertTrue(!counts.isEmpty() && counts.getLast() >= 250 && counts.getLast() <= 300, "receipt counts: " + counts);
        return counts.size();
    }

    /**
     * The same bench: the retries after a loss came faster than this worker's own offer budget (6 a minute for a
     * peer), so it declined an offer it had asked for, which left the peer's side on a pair this side refused.
     * A retry now waits until the budget can follow its offer; none is declined.
     */
    @Test
    void retriesForDirect_waitForTheOfferBudget_andNoAskedForOfferIsDeclined() {
        Peers asking = peers(new PeerSettings(500, 50, 15_000, 3000, 100, List.of("peer"), List.of("peer"), Map.of(), 120_000));
        asking.onData((p, b, o, n) -> { });
        List<Long> asked = new ArrayList<>();
        for (int round = 0; round < 6; round++) {
            Map<String, Object> o = offerJson("peer", 0x200 + round, THEM, "initiator");
            o.put("start_in_ms", 0L);
            deliver(asking, o);
            toRendezvous.removeIf(m -> !(m instanceof RequestP2pConnection) && !(m instanceof holepunch.protocol.P2pConnectionDecline));
            assertTrue(toRendezvous.stream().noneMatch(m -> m instanceof holepunch.protocol.P2pConnectionDecline), "declined: " + toRendezvous);
            toRendezvous.clear();
            for (int ms = 0; ms < 60_000 && toRendezvous.stream().noneMatch(m -> m instanceof RequestP2pConnection); ms += 10) clock.advance(10);
            asked.add(clock.nowMillis());
        }
        // 3 at once, then one each 10 s (the budget's pace): the fourth ask waits for it, the fifth and sixth too.
        assertTrue(asked.get(3) - asked.get(2) >= 5_000 && asked.get(4) - asked.get(3) >= 9_000 && asked.get(5) - asked.get(4) >= 9_000,
                "asks at " + asked);
    }

    @Test
    void failedPeer_isRetriedWithBackoff() {
        Peers asking = peers(new PeerSettings(500, 50, 15_000, 3000, 1_000, List.of("peer"), List.of("peer"), Map.of(), 120_000));
        asking.onData((p, b, o, n) -> { });
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

    @Test
    void oldProbe_isNotAnsweredAfterNewerOnes() {
        offer();
        byte[] captured = fromThem(Probe.Kind.PROBE, 0);
        for (long c = 1; c <= 513; c++) {
            byte[] p = fromThem(Probe.Kind.PROBE, c);
            peers.onDatagram(PEER, p, p.length);
        }
        clock.advance(ProbeLedger.ANSWER_BURST * 1000L / ProbeLedger.ANSWERS_PER_SEC);    // the answer budget those 513 spent comes back
        sent.clear();
        InetSocketAddress attacker = new InetSocketAddress("127.0.0.1", 50002);
        peers.onDatagram(attacker, captured, captured.length);
        assertTrue(sent.isEmpty(), "a probe 513 counters old is stale: not answered");
        byte[] fresh = fromThem(Probe.Kind.PROBE, 514);
        peers.onDatagram(attacker, fresh, fresh.length);
        assertEquals(1, sent.size(), "a fresh one is");
    }

    private long acksSent() {
        return sent.stream().filter(s -> ours(s) != null && ours(s).kind() == Probe.Kind.PROBE_ACK).count();
    }

    /**
     * Attack: a peer we accept holds its probe key, so it can make fresh PROBEs without end, from
     * any source address it can spoof; each would be answered, at its pace, to that address. The
     * answers are bounded per peer (and per worker): a burst, then a rate.
     */
    @Test
    void probeFlood_fromAnAcceptedPeer_isAnsweredOnlyWithinABudget() {
        offer();
        int counter = 0;
        for (int i = 0; i < 5000; i++) {
            byte[] p = fromThem(Probe.Kind.PROBE, ++counter);
            peers.onDatagram(new InetSocketAddress("192.0.2." + (i % 250 + 1), 1024 + i), p, p.length);
        }
        long atOnce = acksSent();
        assertTrue(atOnce >= 256 && atOnce <= ProbeLedger.ANSWER_BURST, atOnce + " answers to 5,000 probes at one instant");
        for (int ms = 0; ms < 1000; ms++) {
            clock.advance(1);
            for (int i = 0; i < 5; i++) {
                byte[] p = fromThem(Probe.Kind.PROBE, ++counter);
                peers.onDatagram(new InetSocketAddress("198.51.100." + (i + 1), 2000 + ms), p, p.length);
            }
        }
        long inASecond = acksSent() - atOnce;
        assertTrue(inASecond <= ProbeLedger.ANSWERS_PER_SEC + 1, inASecond + " answers to 5,000 probes over one second");
    }

    private long probesSent() {
        return sent.stream().filter(s -> ours(s) != null && ours(s).kind() == Probe.Kind.PROBE).count();
    }

    /**
     * Attack: the rendezvous chooses the addresses an offer makes this worker probe. One that
     * offers a peer this worker accepts again and again (with the key the peer proved: another one
     * is refused, KnownPeersTest) would have it probe, 400 datagrams an offer, wherever and as often
     * as it likes. Offers are followed within a budget per peer (and per worker); past it they are declined.
     */
    @Test
    void offersAgainAndAgain_costProbesOnlyWithinABudget() {
        for (int i = 0; i < 60; i++) {
            deliver(peers, offerJson("peer", 0x500 + i, THEM, "initiator"));
            clock.advance(1000);
        }
        long declined = toRendezvous.stream().filter(m -> m instanceof P2pConnectionDecline d && d.detail().contains("too many offers")).count();
        long followed = 60 - declined;
        assertTrue(followed <= OfferBudget.BURST_PER_PEER + OfferBudget.PER_PEER_PER_MIN, followed + " of 60 offers in a minute followed");
        assertTrue(probesSent() <= followed * Peers.MAX_PROBES_PER_OFFER);

        Peers open = peers(List.of("*"), Map.of(), List.of());
        toRendezvous.clear();
        for (int i = 0; i < 200; i++) deliver(open, offerJson("p" + i, 0x900 + i, Identity.generate(), "initiator"));
        long declinedAtOnce = toRendezvous.stream().filter(m -> m instanceof P2pConnectionDecline).count();
        assertEquals(200 - OfferBudget.BURST, declinedAtOnce, "offers for 200 peers at once: the worker's burst is followed");
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
    void links_areCappedAndTheOldestUndirectedArePruned() {
        Peers open = peers(List.of("*"), Map.of(), List.of());
        for (int i = 0; i < Peers.MAX_LINKS + 20; i++) {
            clock.advance(60_000 / OfferBudget.PER_MIN);         // within the worker's offer budget
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
