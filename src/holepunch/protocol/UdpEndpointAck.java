package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/** {@code udp_endpoint_ack}: {@code status} "success", or "error" with a {@code detail} (the original's protocol (README: Protocol)). */
public record UdpEndpointAck(String status, String detail) implements Message {
    public static final UdpEndpointAck SUCCESS = new UdpEndpointAck("success", null);

    public static UdpEndpointAck error(String detail) {
        return new UdpEndpointAck("error", detail);
    }

    public boolean success() {
        return "success".equals(status);
    }

    static UdpEndpointAck parse(Map<String, Object> m) {
        return new UdpEndpointAck(String.valueOf(m.get("status")), Fields.text(m, "detail"));
    }

    @Override
    public MessageType type() {
        return MessageType.UDP_ENDPOINT_ACK;
    }

    @Override
    public Map<String, Object> toJson() {
        Map<String, Object> m = Json.obj("type", type().wire, "status", status);
        if (detail != null) m.put("detail", detail);
        return m;
    }
}
