package holepunch.rendezvous;

import holepunch.websocket.WebSocketConnection;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What the rendezvous knows of one connected worker session (one entry per worker id). */
final class WorkerEntry {
    final String id;
    final String observedIp;
    final int observedPort;
    final WebSocketConnection connection;
    volatile String httpReportedIp;
    volatile String stunIp;
    volatile Integer stunPort;
    /** Extra from holepunch workers: their NAT mapping behaviour (absent from original workers). */
    volatile String natMapping;
    volatile Boolean portPreserved;
    /** The worker's own interface addresses with its UDP port, "ip:port" (for peers on the same LAN). */
    volatile List<String> hostCandidates = List.of();
    /** Messages per second allowed from this session (touched on its loop thread only). */
    final holepunch.limits.TokenBucket rate;

    WorkerEntry(String id, String observedIp, int observedPort, WebSocketConnection connection, int maxMessagesPerSec) {
        this.rate = new holepunch.limits.TokenBucket(maxMessagesPerSec, 2.0 * maxMessagesPerSec, System.nanoTime());
        this.id = id;
        this.observedIp = observedIp;
        this.observedPort = observedPort;
        this.connection = connection;
    }

    /** The shape of {@code GET /debug/list_workers} entries (PROTOCOL.md Part 1), plus holepunch's fields. */
    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("websocket_observed_ip", observedIp);
        m.put("websocket_observed_port", observedPort);
        m.put("http_reported_public_ip", httpReportedIp);
        m.put("stun_reported_udp_ip", stunIp);
        m.put("stun_reported_udp_port", stunPort);
        m.put("websocket_connected", connection.isOpen());
        m.put("nat_mapping", natMapping);
        m.put("port_preserved", portPreserved);
        m.put("host_candidates", hostCandidates);
        return m;
    }
}
