package holepunch.protocol;

import holepunch.crypto.Keys;
import holepunch.crypto.PublicIdentity;
import holepunch.json.Json;

import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * {@code p2p_connection_offer}: the rendezvous introduces a peer. Sent to both workers of a pair,
 * each with the other's endpoint and candidates, the same {@code pair_id} (16 hex digits) and
 * {@code pair_key} (at least 16 bytes, base64), its {@code role}, and {@code start_in_ms}, when to
 * start punching so that both sides' first probes leave at about the same moment. When the peer
 * proved a key on its upgrade, {@code peer_public_key}, {@code peer_static_key} and
 * {@code peer_static_sig} carry it (the workers' own handshake needs it; the pair key is then only
 * kept for older workers). {@code peer_relay_candidate} is the peer's TURN relayed address, when it
 * has one: probed like the other candidates, taken only when nothing direct answers.
 * {@code peer_key_ephemeral} is true when the peer's signed proof said its key is its process's alone
 * (no WORKER_KEY_FILE): such a key is not remembered by the worker's known peers (trust on first use).
 * {@code peer_probe_nonce} is the random value the peer's process reported ({@code probe_nonce}), which
 * both sides mix into the pair's probe keys with their own.
 */
public record P2pConnectionOffer(String peerWorkerId, String peerUdpIp, int peerUdpPort, List<String> peerHostCandidates,
                                 String peerNatMapping, String pairId, String pairKey, Role role, long startInMs,
                                 PublicIdentity peerIdentity, String peerMappedEndpoint, String peerObservedIp,
                                 String peerRelayCandidate, boolean peerKeyEphemeral, String peerProbeNonce) implements Message {
    public static final long MAX_START_MS = 10_000;

    public P2pConnectionOffer {
        peerHostCandidates = List.copyOf(peerHostCandidates);
    }

    public P2pConnectionOffer(String peerWorkerId, String peerUdpIp, int peerUdpPort, List<String> peerHostCandidates,
                              String peerNatMapping, String pairId, String pairKey, Role role, long startInMs, PublicIdentity peerIdentity,
                              String peerMappedEndpoint, String peerObservedIp, String peerRelayCandidate) {
        this(peerWorkerId, peerUdpIp, peerUdpPort, peerHostCandidates, peerNatMapping, pairId, pairKey, role, startInMs, peerIdentity,
                peerMappedEndpoint, peerObservedIp, peerRelayCandidate, false, null);
    }

    public P2pConnectionOffer(String peerWorkerId, String peerUdpIp, int peerUdpPort, List<String> peerHostCandidates,
                              String peerNatMapping, String pairId, String pairKey, Role role, long startInMs, PublicIdentity peerIdentity) {
        this(peerWorkerId, peerUdpIp, peerUdpPort, peerHostCandidates, peerNatMapping, pairId, pairKey, role, startInMs, peerIdentity, null, null, null);
    }

    public P2pConnectionOffer(String peerWorkerId, String peerUdpIp, int peerUdpPort, List<String> peerHostCandidates,
                              String peerNatMapping, String pairId, String pairKey, Role role, long startInMs, PublicIdentity peerIdentity,
                              String peerMappedEndpoint, String peerObservedIp) {
        this(peerWorkerId, peerUdpIp, peerUdpPort, peerHostCandidates, peerNatMapping, pairId, pairKey, role, startInMs, peerIdentity,
                peerMappedEndpoint, peerObservedIp, null);
    }

    static P2pConnectionOffer parse(Map<String, Object> m) throws ProtocolException {
        String peer = Fields.string(m, "peer_worker_id");
        if (!WorkerIds.isValid(peer)) throw ProtocolException.field("peer_worker_id", "a worker id", m.get("peer_worker_id"));
        String pair = Fields.string(m, "pair_id");
        if (pair == null || !pair.matches("[0-9a-fA-F]{1,16}")) throw ProtocolException.field("pair_id", "up to 16 hex digits", m.get("pair_id"));
        String key = Fields.string(m, "pair_key");
        byte[] k;
        try {
            k = key == null ? null : Base64.getDecoder().decode(key);
        } catch (IllegalArgumentException e) {
            k = null;
        }
        if (k == null || k.length < 16) throw ProtocolException.field("pair_key", "at least 16 bytes in base64", key == null ? m.get("pair_key") : "(hidden)");
        Role role = Role.ofWire(m.get("role"));
        if (role == null) throw ProtocolException.field("role", "initiator or responder", m.get("role"));
        Object ip = m.get("peer_udp_ip");
        Integer port = Fields.portOf(m.get("peer_udp_port"));
        int[] dropped = {0};
        List<String> hosts = Fields.hostPorts(m.get("peer_host_candidates"), dropped);
        Long start = Fields.integer(m, "start_in_ms");
        PublicIdentity identity = null;
        if (m.get("peer_public_key") != null) {
            identity = PublicIdentity.verified(Fields.string(m, "peer_public_key"), Fields.string(m, "peer_static_key"),
                    Fields.string(m, "peer_static_sig"));
            if (identity == null) {
                throw new ProtocolException("peer_static_sig", "peer_public_key, peer_static_key and peer_static_sig must be keys"
                        + " with the static key signed by the public one");
            }
        }
        return new P2pConnectionOffer(peer, ip instanceof String s ? s : null, port == null ? 0 : port, hosts,
                Fields.string(m, "peer_nat_mapping"), pair, key, role, start == null ? 0 : Math.clamp(start, 0, MAX_START_MS), identity,
                Fields.string(m, "peer_mapped_endpoint"), observedIp(m.get("peer_observed_ip")), relayCandidate(m.get("peer_relay_candidate")),
                Boolean.TRUE.equals(m.get("peer_key_ephemeral")), probeNonce(m.get("peer_probe_nonce")));
    }

    private static String probeNonce(Object v) throws ProtocolException {
        if (v != null && !Fields.isProbeNonce(v)) {
            throw ProtocolException.field("peer_probe_nonce", "16 bytes in base64url without padding", v);
        }
        return (String) v;
    }

    /** {@code peer_relay_candidate}: the peer's TURN relayed address, "ip:port", else nothing. */
    private static String relayCandidate(Object v) {
        return v instanceof String s && holepunch.net.Addresses.hostPort(s) != null ? s : null;
    }

    /** {@code peer_observed_ip}: an IP literal, else nothing (it only ever narrows what a worker will do). */
    private static String observedIp(Object v) {
        return v instanceof String s && holepunch.net.Addresses.isIpLiteral(s) ? s : null;
    }

    /** The pair id as a number (what probes carry). */
    public long pairIdValue() {
        return Long.parseUnsignedLong(pairId, 16);
    }

    public static String pairIdText(long pairId) {
        return HexFormat.of().toHexDigits(pairId);
    }

    @Override
    public MessageType type() {
        return MessageType.P2P_CONNECTION_OFFER;
    }

    @Override
    public Map<String, Object> toJson() {
        Map<String, Object> m = Json.obj("type", type().wire,
                "peer_worker_id", peerWorkerId,
                "peer_udp_ip", peerUdpIp,
                "peer_udp_port", peerUdpPort,
                "peer_host_candidates", peerHostCandidates,
                "peer_nat_mapping", peerNatMapping,
                "pair_id", pairId,
                "pair_key", pairKey,
                "role", role.wire(),
                "start_in_ms", startInMs);
        if (peerMappedEndpoint != null) m.put("peer_mapped_endpoint", peerMappedEndpoint);
        if (peerObservedIp != null) m.put("peer_observed_ip", peerObservedIp);
        if (peerRelayCandidate != null) m.put("peer_relay_candidate", peerRelayCandidate);
        if (peerProbeNonce != null) m.put("peer_probe_nonce", peerProbeNonce);
        if (peerIdentity != null) {
            m.put("peer_public_key", Keys.b64(peerIdentity.signingKey()));
            m.put("peer_static_key", Keys.b64(peerIdentity.staticKey()));
            m.put("peer_static_sig", Keys.b64(peerIdentity.staticSig()));
            if (peerKeyEphemeral) m.put("peer_key_ephemeral", true);
        }
        return m;
    }

    /** Never shows the key. */
    @Override
    public String toString() {
        return "P2pConnectionOffer[peer=" + peerWorkerId + ", pair=" + pairId + ", role=" + role.wire() + "]";
    }
}
