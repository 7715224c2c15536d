package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.protocol.ProtocolException;
import holepunch.protocol.RelayData;
import holepunch.protocol.RelayError;
import holepunch.protocol.RelayFrame;
import holepunch.websocket.FrameEncoder;
import holepunch.websocket.Opcode;

import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.EnumMap;
import java.util.Map;

/**
 * The relay: datagrams between the two workers of a live pair, over their WebSocket sessions,
 * when no direct path exists. Sessions that negotiated {@link RelayFrame#SUBPROTOCOL} send and
 * get binary frames (several datagrams a message, read without building anything per datagram);
 * others keep JSON {@code relay_data} (base64). Either kind is translated for a receiver that
 * speaks the other.
 *
 * <p>Rules: relayed datagrams are outside MAX_MESSAGES_PER_SEC (a relay that carries traffic must
 * never cost a worker its session); each pair has RELAY_BYTES_PER_SEC and all pairs share
 * RELAY_TOTAL_BYTES_PER_SEC ({@link RelayMeter}); a receiver that reads slowly has datagrams for
 * it dropped once {@value #MAX_BACKLOG} bytes wait for it. Every drop is counted by reason; the
 * sender hears of it in a {@code relay_error} at most once a second per reason, and the log says
 * so at most once a minute per session and reason.
 */
final class Relay {
    /** Bytes that may wait for one receiving session before its relayed datagrams are dropped. */
    static final int MAX_BACKLOG = 512 * 1024;
    static final long TELL_EVERY_NANOS = 1_000_000_000L;
    static final long LOG_EVERY_NANOS = 60_000_000_000L;

    /** Why a relayed datagram was not passed on (the label of holepunch_relay_dropped_total). */
    enum Drop {
        NOT_PAIR("not_pair"), MALFORMED("malformed"), TOO_BIG("too_big"), PEER_GONE("peer_gone"),
        RATE("rate"), SHARE("share"), RECEIVER_SLOW("receiver_slow");

        final String label;

        Drop(String label) {
            this.label = label;
        }
    }

    private final PeerBroker broker;
    private final Log log;
    private final Metrics metrics;
    private final EnumMap<Drop, Metrics.Counter> dropped = new EnumMap<>(Drop.class);
    private final Metrics.Counter bytes;
    private final Metrics.Counter datagrams;

    Relay(PeerBroker broker, Log log, Metrics metrics) {
        this.broker = broker;
        this.log = log;
        this.metrics = metrics;
        metrics.counterFamily("holepunch_relay_bytes_total", "Bytes relayed between the workers of a pair.");
        metrics.counterFamily("holepunch_relay_datagrams_total", "Datagrams relayed between the workers of a pair.");
        metrics.counterFamily("holepunch_relay_dropped_total", "Relayed datagrams dropped, by reason.");
        this.bytes = metrics.counter("holepunch_relay_bytes_total");
        this.datagrams = metrics.counter("holepunch_relay_datagrams_total");
        for (Drop d : Drop.values()) dropped.put(d, metrics.counter("holepunch_relay_dropped_total", "reason", d.label));
    }

    // ---- JSON relay_data

    /**
     * A {@code relay_data} from a session here. True when it named a live pair of the sender and
     * was well formed (passed on, or dropped for a budget): such messages are outside the session's
     * message rate. False for anything else, which the caller counts against it.
     */
    boolean json(WorkerEntry sender, RelayData message) {
        PeerBroker.LivePair pair = broker.livePair(message.pairId(), sender);
        if (pair == null) {
            refuse(sender, null, message.pairId(), Drop.NOT_PAIR, "pair_id names no pair of this worker (a pair ends when either of its sessions does)");
            return false;
        }
        byte[] data;
        try {
            data = message.data() == null ? null : Base64.getDecoder().decode(message.data());
        } catch (IllegalArgumentException e) {
            data = null;
        }
        if (data == null) {
            refuse(sender, pair, pair.pairId(), Drop.MALFORMED, "data must be base64");
            return false;
        }
        if (data.length > RelayFrame.MAX_DATAGRAM) {
            refuse(sender, pair, pair.pairId(), Drop.TOO_BIG, "data over " + RelayFrame.MAX_DATAGRAM + " bytes");
            return false;
        }
        if (admit(sender, pair, data.length)) passOn(sender, pair, data, 0, data.length, message.data());
        return true;
    }

    // ---- binary messages

    /** A binary message from a session here: its records, each passed on or dropped (counted). */
    void binary(WorkerEntry sender, byte[] data, int length) {
        Batch batch = new Batch(sender, data);
        try {
            RelayFrame.read(ByteBuffer.wrap(data, 0, length), batch);
        } catch (ProtocolException e) {
            refuse(sender, null, null, Drop.MALFORMED, e.getMessage());
        } finally {
            batch.flush();
        }
    }

