package holepunch.rendezvous;

import holepunch.crypto.PublicIdentity;
import holepunch.limits.TokenBucket;
import holepunch.websocket.WebSocketConnection;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What the rendezvous knows of one connected worker session (one entry per worker id). */
final class WorkerEntry {
    /** A reported UDP endpoint, replaced whole so that no reader sees a new address with an old port. */
    record Endpoint(String ip, int port) {
        @Override
        public String toString() {
            return ip.indexOf(':') >= 0 ? "[" + ip + "]:" + port : ip + ":" + port;
        }
    }

    final String id;
    final String observedIp;
    final int observedPort;
    final WebSocketConnection connection;
    /** The key this session proved on its upgrade, or null for a keyless (original) client. */
    final PublicIdentity identity;
    volatile String httpReportedIp;
    private volatile Endpoint endpoint;
    /** Extra from holepunch workers: their NAT mapping behaviour (absent from original workers). */
    volatile String natMapping;
    volatile Boolean portPreserved;
    /** The worker's own interface addresses with its UDP port, "ip:port" (for peers on the same LAN). */
    volatile List<String> hostCandidates = List.of();
    /** The endpoint the worker's gateway maps to its UDP port (PCP, NAT-PMP or UPnP), "ip:port", or null. */
    volatile String mappedEndpoint;
    /** The worker's TURN allocation's relayed address, "ip:port", or null. */
    volatile String relayCandidate;
    /** The random value the worker's process mixes into its probe keys ({@code probe_nonce}), passed to its peers; or null. */
    volatile String probeNonce;
    /** Messages per second allowed from this session (touched on its loop thread only). */
    final TokenBucket rate;
    /** Introductions to this session (P2P_OFFERS_PER_MIN). */
    final TokenBucket offers;
    /** Requests of this session for workers held by other instances (each a Redis lookup): 5 a second, 10 at once. */
    static final double LOOKUPS_PER_SEC = 5;
    final TokenBucket lookups = new TokenBucket(LOOKUPS_PER_SEC, 10, System.nanoTime());
    /** Set when the cluster refused this session its id (another instance holds it with another key): it binds nothing. */
    volatile boolean refusedByCluster;
    /** The key is the worker process's alone (its proof said so): it holds the id only while this session lives. */
    volatile boolean ephemeralKey;
    /** What this session's per-address limit counts it by (its client's address, an IPv6 one's /64). */
    volatile String slotKey;
    /** The session selected the binary relay (holepunch.relay.1): relayed datagrams go to it in binary frames. */
    volatile boolean binaryRelay;
    /** When this session was last told ({@code relay_error}) and logged about each kind of relay drop ({@link Relay.Drop}). */
    final long[] relayToldAt = new long[Relay.Drop.values().length];
    final long[] relayLoggedAt = new long[Relay.Drop.values().length];
    /** Wall-clock time of the upgrade: across instances, the later session of an id wins. */
    final long registeredMillis = System.currentTimeMillis();

    WorkerEntry(String id, String observedIp, int observedPort, WebSocketConnection connection, int maxMessagesPerSec,
                TokenBucket offers, PublicIdentity identity) {
        this.identity = identity;
        this.rate = new TokenBucket(maxMessagesPerSec, 2.0 * maxMessagesPerSec, System.nanoTime());
        this.offers = offers;
        this.id = id;
        this.observedIp = observedIp;
        this.observedPort = observedPort;
        this.connection = connection;
    }

    /** The STUN-reported UDP endpoint, or null before the first {@code update_udp_endpoint}. */
    Endpoint endpoint() {
        return endpoint;
    }

    void endpoint(Endpoint e) {
        endpoint = e;
    }

    /** The shape of {@code GET /debug/list_workers} entries (the original's protocol (README: Protocol)), plus holepunch's fields. */
    Map<String, Object> toJson() {
        Endpoint e = endpoint;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("websocket_observed_ip", observedIp);
        m.put("websocket_observed_port", observedPort);
        m.put("http_reported_public_ip", httpReportedIp);
        m.put("stun_reported_udp_ip", e == null ? null : e.ip());
        m.put("stun_reported_udp_port", e == null ? null : e.port());
        m.put("websocket_connected", connection.isOpen());
        m.put("nat_mapping", natMapping);
        m.put("port_preserved", portPreserved);
        m.put("host_candidates", hostCandidates);
        m.put("mapped_endpoint", mappedEndpoint);
        m.put("relay_candidate", relayCandidate);
        m.put("key_fingerprint", identity == null ? null : identity.fingerprint());
        m.put("connected_since_ms", registeredMillis);
        return m;
    }
}
