package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.crypto.Noise;
import holepunch.crypto.PublicIdentity;
import holepunch.crypto.X25519;
import holepunch.protocol.Role;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The keys of one peer path, which only its two workers hold (the rendezvous only introduced them).
 *
 * <ul>
 * <li><b>Probe keys</b>, one per direction: HMAC-SHA256 of the static-static X25519 secret with
 *     the pair id and the sender's role. They authenticate probes, keepalives and handshake
 *     messages from the first datagram on.</li>
 * <li><b>Transport keys</b> from a Noise_IK_25519_ChaChaPoly_SHA256 handshake (the initiator knows
 *     the responder's static key from the offer, and checks it against PEER_KEYS), with a prologue
 *     naming the pair and both ids. Each handshake makes an epoch (1 byte, on every DATA
 *     datagram); the initiator starts a new one every P2P_REKEY_SEC (as WireGuard's 2 minutes)
 *     or after {@value #REKEY_AFTER_MESSAGES} messages, and both sides keep the previous epoch's
 *     keys for datagrams still on their way.</li>
 * </ul>
 *
 * <pre>
 * DATA: 'H' 'P' 3 5 | pair id | counter | epoch (8 bits) | ChaCha20-Poly1305(epoch key, nonce = counter,
 *        additional data = the 21 bytes before, payload) with its 16-byte tag
 * </pre>
 *
 * Every DATA datagram is checked against its epoch's {@link ReplayWindow}; one that fails (tag,
 * epoch, replay, age) is dropped and counted by the caller, never delivered. As WireGuard's timers
 * (whitepaper §6.1): keys older than {@value #REKEY_AFTER_TIME_MILLIS} ms ask for a new handshake on
 * the next send, and keys older than {@value #REJECT_AFTER_TIME_MILLIS} ms neither seal nor open;
 * only the current epoch and the one before are kept. The first handshake message carries a TAI64N
 * timestamp (WireGuard §5.4.2): a responder takes an INIT only when its time is after the newest it
 * took from that peer's key ({@link Timestamps}, shared by the worker's pairs), so a recorded INIT
 * played again, on this pair or a later one with the same id, is refused. Thread-safe.
 */
final class PathCrypto {
    static final long REKEY_AFTER_MESSAGES = 1L << 32;
    static final long REKEY_AFTER_TIME_MILLIS = 120_000;
    static final long REJECT_AFTER_TIME_MILLIS = 180_000;
    static final int DATA_HEADER = Probe.HEADER + 1;
    /** Epochs whose keys are kept: the current one and the one before it, for late datagrams. */
    static final int KEPT_EPOCHS = 2;
    static final int TAI64N_BYTES = 12;

    /**
     * The newest handshake time taken from each peer key (WireGuard's "greatest timestamp"), shared by a
     * worker's pairs; at most {@value #MAX} keys, the least recently used forgotten first.
     */
    static final class Timestamps {
        static final int MAX = 4096;
        private final LinkedHashMap<String, byte[]> newest = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, byte[]> eldest) {
                return size() > MAX;
            }
        };

        /** True (and kept) when {@code tai64n} is after the newest taken from {@code key}. */
        synchronized boolean takeIfNewer(byte[] key, byte[] tai64n) {
            String k = java.util.Base64.getEncoder().encodeToString(key);
            byte[] before = newest.get(k);
            if (before != null && Arrays.compareUnsigned(tai64n, before) <= 0) return false;
            newest.put(k, tai64n.clone());
            return true;
        }
    }

    /** The last handshake time this process sent, in nanoseconds: each INIT's is after the one before, whatever the clock does. */
    private static long lastSentNanos = Long.MIN_VALUE;

    /** The TAI64N label for an INIT sent at {@code millis}: a nanosecond after the last one when the clock has not moved on. */
    static synchronized byte[] nextTimestamp(long millis) {
        long nanos = Math.max(millis * 1_000_000L, lastSentNanos + 1);
        lastSentNanos = nanos;
        return tai64n(nanos);
    }

    /** TAI64N (WireGuard §5.4.2): 8 bytes of seconds from 2^62, then 4 of nanoseconds, big-endian. */
    static byte[] tai64n(long nanos) {
        ByteBuffer b = ByteBuffer.allocate(TAI64N_BYTES);
        b.putLong((1L << 62) + Math.floorDiv(nanos, 1_000_000_000L));
        b.putInt((int) Math.floorMod(nanos, 1_000_000_000L));
        return b.array();
    }
    private static final SecureRandom RANDOM = new SecureRandom();

    /** One epoch's transport keys and counters. */
    private static final class Epoch {
        final Noise.Aead send;
        final Noise.Aead recv;
        final ReplayWindow window = new ReplayWindow();
        final long createdMillis;
        long sent;

        Epoch(byte[] sendKey, byte[] recvKey, long createdMillis) {
            this.send = new Noise.Aead(sendKey);
            this.recv = new Noise.Aead(recvKey);
            this.createdMillis = createdMillis;
        }
    }

    /** What a received datagram came to: a payload to deliver, a reply to send, or why it was dropped. */
    record Result(byte[] payload, byte[] reply, String dropped) {
        static Result drop(String reason) {
            return new Result(null, null, reason);
        }
    }

    private int openedEpoch = -1;
    private long opened;

    /**
     * What a receipt tells the peer ({@link Probe.Kind#RECEIPT}): the epoch of the newest DATA datagram opened, the
     * highest counter opened in that epoch (so the peer knows how many it had sent by then, whenever the receipt
     * reaches it), and how many were opened in all. Nothing opened yet: epoch -1.
     */
    synchronized long[] received() {
        Epoch e = openedEpoch < 0 ? null : epochs.get(openedEpoch);
        return new long[] {e == null ? -1 : openedEpoch, e == null ? -1 : e.window.highest(), opened};
    }

    /** A second answer to a handshake already complete (not counted as a drop). */
    static final String DUPLICATE = "duplicate";

    private final Identity me;
    private final PublicIdentity peer;
    private final Role role;
    private final long pairId;
    private final byte[] prologue;
    final byte[] sendProbeKey;
    final byte[] recvProbeKey;
    private final Map<Integer, Epoch> epochs = new LinkedHashMap<>();
    private int sendEpoch = -1;
    /** The responder's newest epoch: it sends with it once the initiator has used it (key confirmation). */
    private int pendingSendEpoch = -1;
    private Noise.Handshake initiating;
    private int initiatingEpoch = -1;
    private byte[] initiatingMessage;
    private int answeredEpoch = -1;
    private byte[] answeredInit;
    private byte[] answer;
    private long controlCounter;
    private final java.util.function.LongSupplier clock;
    private final Timestamps timestamps;

    /** The key the peer proved (its fingerprint is shown in full in /status). */
    PublicIdentity peerIdentity() {
        return peer;
    }

    PathCrypto(Identity me, PublicIdentity peer, Role role, long pairId, String initiatorId, String responderId) {
        this(me, peer, role, pairId, initiatorId, responderId, System::currentTimeMillis, new Timestamps());
    }

    /** {@code clock}: milliseconds, for key ages and handshake times; {@code timestamps}: shared by the worker's pairs. */
    PathCrypto(Identity me, PublicIdentity peer, Role role, long pairId, String initiatorId, String responderId,
               java.util.function.LongSupplier clock, Timestamps timestamps) {
        this(me, peer, role, pairId, initiatorId, responderId, clock, timestamps, null, null);
    }

    /**
     * As above, with each side's probe nonce (the random value its process reported to the rendezvous,
     * {@code probe_nonce}): when both are known, they are mixed into the probe keys, so that a probe,
     * answer or handshake recorded on an earlier pair of the same two keys and pair id is not valid on
     * this one unless both processes are the same ones (a pair id is then never taken twice: Peers
     * refuses an offer that repeats one). Without both (a peer of an earlier version), the keys are
     * as before.
     */
    PathCrypto(Identity me, PublicIdentity peer, Role role, long pairId, String initiatorId, String responderId,
               java.util.function.LongSupplier clock, Timestamps timestamps, byte[] initiatorNonce, byte[] responderNonce) {
        this.clock = clock;
        this.timestamps = timestamps;
        this.me = me;
        this.peer = peer;
        this.role = role;
        this.pairId = pairId;
        this.prologue = ("holepunch path v3\n" + Long.toHexString(pairId) + "\n" + initiatorId + "\n" + responderId)
                .getBytes(StandardCharsets.UTF_8);
        byte[] shared = X25519.dh(me.staticKey().privateKey(), peer.staticKey());
        String nonces = initiatorNonce == null || responderNonce == null ? null
                : holepunch.crypto.Keys.b64(initiatorNonce) + " " + holepunch.crypto.Keys.b64(responderNonce);
        this.sendProbeKey = label(shared, role, nonces);
        this.recvProbeKey = label(shared, role.other(), nonces);
    }

    private byte[] label(byte[] shared, Role sender, String nonces) {
        String label = nonces == null ? "holepunch probe v3 " + Long.toHexString(pairId) + " from " + sender.wire()
                : "holepunch probe v4 " + Long.toHexString(pairId) + " from " + sender.wire() + " " + nonces;
        return holepunch.crypto.Keys.hmacSha256(shared, label.getBytes(StandardCharsets.US_ASCII));
    }


    synchronized long nextControlCounter() {
        return controlCounter++;
    }

    boolean isInitiator() {
        return role == Role.INITIATOR;
    }

    synchronized boolean hasKeys() {
        return sendEpoch >= 0;
    }

    synchronized int epoch() {
        return sendEpoch;
    }

    /** Whether the initiator should start a new handshake: none yet, or the current keys are old or worn. */
    synchronized boolean wantsHandshake() {
        if (role != Role.INITIATOR || initiating != null) return false;
        Epoch e = sendEpoch < 0 ? null : epochs.get(sendEpoch);
        return e == null || e.sent >= REKEY_AFTER_MESSAGES || clock.getAsLong() - e.createdMillis >= REKEY_AFTER_TIME_MILLIS;
    }

    /** Initiator: the HANDSHAKE_INIT datagram of a new epoch (the same bytes again while it is unanswered). */
    synchronized byte[] handshakeInit(boolean fresh) {
        if (role != Role.INITIATOR) throw new IllegalStateException("only the initiator starts a handshake");
        if (initiating == null || fresh) {
            initiatingEpoch = (Math.max(sendEpoch, initiatingEpoch) + 1) & 0xFF;
            initiating = new Noise.Handshake(Noise.Pattern.IK, true, prologue, me.staticKey(), peer.staticKey(), null, RANDOM);
            byte[] m = initiating.writeMessage(nextTimestamp(System.currentTimeMillis()));     // wall time: a restarted peer keeps counting up
            initiatingMessage = control(Probe.Kind.HANDSHAKE_INIT, initiatingEpoch, m);
        }
        return initiatingMessage;
    }

    synchronized boolean handshakePending() {
        return initiating != null;
    }

    private byte[] control(Probe.Kind kind, int epoch, byte[] noiseMessage) {
        byte[] body = new byte[1 + noiseMessage.length];
        body[0] = (byte) epoch;
        System.arraycopy(noiseMessage, 0, body, 1, noiseMessage.length);
        return new Probe(kind, pairId, controlCounter++, body).encode(sendProbeKey);
    }

    /** Whether {@code p} starts a handshake this side would work out (not one answered already, nor an old epoch again). */
    synchronized boolean isNewHandshake(Probe p) {
        if (p.kind() != Probe.Kind.HANDSHAKE_INIT || role != Role.RESPONDER || p.payload().length < 2) return false;
        int epoch = p.payload()[0] & 0xFF;
        return epoch != answeredEpoch && !epochs.containsKey(epoch);
    }

    /** A handshake message from the peer (already authenticated with its probe key). */
    synchronized Result onHandshake(Probe p) {
        if (p.payload().length < 2) return Result.drop("malformed");
        int epoch = p.payload()[0] & 0xFF;
        byte[] message = Arrays.copyOfRange(p.payload(), 1, p.payload().length);
        try {
            if (p.kind() == Probe.Kind.HANDSHAKE_INIT && role == Role.RESPONDER) {
                if (epoch == answeredEpoch) {
                    return Arrays.equals(message, answeredInit) ? new Result(null, answer, null) : Result.drop("replay");
                }
                if (epochs.containsKey(epoch)) return Result.drop("replay");        // an old epoch again
                Noise.Handshake hs = new Noise.Handshake(Noise.Pattern.IK, false, prologue, me.staticKey(), null, null, RANDOM);
                byte[] time = hs.readMessage(message);
                if (!Arrays.equals(hs.remoteStatic(), peer.staticKey())) return Result.drop("wrong_key");
                if (time.length != TAI64N_BYTES) return Result.drop("no_timestamp");
                if (!timestamps.takeIfNewer(peer.staticKey(), time)) return Result.drop("replay");     // a recorded INIT again
                byte[] reply = control(Probe.Kind.HANDSHAKE_RESP, epoch, hs.writeMessage(new byte[0]));
                Noise.CipherState[] cs = hs.split();
                install(epoch, new Epoch(cs[1].key(), cs[0].key(), clock.getAsLong()));
                if (sendEpoch < 0) sendEpoch = epoch;
                else pendingSendEpoch = epoch;
                answeredEpoch = epoch;
                answeredInit = message;
                answer = reply;
                return new Result(null, reply, null);
            }
            if (p.kind() == Probe.Kind.HANDSHAKE_RESP && role == Role.INITIATOR) {
                // The INIT goes over the relay and the direct path both, so its answer may come twice: the second is no replay.
                if (initiating == null && epoch == sendEpoch) return Result.drop(DUPLICATE);
                if (initiating == null || epoch != initiatingEpoch) return Result.drop("replay");
                initiating.readMessage(message);
                Noise.CipherState[] cs = initiating.split();
                install(epoch, new Epoch(cs[0].key(), cs[1].key(), clock.getAsLong()));
                sendEpoch = epoch;
                initiating = null;
                initiatingMessage = null;
                return new Result(null, seal(new byte[0]), null);     // confirms the keys to the responder
            }
            return Result.drop("unexpected");
        } catch (Noise.NoiseException e) {
            return Result.drop("handshake_failed");
        }
    }

    private void install(int epoch, Epoch keys) {
        epochs.remove(epoch);
        epochs.put(epoch, keys);
        while (epochs.size() > KEPT_EPOCHS) epochs.remove(epochs.keySet().iterator().next());
    }

    /** A sealed DATA datagram for {@code payload}, or null before the first handshake completed. */
    byte[] seal(byte[] payload) {
        byte[] out = new byte[DATA_HEADER + payload.length + Noise.TAGLEN];
        return seal(payload, 0, payload.length, out) < 0 ? null : out;
    }

    /**
     * Seals {@code in[off, off + len)} as a DATA datagram into {@code out} (from 0, room for
     * {@link #DATA_HEADER} + len + {@value Noise#TAGLEN}); returns its length, or -1 before the first
     * handshake completed. The header is the additional data, read in place: no copy, no allocation
     * of ours.
     */
    synchronized int seal(byte[] in, int off, int len, byte[] out) {
        Epoch e = sendEpoch < 0 ? null : epochs.get(sendEpoch);
        if (e == null || e.sent >= ReplayWindow.REJECT_AFTER_MESSAGES) return -1;     // the peer would refuse it
        if (clock.getAsLong() - e.createdMillis >= REJECT_AFTER_TIME_MILLIS) return -1;     // too old to use: a new handshake first
        long counter = e.sent++;
        Probe.writeHeader(out, Probe.Kind.DATA, pairId, counter);
        out[Probe.HEADER] = (byte) sendEpoch;
        return DATA_HEADER + e.send.seal(counter, out, 0, DATA_HEADER, in, off, len, out, DATA_HEADER);
    }

    /** Why {@link #open(byte[], int, byte[])} dropped a datagram, by its negative result. */
    static final String[] DROPS = {null, "malformed", "unknown_epoch", "unauthenticated", "replay", "expired"};

    /** Opens a DATA datagram: its payload, or why it was dropped. */
    Result open(byte[] data, int length) {
        byte[] plain = new byte[Math.max(0, length - DATA_HEADER - Noise.TAGLEN)];
        int n = open(data, length, plain);
        return n < 0 ? Result.drop(DROPS[-n]) : new Result(plain, null, null);
    }

    /**
     * Opens a DATA datagram into {@code out} (from 0, room for its payload): the payload's length,
     * or minus the index in {@link #DROPS} of why it was dropped.
     */
    synchronized int open(byte[] data, int length, byte[] out) {
        if (length < DATA_HEADER + Noise.TAGLEN) return -1;
        int epoch = data[Probe.HEADER] & 0xFF;
        Epoch e = epochs.get(epoch);
        if (e == null) return -2;
        if (clock.getAsLong() - e.createdMillis >= REJECT_AFTER_TIME_MILLIS) return -5;
        long counter = Probe.counterOf(data);
        int n;
        try {
            n = e.recv.open(counter, data, 0, DATA_HEADER, data, DATA_HEADER, length - DATA_HEADER, out, 0);
        } catch (Noise.NoiseException ex) {
            return -3;
        }
        if (!e.window.accept(counter)) return -4;                        // only after the tag: forgeries cannot move the window
        openedEpoch = epoch;
        opened++;
        if (epoch == pendingSendEpoch) {
            sendEpoch = epoch;                                           // the initiator has the new keys: use them
            pendingSendEpoch = -1;
        }
        return n;
    }
}
