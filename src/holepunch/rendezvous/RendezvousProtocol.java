package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.websocket.CloseCode;
import holepunch.net.Addresses;
import holepunch.websocket.WebSocketConnection;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The rendezvous messages (PROTOCOL.md Part 1): what each message a worker sends does, and what is
 * answered. Bad input gets an error ack where the original protocol has a reply, and a log line
 * naming the field where it has none; the session always stays open.
 */
final class RendezvousProtocol implements WebSocketConnection.Handler {
    static final String MISSING_ENDPOINT = "Missing UDP IP or Port";
    private static final java.util.Set<String> KNOWN_TYPES = java.util.Set.of("register_public_ip", "update_udp_endpoint",
            "echo_request", "request_p2p_connection", "p2p_connection_status", "p2p_connection_decline", "relay_data");
    static final int MAX_HOST_CANDIDATES = 8;
    /** The same reply to every good update_udp_endpoint: encoded once. */
    private static final String ACK_SUCCESS = Json.write(Json.obj("type", "udp_endpoint_ack", "status", "success"));

    private final Registry registry;
    private final Log log;
    private final Metrics metrics;
    private final int maxMessagesPerSec;
    private final java.util.function.ObjIntConsumer<WorkerEntry> onEnd;
    private final PeerBroker broker;

    RendezvousProtocol(Registry registry, Log log, Metrics metrics, RendezvousConfig config,
                       java.util.function.ObjIntConsumer<WorkerEntry> onEnd) {
        this.registry = registry;
        this.log = log;
        this.metrics = metrics;
        this.maxMessagesPerSec = config.maxMessagesPerSec();
        this.onEnd = onEnd;
        this.broker = new PeerBroker(registry, log, metrics, config);
    }

    PeerBroker broker() {
        return broker;
    }

    @Override
    public void onText(WebSocketConnection connection, String text) {
        WorkerEntry worker = (WorkerEntry) connection.attachment();
        if (!worker.rate.take(1, System.nanoTime())) {
            metrics.inc("holepunch_messages_total", "type", "over_rate");
            log.warn(worker.id, "sends more than " + maxMessagesPerSec + " messages per second (MAX_MESSAGES_PER_SEC); closing with 1008");
            connection.close(CloseCode.POLICY_VIOLATION, "message rate over " + maxMessagesPerSec + "/s");
            return;
        }
        Map<String, Object> message;
        try {
            message = Json.parseObject(text);
        } catch (Json.ParseException e) {
            metrics.inc("holepunch_messages_total", "type", "invalid_json");
            log.warn(worker.id, "sent a message that is not a JSON object (" + e.getMessage() + "): " + Log.excerpt(text));
            return;
        }
        Object type = message.get("type");
        String known = type instanceof String s && KNOWN_TYPES.contains(s) ? s : "unknown";
        metrics.inc("holepunch_messages_total", "type", known);
        switch (type instanceof String s ? s : "") {
            case "register_public_ip" -> registerPublicIp(worker, message);
            case "update_udp_endpoint" -> updateUdpEndpoint(worker, message);
            case "echo_request" -> connection.sendText(Json.write(Json.obj(
                    "type", "echo_response",
                    "original_payload", message.getOrDefault("payload", ""),
                    "processed_by_rendezvous", "Rendezvous processed echo for " + worker.id)));
            case "request_p2p_connection" -> broker.request(worker, message);
            case "p2p_connection_status" -> broker.status(worker, message);
            case "p2p_connection_decline" -> broker.decline(worker, message);
            case "relay_data" -> broker.relay(worker, message);
            default -> log.warn(worker.id, "sent unhandled message type " + describe(type));
        }
    }

    private void registerPublicIp(WorkerEntry worker, Map<String, Object> message) {
        Object ip = message.get("ip");
        if (ip instanceof String s && Addresses.isIpLiteral(s)) {
            worker.httpReportedIp = s;
            log.info(worker.id, "reported HTTP-based public IP " + s);
        } else {
            log.warn(worker.id, "register_public_ip: field 'ip' must be an IP address, got " + describe(ip));
        }
    }

    private void updateUdpEndpoint(WorkerEntry worker, Map<String, Object> message) {
        Object ip = message.get("udp_ip");
        Object port = message.get("udp_port");
        String error = null;
        Integer p = null;
        if (ip == null || "".equals(ip) || port == null) {
            error = MISSING_ENDPOINT;
        } else if (!(ip instanceof String s) || !Addresses.isIpLiteral(s)) {
            error = "udp_ip must be an IPv4 or IPv6 address, got " + describe(ip);
        } else if ((p = portOf(port)) == null) {
            error = "udp_port must be a whole number from 1 to 65535 (or such a number as a string), got " + describe(port);
        }
        if (error != null) {
            log.warn(worker.id, "sent an unusable update_udp_endpoint: " + error);
            worker.connection.sendText(Json.write(Json.obj("type", "udp_endpoint_ack", "status", "error", "detail", error)));
            return;
        }
        worker.endpoint(new WorkerEntry.Endpoint((String) ip, p));
        Object mapping = message.get("nat_mapping");
        worker.natMapping = mapping instanceof String m && m.length() <= 64 ? m : null;
        worker.portPreserved = message.get("port_preserved") instanceof Boolean b ? b : null;
        worker.hostCandidates = hostCandidates(worker, message.get("host_candidates"));
        log.info(worker.id, "updated STUN UDP endpoint to " + ip + ":" + p
                + (worker.natMapping == null ? "" : " (NAT mapping " + worker.natMapping + ")"));
        worker.connection.sendText(ACK_SUCCESS);
    }

    /** Valid "ip:port" strings from {@code host_candidates}, at most {@value #MAX_HOST_CANDIDATES}. */
    private List<String> hostCandidates(WorkerEntry worker, Object value) {
        if (value == null) return List.of();
        List<String> out = new ArrayList<>();
        if (value instanceof List<?> list) {
            for (Object o : list) {
                if (out.size() == MAX_HOST_CANDIDATES) break;
                if (o instanceof String s && isHostPort(s)) out.add(s);
                else log.warn(worker.id, "update_udp_endpoint: dropped an entry of field 'host_candidates' that is not \"ip:port\": " + describe(o));
            }
        } else {
            log.warn(worker.id, "update_udp_endpoint: field 'host_candidates' must be a list of \"ip:port\" strings");
        }
        return List.copyOf(out);
    }

    static boolean isHostPort(String s) {
        int colon = s.lastIndexOf(':');
        if (colon <= 0) return false;
        return Addresses.isIpLiteral(s.substring(0, colon)) && portOf(s.substring(colon + 1)) != null;
    }

    /** A port as the original's int() takes it: an integral number, or a decimal string; 1-65535. */
    static Integer portOf(Object value) {
        long n;
        switch (value) {
            case Long l -> n = l;
            case BigDecimal d -> {
                try {
                    n = d.longValueExact();
                } catch (ArithmeticException e) {
                    return null;
                }
            }
            case String s -> {
                String t = s.strip();
                if (t.startsWith("+")) t = t.substring(1);
                if (t.isEmpty() || t.length() > 5 || !t.chars().allMatch(c -> c >= '0' && c <= '9')) return null;
                n = Long.parseLong(t);
            }
            default -> {
                return null;
            }
        }
        return n >= 1 && n <= 65535 ? (int) n : null;
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

    static String describe(Object v) {
        return v instanceof String s ? "'" + Log.excerpt(s) + "'" : Json.typeName(v) + (v == null ? "" : " " + Log.excerpt(String.valueOf(v)));
    }
}
