package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/** {@code request_p2p_connection}: introduce me to {@code target_worker_id} (null when absent or not a string). */
public record RequestP2pConnection(String targetWorkerId) implements Message {
    static RequestP2pConnection parse(Map<String, Object> m) {
        return new RequestP2pConnection(Fields.string(m, "target_worker_id"));
    }

    @Override
    public MessageType type() {
        return MessageType.REQUEST_P2P_CONNECTION;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "target_worker_id", targetWorkerId);
    }
}
