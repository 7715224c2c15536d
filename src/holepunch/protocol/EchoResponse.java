package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/** {@code echo_response}: the payload back, and who processed it (the original's protocol (README: Protocol)). */
public record EchoResponse(Object originalPayload, String processedByRendezvous) implements Message {
    public static EchoResponse to(EchoRequest request, String workerId) {
        return new EchoResponse(request.payload(), "Rendezvous processed echo for " + workerId);
    }

    static EchoResponse parse(Map<String, Object> m) {
        return new EchoResponse(m.get("original_payload"), Fields.string(m, "processed_by_rendezvous"));
    }

    @Override
    public MessageType type() {
        return MessageType.ECHO_RESPONSE;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "original_payload", originalPayload, "processed_by_rendezvous", processedByRendezvous);
    }
}
