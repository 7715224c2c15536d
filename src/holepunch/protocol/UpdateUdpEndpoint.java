package holepunch.protocol;

import holepunch.json.Json;
import holepunch.net.Addresses;

import java.util.List;
import java.util.Map;

/**
 * {@code update_udp_endpoint}: the worker's STUN-discovered UDP endpoint (the original's protocol (README: Protocol)). The
 * port may be a number or a numeric string, as the original's {@code int()} takes it. holepunch
 * workers add their NAT's mapping behaviour, whether the port was preserved, and their own
 * interface addresses ({@code host_candidates}, "ip:port", at most 8; unusable entries are dropped
 * and counted in {@code droppedCandidates}), and the endpoint their gateway maps to their port
 * ({@code mapped_endpoint}, "ip:port", from PCP, NAT-PMP or UPnP; absent without one), and their TURN
 * allocation's relayed address ({@code relay_candidate}, "ip:port"; absent without one), and the
 * random value the worker's process mixes into its probe keys ({@code probe_nonce}, 16 bytes in
 * base64url without padding; the rendezvous passes it to the worker's peers as {@code peer_probe_nonce}).
 */
public record UpdateUdpEndpoint(String udpIp, int udpPort, String natMapping, Boolean portPreserved, List<String> hostCandidates,
                                int droppedCandidates, String mappedEndpoint, String relayCandidate, String probeNonce) implements Message {
    /** The original's detail for a missing field. */
    public static final String MISSING_ENDPOINT = "Missing UDP IP or Port";

    public UpdateUdpEndpoint {
        hostCandidates = List.copyOf(hostCandidates);
    }

    public UpdateUdpEndpoint(String udpIp, int udpPort, String natMapping, Boolean portPreserved, List<String> hostCandidates) {
        this(udpIp, udpPort, natMapping, portPreserved, hostCandidates, 0, null, null, null);
    }

    public UpdateUdpEndpoint(String udpIp, int udpPort, String natMapping, Boolean portPreserved, List<String> hostCandidates,
                             String mappedEndpoint) {
        this(udpIp, udpPort, natMapping, portPreserved, hostCandidates, 0, mappedEndpoint, null, null);
    }

    public UpdateUdpEndpoint(String udpIp, int udpPort, String natMapping, Boolean portPreserved, List<String> hostCandidates,
                             String mappedEndpoint, String relayCandidate) {
        this(udpIp, udpPort, natMapping, portPreserved, hostCandidates, 0, mappedEndpoint, relayCandidate, null);
    }

    public UpdateUdpEndpoint(String udpIp, int udpPort, String natMapping, Boolean portPreserved, List<String> hostCandidates,
                             String mappedEndpoint, String relayCandidate, String probeNonce) {
        this(udpIp, udpPort, natMapping, portPreserved, hostCandidates, 0, mappedEndpoint, relayCandidate, probeNonce);
    }

    static UpdateUdpEndpoint parse(Map<String, Object> m) throws ProtocolException {
        Object ip = m.get("udp_ip");
        Object port = m.get("udp_port");
        if (ip == null || "".equals(ip) || port == null) throw new ProtocolException("udp_ip", MISSING_ENDPOINT);
        if (!(ip instanceof String s) || !Addresses.isIpLiteral(s)) {
            throw new ProtocolException("udp_ip", "udp_ip must be an IPv4 or IPv6 address, got " + Fields.describe(ip));
        }
        Integer p = Fields.portOf(port);
        if (p == null) {
            throw new ProtocolException("udp_port", "udp_port must be a whole number from 1 to 65535 (or such a number as a string), got "
                    + Fields.describe(port));
        }
        String mapping = Fields.string(m, "nat_mapping");
        int[] dropped = {0};
        List<String> hosts = Fields.hostPorts(m.get("host_candidates"), dropped);
        Object mapped = m.get("mapped_endpoint");
        if (mapped != null && (!(mapped instanceof String ms) || Addresses.hostPort(ms) == null)) {
            throw new ProtocolException("mapped_endpoint", "mapped_endpoint must be \"ip:port\", got " + Fields.describe(mapped));
        }
        Object relay = m.get("relay_candidate");
        if (relay != null && (!(relay instanceof String rs) || Addresses.hostPort(rs) == null)) {
            throw new ProtocolException("relay_candidate", "relay_candidate must be \"ip:port\", got " + Fields.describe(relay));
        }
        Object nonce = m.get("probe_nonce");
        if (nonce != null && !Fields.isProbeNonce(nonce)) {
            throw new ProtocolException("probe_nonce", "probe_nonce must be 16 bytes in base64url without padding (22 characters), got "
                    + Fields.describe(nonce));
        }
        return new UpdateUdpEndpoint(s, p, mapping != null && mapping.length() <= 64 ? mapping : null,
                m.get("port_preserved") instanceof Boolean b ? b : null, hosts, dropped[0], (String) mapped, (String) relay, (String) nonce);
    }

    @Override
    public MessageType type() {
        return MessageType.UPDATE_UDP_ENDPOINT;
    }

    @Override
    public Map<String, Object> toJson() {
        Map<String, Object> m = Json.obj("type", type().wire, "udp_ip", udpIp, "udp_port", udpPort, "nat_mapping", natMapping,
                "port_preserved", portPreserved, "host_candidates", hostCandidates, "mapped_endpoint", mappedEndpoint);
        if (relayCandidate != null) m.put("relay_candidate", relayCandidate);
        if (probeNonce != null) m.put("probe_nonce", probeNonce);
        return m;
    }
}
