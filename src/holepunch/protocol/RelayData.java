package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/**
 * {@code relay_data}: a datagram for the other worker of a pair, carried over the rendezvous
 * ({@code data} in base64). The rendezvous adds {@code from_worker_id} when it passes it on.
 */
public record RelayData(String pairId, String fromWorkerId, String data) implements Message {
    static RelayData parse(Map<String, Object> m) {
        return new RelayData(Fields.string(m, "pair_id"), Fields.string(m, "from_worker_id"), Fields.string(m, "data"));
    }

    @Override
    public MessageType type() {
        return MessageType.RELAY_DATA;
    }

    @Override
    public Map<String, Object> toJson() {
        Map<String, Object> m = Json.obj("type", type().wire, "pair_id", pairId);
        if (fromWorkerId != null) m.put("from_worker_id", fromWorkerId);
        m.put("data", data);
        return m;
    }
}
