package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.protocol.EchoRequest;
import holepunch.protocol.EchoResponse;
import holepunch.protocol.Message;
import holepunch.protocol.MessageType;
import holepunch.protocol.P2pConnectionDecline;
import holepunch.protocol.P2pConnectionStatus;
import holepunch.protocol.ProtocolException;
import holepunch.protocol.RegisterPublicIp;
import holepunch.protocol.RelayData;
import holepunch.protocol.RequestP2pConnection;
import holepunch.protocol.UdpEndpointAck;
import holepunch.protocol.UpdateUdpEndpoint;
import holepunch.websocket.CloseCode;
import holepunch.websocket.WebSocketConnection;

import java.util.Map;

/**
 * What the rendezvous does with each message a worker sends (README: Protocol, Peer connections); the byte
 * and field syntax lives in {@code holepunch.protocol}. Bad input gets an error ack where the
 * original protocol has a reply, and a log line naming the field where it has none; the session
 * always stays open.
 */
final class RendezvousProtocol implements WebSocketConnection.Handler {
    /** The same reply to every good update_udp_endpoint: encoded once. */
    private static final byte[] ACK_SUCCESS = UdpEndpointAck.SUCCESS.encodeUtf8();

    private final Registry registry;
    private final Log log;
    private final Metrics metrics;
    private final int maxMessagesPerSec;
    private final TurnGrant turn;
    private final java.util.function.ObjIntConsumer<WorkerEntry> onEnd;
    private final PeerBroker broker;
    /** holepunch_messages_total's series, each made once (Prometheus: counters start at 0). */
    private static final String MESSAGES = "holepunch_messages_total";
    private final Metrics.Counter overRate;
    private final Metrics.Counter invalidJson;
    private final Metrics.Counter unknownType;
    private final java.util.EnumMap<MessageType, Metrics.Counter> byType = new java.util.EnumMap<>(MessageType.class);

    RendezvousProtocol(Registry registry, Log log, Metrics metrics, RendezvousConfig config,
                       java.util.function.ObjIntConsumer<WorkerEntry> onEnd) {
        this.registry = registry;
        this.log = log;
        this.metrics = metrics;
        this.maxMessagesPerSec = config.maxMessagesPerSec();
        this.turn = config.turn();
        this.onEnd = onEnd;
        this.broker = new PeerBroker(registry, log, metrics, config);
        this.overRate = metrics.counter(MESSAGES, "type", "over_rate");
        this.invalidJson = metrics.counter(MESSAGES, "type", "invalid_json");
        this.unknownType = metrics.counter(MESSAGES, "type", "unknown");
        for (MessageType t : MessageType.values()) byType.put(t, metrics.counter(MESSAGES, "type", t.wire));
    }

    PeerBroker broker() {
        return broker;
    }

    /** A Ping is answered with a Pong (RFC 6455 §5.5.2): an echo, so it counts against MAX_MESSAGES_PER_SEC too. */
    @Override
    public boolean onPing(WebSocketConnection connection) {
        return withinRate((WorkerEntry) connection.attachment(), connection);
    }

    /** Takes one message (text or Ping) from the session's budget; over it, the session is closed with 1008. */
    private boolean withinRate(WorkerEntry worker, WebSocketConnection connection) {
        if (worker.rate.take(1, System.nanoTime())) return true;
        overRate.inc();
        log.warn(worker.id, "sends more than " + maxMessagesPerSec + " messages per second (MAX_MESSAGES_PER_SEC, Pings included); closing with 1008");
        connection.close(CloseCode.POLICY_VIOLATION, "message rate over " + maxMessagesPerSec + "/s");
        return false;
    }

    /** A binary message: relayed datagrams (sessions that selected the binary relay only); outside the message rate. */
    @Override
    public void onBinary(WebSocketConnection connection, byte[] data, int length) {
        broker.relay().binary((WorkerEntry) connection.attachment(), data, length);
    }

