package holepunch.protocol;

import holepunch.json.Json;
import holepunch.net.Addresses;

import java.util.Map;

/** {@code register_public_ip}: the worker's address as an HTTP IP echo service saw it (the original's protocol (README: Protocol)). */
public record RegisterPublicIp(String ip) implements Message {
    static RegisterPublicIp parse(Map<String, Object> m) throws ProtocolException {
        Object ip = m.get("ip");
        if (!(ip instanceof String s) || !Addresses.isIpLiteral(s)) throw ProtocolException.field("ip", "an IP address", ip);
        return new RegisterPublicIp(s);
    }

    @Override
    public MessageType type() {
        return MessageType.REGISTER_PUBLIC_IP;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "ip", ip);
    }
}
