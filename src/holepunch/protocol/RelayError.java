package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/** {@code relay_error}: a {@code relay_data} refused, and why. */
public record RelayError(String pairId, String detail) implements Message {
    static RelayError parse(Map<String, Object> m) {
        return new RelayError(Fields.string(m, "pair_id"), Fields.text(m, "detail"));
    }

    @Override
    public MessageType type() {
        return MessageType.RELAY_ERROR;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "pair_id", pairId, "detail", detail);
    }
}
