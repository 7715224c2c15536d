package holepunch.peer;

import holepunch.crypto.Keys;
import holepunch.protocol.P2pConnectionDecline;
import holepunch.protocol.Role;
import org.junit.jupiter.api.Test;

import java.security.SecureRandom;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23, finding 6's last part: probe keys came from the two static keys and the pair id alone,
 * and the rendezvous chooses pair ids. An offer that repeated a pair id (after either worker
 * restarted, or to the same two processes) made the probes and answers recorded on the earlier
 * pair valid again: a recorded PROBE_ACK, played from any address, steered the path there. Now each
 * process reports a random probe nonce, both are mixed into the keys, and a process never takes a
 * pair id twice with one peer.
 */
class ProbeFreshnessTest extends PeerFixture {
    private static final SecureRandom RANDOM = new SecureRandom();

    private static byte[] nonce() {
        byte[] n = new byte[16];
        RANDOM.nextBytes(n);
        return n;
    }

    /** The peer's side of pair {@code PAIR} as its process with {@code theirNonce} would hold it. */
    private PathCrypto peerSide(byte[] theirNonce) {
        return new PathCrypto(THEM, ME.publicIdentity(), Role.RESPONDER, PAIR, "me", "peer", clock::nowMillis, new PathCrypto.Timestamps(),
                Keys.unb64(peers.probeNonce(), 16), theirNonce);
    }

    private void offerWithNonce(byte[] theirNonce) {
        Map<String, Object> json = offerJson("peer", PAIR, THEM, "initiator");
        json.put("peer_probe_nonce", Keys.b64(theirNonce));
        deliver(peers, json);
    }

    @Test
    void withoutNonces_anEarlierPairsKeysAreTheSame_withThemTheyAreNot() {
        PathCrypto before = new PathCrypto(THEM, ME.publicIdentity(), Role.RESPONDER, PAIR, "me", "peer");
        PathCrypto again = new PathCrypto(THEM, ME.publicIdentity(), Role.RESPONDER, PAIR, "me", "peer");
        assertArrayEquals(before.sendProbeKey, again.sendProbeKey, "the weakness: same keys and pair id, same probe keys");
        byte[] mine = nonce();
        PathCrypto first = new PathCrypto(THEM, ME.publicIdentity(), Role.RESPONDER, PAIR, "me", "peer", clock::nowMillis,
                new PathCrypto.Timestamps(), mine, nonce());
        PathCrypto restarted = new PathCrypto(THEM, ME.publicIdentity(), Role.RESPONDER, PAIR, "me", "peer", clock::nowMillis,
                new PathCrypto.Timestamps(), mine, nonce());
        assertFalse(java.util.Arrays.equals(first.sendProbeKey, restarted.sendProbeKey), "another process of the peer: other keys");
        assertFalse(java.util.Arrays.equals(first.sendProbeKey, before.sendProbeKey));
    }

    /** Attack: an answer recorded from the peer's earlier process, played from the attacker's address. */
    @Test
    void attack_anAnswerRecordedOnAnEarlierPairOfTheSameId_doesNotMakeThePath() {
        PathCrypto earlier = peerSide(nonce());                // the peer's previous process: same keys, same pair id
        byte[] now = nonce();
        PathCrypto current = peerSide(now);
        offerWithNonce(now);
        clock.advance(100);
        Sent probe = sent.stream().filter(s -> Probe.parse(s.data(), s.data().length, current.recvProbeKey) != null).findFirst().orElseThrow();
        long counter = Probe.parse(probe.data(), probe.data().length, current.recvProbeKey).counter();
        assertEquals(null, Probe.parse(probe.data(), probe.data().length, earlier.recvProbeKey), "the earlier keys do not even read it");
        java.net.InetSocketAddress attacker = new java.net.InetSocketAddress("127.0.0.1", 40999);
        byte[] replayed = new Probe(Probe.Kind.PROBE_ACK, PAIR, counter, null).encode(earlier.sendProbeKey);
        peers.onDatagram(attacker, replayed, replayed.length);
        assertNotEquals("direct", state(), "a recorded answer under the earlier keys moves nothing");
        byte[] real = new Probe(Probe.Kind.PROBE_ACK, PAIR, counter, null).encode(current.sendProbeKey);
        peers.onDatagram(PEER, real, real.length);
        assertEquals("direct", state(), "the peer's own answer makes the path");
    }

    @Test
    void anOfferRepeatingAPairIdWithTheSamePeer_isDeclined() {
        offerWithNonce(nonce());
        toRendezvous.clear();
        clock.advance(60_000);
        offerWithNonce(nonce());
        assertTrue(toRendezvous.stream().anyMatch(m -> m instanceof P2pConnectionDecline d && d.detail().contains("was taken")),
                String.valueOf(toRendezvous));
    }
}
