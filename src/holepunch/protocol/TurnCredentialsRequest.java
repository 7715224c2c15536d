package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/** {@code turn_credentials_request}: a worker asks for fresh TURN credentials before its own expire. */
public record TurnCredentialsRequest() implements Message {
    @Override
    public MessageType type() {
        return MessageType.TURN_CREDENTIALS_REQUEST;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire);
    }
}
