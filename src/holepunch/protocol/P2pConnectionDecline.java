package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/** {@code p2p_connection_decline}: this worker will not take part in {@code pair_id} (its P2P_ALLOW), and why. */
public record P2pConnectionDecline(String pairId, String detail) implements Message {
    static P2pConnectionDecline parse(Map<String, Object> m) throws ProtocolException {
        String pair = Fields.string(m, "pair_id");
        if (pair == null) throw ProtocolException.field("pair_id", "a string", m.get("pair_id"));
        return new P2pConnectionDecline(pair, Fields.text(m, "detail"));
    }

    @Override
    public MessageType type() {
        return MessageType.P2P_CONNECTION_DECLINE;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "pair_id", pairId, "detail", detail);
    }
}
