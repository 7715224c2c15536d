package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/**
 * {@code p2p_connection_error}: no introduction to {@code target_worker_id}, and why; with the
 * {@code pair_id} when the target declined a pair already offered.
 */
public record P2pConnectionError(String targetWorkerId, String pairId, String detail) implements Message {
    static P2pConnectionError parse(Map<String, Object> m) {
        return new P2pConnectionError(Fields.string(m, "target_worker_id"), Fields.string(m, "pair_id"), Fields.text(m, "detail"));
    }

    @Override
    public MessageType type() {
        return MessageType.P2P_CONNECTION_ERROR;
    }

    @Override
    public Map<String, Object> toJson() {
        Map<String, Object> m = Json.obj("type", type().wire, "target_worker_id", targetWorkerId);
        if (pairId != null) m.put("pair_id", pairId);
        m.put("detail", detail);
        return m;
    }
}