    /**
     * Consecutive records for the same receiver leave in one binary message, copied once: the
     * records as they came (the pair number stays the same), behind a new version byte.
     */
    private final class Batch implements RelayFrame.Visitor {
        private final WorkerEntry sender;
        private final byte[] data;
        private WorkerEntry to;
        private PeerBroker.LivePair toPair;
        private int runStart;
        private int runEnd = -1;
        private int records;
        private int recordBytes;
        private long lastNumber = -1;
        private PeerBroker.LivePair lastPair;

        Batch(WorkerEntry sender, byte[] data) {
            this.sender = sender;
            this.data = data;
        }

        @Override
        public void record(long number, ByteBuffer message, int off, int len) {
            PeerBroker.LivePair pair = number == lastNumber && lastPair != null ? lastPair : broker.livePair(number, sender);
            lastNumber = number;
            lastPair = pair;
            if (pair == null) {
                flush();
                refuse(sender, null, holepunch.protocol.P2pConnectionOffer.pairIdText(number), Drop.NOT_PAIR,
                        "pair_id names no pair of this worker (a pair ends when either of its sessions does)");
                return;
            }
            if (!admit(sender, pair, len)) {
                flush();
                return;
            }
            int start = off - RelayFrame.RECORD_HEADER;
            if (pair.other(sender) instanceof PeerBroker.Here h && h.w().binaryRelay) {
                if (to != h.w() || start != runEnd) flush();
                if (to == null) {
                    to = h.w();
                    toPair = pair;
                    runStart = start;
                }
                runEnd = off + len;
                records++;
                recordBytes += len;
            } else {
                flush();
                passOn(sender, pair, data, off, len, null);
            }
        }

        void flush() {
            if (to == null) return;
            ByteBuffer frame = FrameEncoder.start(Opcode.BINARY, 1 + runEnd - runStart);
            RelayFrame.begin(frame);
            frame.put(data, runStart, runEnd - runStart).flip();
            if (to.connection.offer(frame, MAX_BACKLOG)) {
                bytes.add(recordBytes);
                datagrams.add(records);
            } else {
                slow(sender, toPair, to, records);
            }
            to = null;
            toPair = null;
            runEnd = -1;
            records = 0;
            recordBytes = 0;
        }
    }

    // ---- rules shared by both kinds

    /** Whether a datagram of {@code len} bytes on {@code pair} may go: its peer is there and the budgets allow it. */
    private boolean admit(WorkerEntry sender, PeerBroker.LivePair pair, int len) {
        if (len > RelayFrame.MAX_DATAGRAM) {
            refuse(sender, pair, pair.pairId(), Drop.TOO_BIG, "data over " + RelayFrame.MAX_DATAGRAM + " bytes");
            return false;
        }
        if (pair.other(sender) instanceof PeerBroker.Here h && !h.w().connection.isOpen()) {
            refuse(sender, pair, pair.pairId(), Drop.PEER_GONE, "the peer is not connected");
            return false;
        }
        // A pair that spans two instances is metered once, where its responder is held (both directions there).
        if (pair.responder() instanceof PeerBroker.Elsewhere) return true;
        return metered(sender, pair, len);
    }

    private boolean metered(WorkerEntry sender, PeerBroker.LivePair pair, int len) {
        RelayMeter meter = broker.relayMeter();
        RelayMeter.Verdict v = meter.take(pair.relay(), len, System.nanoTime());
        if (v == RelayMeter.Verdict.OK) return true;
        if (v == RelayMeter.Verdict.PAIR_RATE) {
            refuse(sender, pair, pair.pairId(), Drop.RATE, "relay rate over " + meter.pairRate + " bytes/s for this pair (RELAY_BYTES_PER_SEC)");
        } else {
            refuse(sender, pair, pair.pairId(), Drop.SHARE, "relay over this pair's share (" + meter.share() + " bytes/s) of the rendezvous's "
                    + meter.totalRate + " bytes/s (RELAY_TOTAL_BYTES_PER_SEC)");
        }
        return false;
    }

    /** Passes one admitted datagram to the pair's other side: a session here (binary or JSON) or its instance. */
    private void passOn(WorkerEntry sender, PeerBroker.LivePair pair, byte[] data, int off, int len, String base64) {
        PeerBroker.Party other = pair.other(sender);
        if (other instanceof PeerBroker.Here h) {
            if (!deliver(h.w(), pair, sender.id, data, off, len, base64)) slow(sender, pair, h.w(), 1);
        } else if (other instanceof PeerBroker.Elsewhere e && broker.clusterLink() != null) {
            counted(len);
            broker.clusterLink().send(e.instance(), Json.obj("op", "relay", "pair", pair.pairId(), "from", sender.id,
                    "data", base64 != null ? base64 : Base64.getEncoder().encodeToString(java.util.Arrays.copyOfRange(data, off, off + len))));
        }
    }

