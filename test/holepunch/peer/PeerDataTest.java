package holepunch.peer;

import holepunch.protocol.RelayData;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Payloads between two workers, against a scripted peer ({@link PeerFixture}): sealed end to end,
 * delivered once, within a replay window, never when tampered, and still opened across a key
 * rotation.
 */
class PeerDataTest extends PeerFixture {
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

    /**
     * A direct retry (a new offer for a peer whose pair has keys) costs no traffic: until the new
     * pair has keys, payloads leave on the old one and the old one still delivers; then the new one
     * carries, and ten seconds on the old one is gone.
     */
    @Test
    void aNewPairForThePeer_carriesOnTheOldOneUntilItHasKeys() {
        offer();
        completeHandshake();
        byte[] confirmation = Base64.getDecoder().decode(relayed().getFirst().data());
        them.open(confirmation, confirmation.length);
        toRendezvous.clear();
        deliver(peers, offerJson("peer", 0xcd, THEM, "initiator"));          // the retry: pair cd, no keys yet
        RelayData init = relayed().stream().filter(r -> Long.parseUnsignedLong(r.pairId(), 16) == 0xcd).findFirst().orElseThrow();
        toRendezvous.clear();
        assertTrue(peers.send("peer", "during".getBytes()), "a payload while the new pair has no keys");
        RelayData during = relayed().getFirst();
        assertEquals(PAIR, Long.parseUnsignedLong(during.pairId(), 16), "it left on the old pair");
        byte[] wire = Base64.getDecoder().decode(during.data());
        assertEquals("during", new String(them.open(wire, wire.length).payload(), StandardCharsets.UTF_8));
        byte[] late = them.seal("late".getBytes());
        peers.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(late)));
        assertEquals(List.of("late"), delivered, "the old pair still delivers");

        PathCrypto next = new PathCrypto(THEM, ME.publicIdentity(), holepunch.protocol.Role.RESPONDER, 0xcd, "me", "peer");
        byte[] hs1 = Base64.getDecoder().decode(init.data());
        PathCrypto.Result answer = next.onHandshake(Probe.parse(hs1, hs1.length, next.recvProbeKey));
        peers.onRelay(new RelayData("cd", "peer", Base64.getEncoder().encodeToString(answer.reply())));
        toRendezvous.clear();
        assertTrue(peers.send("peer", "after".getBytes()));
        assertEquals(0xcd, Long.parseUnsignedLong(relayed().getLast().pairId(), 16), "with keys, the new pair carries");
        clock.advance(Peers.RETIRED_MILLIS);
        byte[] tooLate = them.seal("too late".getBytes());
        peers.onRelay(new RelayData(Long.toHexString(PAIR), "peer", Base64.getEncoder().encodeToString(tooLate)));
        assertEquals(List.of("late"), delivered, "ten seconds on, the old pair is gone");
    }

    /**
     * The peer lost our direct path on its side and asked for a new pair: the old path is silent,
     * so as soon as the new pair has keys, payloads leave on it (over the relay) instead of into
     * the dead path (the NAT lab's drop-under-traffic test found 9 s of silence from this side).
     */
    @Test
    void aSilentOldPath_isLeftAsSoonAsTheNewPairHasKeys() {
        makeDirect();
        completeHandshake();
        clock.advance(3000);                                                  // nothing heard from the peer since
        toRendezvous.clear();
        deliver(peers, offerJson("peer", 0xcd, THEM, "initiator"));
        RelayData init = relayed().stream().filter(r -> Long.parseUnsignedLong(r.pairId(), 16) == 0xcd).findFirst().orElseThrow();
        PathCrypto next = new PathCrypto(THEM, ME.publicIdentity(), holepunch.protocol.Role.RESPONDER, 0xcd, "me", "peer");
        byte[] hs1 = Base64.getDecoder().decode(init.data());
        peers.onRelay(new RelayData("cd", "peer", Base64.getEncoder().encodeToString(next.onHandshake(Probe.parse(hs1, hs1.length, next.recvProbeKey)).reply())));
        toRendezvous.clear();
        sent.clear();
        assertTrue(peers.send("peer", "after".getBytes()));
        assertTrue(sent.isEmpty(), "nothing into the silent direct path");
        assertEquals(0xcd, Long.parseUnsignedLong(relayed().getLast().pairId(), 16), "the new pair carries, over the relay");
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

    /**
     * Attack: a peer we accept can start Noise handshakes without end, each with a new epoch, over
     * UDP from any address it spoofs: each would cost this worker the responder's Diffie-Hellman
     * work, move its keys and send an answer. New handshakes are answered within a budget per peer.
     */
    @Test
    void handshakeFlood_fromAnAcceptedPeer_isAnsweredOnlyWithinABudget() {
        deliver(peers, offerJson("peer", PAIR, THEM, "responder"));
        PathCrypto initiator = new PathCrypto(THEM, ME.publicIdentity(), holepunch.protocol.Role.INITIATOR, PAIR, "peer", "me");
        sent.clear();
        for (int i = 0; i < 200; i++) {
            byte[] init = initiator.handshakeInit(true);
            peers.onDatagram(new InetSocketAddress("192.0.2." + (i % 250 + 1), 3000 + i), init, init.length);
        }
        long answers = sent.stream().filter(s -> {
            Probe p = Probe.parse(s.data(), s.data().length, initiator.recvProbeKey);
            return p != null && p.kind() == Probe.Kind.HANDSHAKE_RESP;
        }).count();
        assertTrue(answers >= 1 && answers <= ProbeLedger.HANDSHAKE_BURST, answers + " handshakes answered of 200 at one instant");
    }
}
