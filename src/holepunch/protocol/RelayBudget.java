package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/**
 * {@code relay_budget}: what the rendezvous relays for this session, sent once after an upgrade
 * that selected the binary relay ({@link RelayFrame#SUBPROTOCOL}). {@code pair_bytes_per_sec} is
 * each pair's rate (RELAY_BYTES_PER_SEC; bursts of twice that), {@code total_bytes_per_sec} the
 * instance's, shared between the pairs that use it (RELAY_TOTAL_BYTES_PER_SEC). A worker paces
 * each pair to its rate and drops what exceeds it, so the rendezvous need not.
 */
public record RelayBudget(long pairBytesPerSec, long totalBytesPerSec) implements Message {
    static RelayBudget parse(Map<String, Object> m) throws ProtocolException {
        Long pair = Fields.integer(m, "pair_bytes_per_sec");
        Long total = Fields.integer(m, "total_bytes_per_sec");
        if (pair == null || pair <= 0) throw ProtocolException.field("pair_bytes_per_sec", "a positive integer", m.get("pair_bytes_per_sec"));
        if (total == null || total <= 0) throw ProtocolException.field("total_bytes_per_sec", "a positive integer", m.get("total_bytes_per_sec"));
        return new RelayBudget(pair, total);
    }

    @Override
    public MessageType type() {
        return MessageType.RELAY_BUDGET;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "pair_bytes_per_sec", pairBytesPerSec, "total_bytes_per_sec", totalBytesPerSec);
    }
}