    /**
     * A text message. Each counts against MAX_MESSAGES_PER_SEC except a {@code relay_data} on a
     * live pair of the sender, which the relay's byte budgets hold instead ({@link Relay}).
     */
    @Override
    public void onText(WebSocketConnection connection, String text) {
        WorkerEntry worker = (WorkerEntry) connection.attachment();
        Map<String, Object> json;
        try {
            json = Json.parseObject(text);
        } catch (Json.ParseException e) {
            if (!withinRate(worker, connection)) return;
            invalidJson.inc();
            log.warn(worker.id, "sent a message that is not a JSON object (" + e.getMessage() + "): " + Log.excerpt(text));
            return;
        }
        Object typeField = json.get("type");
        MessageType type = typeField instanceof String s ? MessageType.ofWire(s) : null;
        Message message;
        ProtocolException bad = null;
        try {
            message = Message.parse(json);
        } catch (ProtocolException e) {
            message = null;
            bad = e;
        }
        // The one exception to the message rate: a relay_data the relay took (its byte budgets hold it).
        if (message instanceof RelayData m && broker.relay().json(worker, m)) {
            byType.get(MessageType.RELAY_DATA).inc();
            return;
        }
        if (!withinRate(worker, connection)) return;
        (type == null ? unknownType : byType.get(type)).inc();
        if (bad != null) {
            if (type == MessageType.UPDATE_UDP_ENDPOINT) {
                log.warn(worker.id, "sent an unusable update_udp_endpoint: " + bad.getMessage());
                worker.connection.sendText(UdpEndpointAck.error(bad.getMessage()).encodeUtf8());
            } else if (type == null) {
                log.warn(worker.id, "sent unhandled message type " + Log.excerpt(String.valueOf(typeField)));
            } else {
                log.warn(worker.id, type.wire + ": " + bad.getMessage());
            }
            return;
        }
        switch (message) {
            case RegisterPublicIp m -> {
                worker.httpReportedIp = m.ip();
                registry.changed(worker.id);
                log.info(worker.id, "reported HTTP-based public IP " + m.ip());
            }
            case UpdateUdpEndpoint m -> updateUdpEndpoint(worker, m);
            case EchoRequest m -> connection.sendText(EchoResponse.to(m, worker.id).encodeUtf8());
            case RequestP2pConnection m -> broker.request(worker, m);
            case P2pConnectionStatus m -> broker.status(worker, m);
            case P2pConnectionDecline m -> broker.decline(worker, m);
            case holepunch.protocol.TurnCredentialsRequest m -> {
                TurnGrant turn = this.turn;
                if (turn == null) log.info(worker.id, "asked for TURN credentials; this rendezvous has no TURN_URLS/TURN_SECRET");
                else connection.sendText(turn.credentialsFor(worker.id).encodeUtf8());
            }
            case RelayData m -> {
                // refused by the relay (its relay_error is sent), and counted against the rate above
            }
            case Message.Unknown m -> log.warn(worker.id, "sent unhandled message type '" + Log.excerpt(m.typeName()) + "'");
            default -> log.warn(worker.id, "sent " + message.type().wire + ", which only the rendezvous sends; ignored");
        }
    }

    private void updateUdpEndpoint(WorkerEntry worker, UpdateUdpEndpoint m) {
        worker.endpoint(new WorkerEntry.Endpoint(m.udpIp(), m.udpPort()));
        worker.natMapping = m.natMapping();
        worker.portPreserved = m.portPreserved();
        worker.hostCandidates = m.hostCandidates();
        worker.mappedEndpoint = m.mappedEndpoint();
        worker.relayCandidate = m.relayCandidate();
        worker.probeNonce = m.probeNonce();
        registry.changed(worker.id);
        if (m.droppedCandidates() > 0) {
            log.warn(worker.id, "update_udp_endpoint: dropped " + m.droppedCandidates() + " entries of field 'host_candidates' that are not \"ip:port\"");
        }
        log.info(worker.id, "updated STUN UDP endpoint to " + worker.endpoint()
                + (m.natMapping() == null ? "" : " (NAT mapping " + m.natMapping() + ")"));
        worker.connection.sendText(ACK_SUCCESS);
    }

    @Override
    public void onClosed(WebSocketConnection connection, int code, String reason) {
        WorkerEntry worker = (WorkerEntry) connection.attachment();
        onEnd.accept(worker, code);
        broker.sessionEnded(worker);
        String how = "disconnected from " + worker.observedIp + ":" + worker.observedPort + " (code " + code
                + (reason == null || reason.isEmpty() ? "" : ", " + reason) + ")";
        if (registry.remove(worker)) {
            log.info(worker.id, how + "; de-registered. Total: " + registry.size());
        } else {
            log.info(worker.id, how + "; a newer session owns the id, entry kept");
        }
    }
}