    /** One datagram to a session here, in the form it speaks; false when it reads too slowly to take it. */
    private boolean deliver(WorkerEntry to, PeerBroker.LivePair pair, String fromId, byte[] data, int off, int len, String base64) {
        ByteBuffer frame;
        if (to.binaryRelay) {
            frame = FrameEncoder.start(Opcode.BINARY, 1 + RelayFrame.RECORD_HEADER + len);
            RelayFrame.begin(frame);
            RelayFrame.append(frame, pair.number(), data, off, len);
            frame.flip();
        } else {
            String text = base64 != null ? base64 : Base64.getEncoder().encodeToString(java.util.Arrays.copyOfRange(data, off, off + len));
            frame = FrameEncoder.text(new RelayData(pair.pairId(), fromId, text).encodeUtf8());
        }
        if (!to.connection.offer(frame, MAX_BACKLOG)) return false;
        counted(len);
        return true;
    }

    private void counted(int len) {
        bytes.add(len);
        datagrams.inc();
    }

    // ---- relay from another instance of the cluster

    /** {@code relay} from instance {@code from}: a datagram for a session here on a pair that spans both. */
    void fromCluster(String from, Map<String, Object> m) {
        PeerBroker.LivePair pair = broker.live(m.get("pair") instanceof String p ? p : null);
        if (pair == null || !(m.get("from") instanceof String senderId) || !(m.get("data") instanceof String base64)) return;
        PeerBroker.Party here = pair.initiator() instanceof PeerBroker.Elsewhere e && e.id().equals(senderId) ? pair.responder()
                : pair.responder() instanceof PeerBroker.Elsewhere e2 && e2.id().equals(senderId) ? pair.initiator() : null;
        if (!(here instanceof PeerBroker.Here h)) return;
        byte[] data;
        try {
            data = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            dropped.get(Drop.MALFORMED).inc();
            return;
        }
        if (data.length > RelayFrame.MAX_DATAGRAM) {
            dropped.get(Drop.TOO_BIG).inc();
            return;
        }
        if (here == pair.responder()) {
            RelayMeter meter = broker.relayMeter();
            RelayMeter.Verdict v = meter.take(pair.relay(), data.length, System.nanoTime());
            if (v != RelayMeter.Verdict.OK) {
                Drop d = v == RelayMeter.Verdict.PAIR_RATE ? Drop.RATE : Drop.SHARE;
                dropped.get(d).inc();
                if (due(pair.relay().toldAt, d, TELL_EVERY_NANOS)) {
                    broker.clusterLink().send(from, Json.obj("op", "deliver", "worker", senderId, "text", new RelayError(pair.pairId(),
                            d == Drop.RATE ? "relay rate over " + meter.pairRate + " bytes/s for this pair (RELAY_BYTES_PER_SEC)"
                                    : "relay over this pair's share of RELAY_TOTAL_BYTES_PER_SEC").encode()));
                }
                return;
            }
        }
        if (!deliver(h.w(), pair, senderId, data, 0, data.length, base64)) dropped.get(Drop.RECEIVER_SLOW).inc();
    }

    // ---- drops

    private void slow(WorkerEntry sender, PeerBroker.LivePair pair, WorkerEntry to, int n) {
        dropped.get(Drop.RECEIVER_SLOW).add(n - 1);
        refuse(sender, pair, pair.pairId(), Drop.RECEIVER_SLOW, "worker '" + to.id + "' reads too slowly: its relayed datagrams are dropped while "
                + MAX_BACKLOG / 1024 + " KiB wait for it");
    }

    /** Counts a drop; tells the sender (at most once a second per reason) and logs it (once a minute). */
    private void refuse(WorkerEntry sender, PeerBroker.LivePair pair, String pairId, Drop why, String detail) {
        dropped.get(why).inc();
        if (!due(sender.relayToldAt, why, TELL_EVERY_NANOS)) return;
        sender.connection.sendText(new RelayError(pairId, detail).encodeUtf8());
        if (due(sender.relayLoggedAt, why, LOG_EVERY_NANOS)) {
            log.warn(sender.id, "relay dropped a datagram" + (pairId == null ? "" : " of pair " + Log.excerpt(pairId)) + ": " + detail
                    + " (holepunch_relay_dropped_total{reason=\"" + why.label + "\"}; said once a minute)");
        }
    }

    /** Whether the last time for {@code why} in {@code at} is over {@code every} ago; if so, now is the last time. */
    private static boolean due(long[] at, Drop why, long every) {
        long now = System.nanoTime();
        long last = at[why.ordinal()];
        if (last != 0 && now - last < every) return false;
        at[why.ordinal()] = now == 0 ? 1 : now;
        return true;
    }
}
