package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/**
 * {@code p2p_connection_status}: how one side of a pair ended up ({@code state}, {@code remote}, {@code rtt_ms},
 * {@code detail}), and what opened its path ({@code technique}, holepunch's: absent from other clients).
 */
public record P2pConnectionStatus(String pairId, PathState state, String remote, Number rttMs, String detail, String technique)
        implements Message {
    public P2pConnectionStatus(String pairId, PathState state, String remote, Number rttMs, String detail) {
        this(pairId, state, remote, rttMs, detail, null);
    }

    static P2pConnectionStatus parse(Map<String, Object> m) throws ProtocolException {
        PathState state = PathState.ofWire(m.get("state"));
        if (state == null) throw ProtocolException.field("state", "one of connecting, direct, relay, failed", m.get("state"));
        return new P2pConnectionStatus(Fields.string(m, "pair_id"), state, Fields.text(m, "remote"),
                m.get("rtt_ms") instanceof Number n ? n : null, Fields.text(m, "detail"), Fields.text(m, "technique"));
    }

    @Override
    public MessageType type() {
        return MessageType.P2P_CONNECTION_STATUS;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "pair_id", pairId, "state", state.wire(), "remote", remote, "rtt_ms", rttMs, "detail", detail, "technique", technique);
    }
}
