package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/** {@code echo_request}: any JSON {@code payload}, "" when absent (the original's protocol (README: Protocol)). */
public record EchoRequest(Object payload) implements Message {
    static EchoRequest parse(Map<String, Object> m) {
        return new EchoRequest(m.getOrDefault("payload", ""));
    }

    @Override
    public MessageType type() {
        return MessageType.ECHO_REQUEST;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "payload", payload);
    }
}
