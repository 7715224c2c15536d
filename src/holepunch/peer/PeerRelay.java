package holepunch.peer;

import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.ProtocolException;
import holepunch.protocol.RelayBudget;
import holepunch.protocol.RelayData;
import holepunch.protocol.RelayFrame;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Base64;

/**
 * The pairs' side of the rendezvous relay: sealed payloads and control datagrams out, in binary
 * relay messages when the session selected them ({@link RelayFrame}) or as JSON {@code relay_data}
 * with a rendezvous that does not speak them; what comes back handed to its pair's link. Payloads
 * are paced to the pair budget the rendezvous announced ({@link RelayPacer}), the excess dropped
 * here and counted.
 */
final class PeerRelay {
    private final Peers peers;
    /** The binary relay's per-pair rate, from the rendezvous's relay_budget (0 until one came). */
    private volatile long pairRate;

    PeerRelay(Peers peers) {
        this.peers = peers;
    }

    long pairRate() {
        return pairRate;
    }

    /** {@code relay_budget}: the rates the rendezvous relays at; each pair is paced to its rate from now on. */
    void onBudget(RelayBudget budget) {
        pairRate = budget.pairBytesPerSec();
        peers.log.info(peers.selfId, String.format(java.util.Locale.ROOT, "the rendezvous relays up to %.1f MiB/s a pair (%.1f MiB/s for all its pairs);"
                + " relayed traffic over that is dropped here", budget.pairBytesPerSec() / 1048576.0, budget.totalBytesPerSec() / 1048576.0));
    }

    /**
     * A sealed payload ({@code sealed[0, n)}, {@code len} bytes of application data) for the peer of
     * {@code l}: true when taken (sent, or dropped and counted), false when the session could not take it.
     */
    boolean payload(Link l, byte[] sealed, int n, int len, long nowMillis) {
        if (peers.rendezvous.binaryRelay()) {
            String drop = paced(l, sealed, n, nowMillis);
            if (drop != null) peers.dropped(drop);                 // taken, and counted here with its reason
            else peers.count(l.peer, false, true, len);
            return true;
        }
        boolean sent = peers.rendezvous.sendPaced(new RelayData(P2pConnectionOffer.pairIdText(l.pairId), null,
                Base64.getEncoder().encodeToString(Arrays.copyOf(sealed, n))));
        if (sent) peers.count(l.peer, false, true, len);
        return sent;
    }

    /** A sealed datagram to the binary relay, paced to the pair's budget: null when queued, else why it was dropped. */
    private String paced(Link l, byte[] sealed, int n, long nowMillis) {
        long rate = pairRate;
        if (!l.relayPacer.take(rate, n, System.nanoTime())) {
            if (l.relayPacer.dropped(nowMillis) == RelayPacer.Change.STARTED_DROPPING) {
                peers.log.warn(peers.selfId, "relayed traffic to " + l.peer + " is over the rendezvous's budget of " + rate
                        + " bytes/s a pair (RELAY_BYTES_PER_SEC); dropping what exceeds it (holepunch_worker_dropped_total{reason=\"relay_budget\"})");
            }
            return "relay_budget";
        }
        if (l.relayPacer.passed(nowMillis) == RelayPacer.Change.STOPPED_DROPPING) {
            peers.log.info(peers.selfId, "relayed traffic to " + l.peer + " is within its budget again (" + l.relayPacer.drops()
                    + " datagrams dropped so far)");
        }
        return peers.rendezvous.relayDatagram(l.pairId, sealed, 0, n);
    }

    /** A control datagram (a handshake, a HARD_NAT message, an answer) for the peer of {@code l}, unpaced. */
    boolean control(Link l, byte[] datagram) {
        if (peers.rendezvous.binaryRelay()) {
            String drop = peers.rendezvous.relayDatagram(l.pairId, datagram, 0, datagram.length);
            if (drop != null) peers.dropped(drop);
            return drop == null;
        }
        return peers.rendezvous.send(new RelayData(P2pConnectionOffer.pairIdText(l.pairId), null, Base64.getEncoder().encodeToString(datagram)));
    }

    /** {@code relay_data} from the rendezvous: a datagram the peer sent through the relay (sealed or a handshake). */
    void onJson(RelayData message) {
        byte[] data;
        try {
            data = Base64.getDecoder().decode(message.data() == null ? "" : message.data());
        } catch (IllegalArgumentException e) {
            peers.dropped("malformed");
            return;
        }
        Link l = message.pairId() == null ? null : peers.linkOfPair(Peers.parsePairId(message.pairId()));
        arrived(l, data, data.length);
    }

    /** A binary relay message from the rendezvous: each record's datagram goes to its pair's link. */
    void onBinary(ByteBuffer message) {
        try {
            RelayFrame.read(message, (pair, m, off, len) -> {
                byte[] data = Peers.scratch(Peers.RELAYED, len);
                m.get(off, data, 0, len);
                arrived(peers.linkOfPair(pair), data, len);
            });
        } catch (ProtocolException e) {
            peers.dropped("malformed");
            peers.log.debug(peers.selfId, "a relay message from the rendezvous is malformed: " + e.getMessage());
        }
    }

    private void arrived(Link l, byte[] data, int len) {
        if (l == null || (l.stopped && !l.retired) || len < Probe.HEADER || Probe.pairIdOf(data, len) != l.pairId) {
            peers.dropped("unknown_pair");
            return;
        }
        l.onDatagram(null, null, data, len);
    }
}
