package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.protocol.Role;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The key state machine's timers and its handshake replay defence (WireGuard whitepaper §5.4.2, §6.1), between
 * two PathCryptos on a clock the test moves. The attacks: a recorded INIT played again (after the epoch numbers
 * came round, or to a new pair the rendezvous gave the same id), and keys used for ever.
 */
class KeyTimersTest {
    private static final Identity A = Identity.generate(), B = Identity.generate();
    private static final long PAIR = 0x77;
    private final AtomicLong clock = new AtomicLong(1_000_000);
    private final PathCrypto.Timestamps responderTimes = new PathCrypto.Timestamps();
    private final PathCrypto initiator = new PathCrypto(A, B.publicIdentity(), Role.INITIATOR, PAIR, "a", "b", clock::get, new PathCrypto.Timestamps());
    private PathCrypto responder = newResponder();

    private PathCrypto newResponder() {
        return new PathCrypto(B, A.publicIdentity(), Role.RESPONDER, PAIR, "a", "b", clock::get, responderTimes);
    }

    /** One handshake: the INIT (returned, as an attacker records it), the answer, the initiator's confirmation. */
    private byte[] handshake() {
        byte[] init = initiator.handshakeInit(true);
        PathCrypto.Result answered = responder.onHandshake(Probe.parse(init, init.length, responder.recvProbeKey));
        assertNull(answered.dropped(), "answered");
        PathCrypto.Result keys = initiator.onHandshake(Probe.parse(answered.reply(), answered.reply().length, initiator.recvProbeKey));
        assertNull(keys.dropped());
        assertTrue(responder.open(keys.reply(), keys.reply().length).dropped() == null, "the confirmation opens");
        return init;
    }

    private String replayed(byte[] init) {
        return responder.onHandshake(Probe.parse(init, init.length, responder.recvProbeKey)).dropped();
    }

    @Test
    void aRecordedInit_playedAgainAfterTheEpochsMovedOn_isRefused() {
        byte[] first = handshake();
        for (int i = 0; i < 3; i++) {
            clock.addAndGet(1000);
            handshake();
        }
        assertTrue(responder.isNewHandshake(Probe.parse(first, first.length, responder.recvProbeKey)),
                "its epoch is no longer kept: by epochs alone it looks new");
        assertEquals("replay", replayed(first), "but its time is old");
    }

    @Test
    void aRecordedInit_playedToANewPairWithTheSameId_isRefused() {
        byte[] first = handshake();
        responder = newResponder();                  // the rendezvous offers the pair again, with the same id
        assertEquals("replay", replayed(first), "the newest time from that key is kept across pairs");
        clock.addAndGet(10);
        handshake();                                 // the real initiator's next INIT is taken
    }

    @Test
    void anAnswerThatCameTwice_isADuplicate_notAReplay() {
        byte[] init = initiator.handshakeInit(true);
        PathCrypto.Result answered = responder.onHandshake(Probe.parse(init, init.length, responder.recvProbeKey));
        PathCrypto.Result again = responder.onHandshake(Probe.parse(init, init.length, responder.recvProbeKey));
        assertArrayEquals(answered.reply(), again.reply(), "the INIT came by the relay and the direct path: the same answer twice");
        assertNull(initiator.onHandshake(Probe.parse(answered.reply(), answered.reply().length, initiator.recvProbeKey)).dropped());
        assertEquals(PathCrypto.DUPLICATE, initiator.onHandshake(Probe.parse(again.reply(), again.reply().length, initiator.recvProbeKey)).dropped());
    }

    @Test
    void keys_askForARekeyAfterTwoMinutes_andAreRefusedAfterThree() {
        handshake();
        byte[] early = initiator.seal("early".getBytes(StandardCharsets.UTF_8));
        assertFalse(initiator.wantsHandshake());
        clock.addAndGet(PathCrypto.REKEY_AFTER_TIME_MILLIS);
        assertTrue(initiator.wantsHandshake(), "REKEY_AFTER_TIME");
        assertTrue(initiator.seal(new byte[1]) != null, "still usable until REJECT_AFTER_TIME");
        clock.addAndGet(PathCrypto.REJECT_AFTER_TIME_MILLIS - PathCrypto.REKEY_AFTER_TIME_MILLIS);
        assertNull(initiator.seal(new byte[1]), "REJECT_AFTER_TIME: nothing is sealed with them");
        assertEquals("expired", responder.open(early, early.length).dropped(), "nor opened");
        handshake();
        byte[] fresh = initiator.seal("fresh".getBytes(StandardCharsets.UTF_8));
        assertArrayEquals("fresh".getBytes(StandardCharsets.UTF_8), responder.open(fresh, fresh.length).payload());
    }

    @Test
    void onlyTheCurrentEpochAndTheOneBefore_areKept() {
        handshake();
        byte[] oldest = initiator.seal(new byte[] {1});
        handshake();
        byte[] previous = initiator.seal(new byte[] {2});
        handshake();
        assertEquals("unknown_epoch", responder.open(oldest, oldest.length).dropped());
        assertArrayEquals(new byte[] {2}, responder.open(previous, previous.length).payload(), "late datagrams of the epoch before");
    }

    @Test
    void timestamps_areTai64n_andIncreaseWhateverTheClock() {
        byte[] t = PathCrypto.tai64n(1_700_000_000_123_000_456L);
        assertEquals((1L << 62) + 1_700_000_000L, java.nio.ByteBuffer.wrap(t).getLong());
        assertEquals(123_000_456, java.nio.ByteBuffer.wrap(t).getInt(8));
        byte[] a = PathCrypto.nextTimestamp(5_000), b = PathCrypto.nextTimestamp(4_000);
        assertTrue(java.util.Arrays.compareUnsigned(b, a) > 0, "a clock that went back still gives a later time");
    }
}
