package holepunch.worker;

import holepunch.config.ConfigException;
import holepunch.config.Env;
import holepunch.protocol.WorkerIds;
import holepunch.stun.StunClient;

import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

/** The worker's settings, from the environment (README: Configuration, Worker). */
public record WorkerConfig(String workerId, URI rendezvousWs, List<InetSocketAddress> stunServers, int udpPort,
                           int httpPort, long pingIntervalNanos, long pingTimeoutNanos, String ipEchoUrl,
                           long stunRefreshMillis, StunClient.Retransmission retransmission, String token,
                           holepunch.peer.PeerSettings peers, boolean hostCandidates, List<Forwarder.Rule> forward,
                           List<String> forwardAllow, java.nio.file.Path keyFile,
                           List<holepunch.portmap.PortMapper.Protocol> portMapping, boolean ipv6,
                           holepunch.net.UdpSockets.Buffers udpBuffers, boolean udpBatch, javax.net.ssl.SSLContext rendezvousTls,
                           holepunch.protocol.TurnCredentialsMessage turn, javax.net.ssl.SSLContext turnTls) {

    /** Never shows the token. */
    @Override
    public String toString() {
        return "WorkerConfig[id=" + workerId + ", rendezvous=" + rendezvousWs + ", token=" + (token == null ? "unset" : "set") + "]";
    }

    public static WorkerConfig from(Env env) {
        String id = env.string("WORKER_ID", "");
        if (id.isEmpty()) {
            id = UUID.randomUUID().toString();
        } else if (!WorkerIds.isValid(id)) {
            throw new ConfigException("WORKER_ID '" + id + "' is not allowed: " + WorkerIds.RULE);
        }
        URI ws = webSocketUrl(env.required("RENDEZVOUS_SERVICE_URL",
                "set it to the rendezvous base URL, e.g. http://127.0.0.1:8080 or https://rendezvous.example.run.app"), id);
        List<InetSocketAddress> stun = new ArrayList<>();
        stun.add(InetSocketAddress.createUnresolved(env.string("STUN_HOST_ENV", "stun.l.google.com"),
                env.port("STUN_PORT_ENV", 19302, false)));
        String more = env.string("STUN_SERVERS", "");
        for (String item : more.split(",")) {
            if (!item.isBlank()) stun.add(hostPort("STUN_SERVERS", item.trim()));
        }
        List<Forwarder.Rule> forward = Forwarder.parseRules(env.string("FORWARD", ""));
        List<String> connectTo = new ArrayList<>(peerIds(env.string("P2P_CONNECT_TO", "")));
        for (Forwarder.Rule r : forward) {
            if (!WorkerIds.isValid(r.peer())) throw new ConfigException("FORWARD names '" + r.peer() + "', which is not a worker id");
            if (!connectTo.contains(r.peer())) connectTo.add(r.peer());
        }
        return new WorkerConfig(id, ws, List.copyOf(stun),
                env.port("INTERNAL_UDP_PORT_ENV", 8081, true),
                env.port("PORT", 8080, true),
                env.seconds("PING_INTERVAL_SEC", 25, 0.05, 3600),
                env.seconds("PING_TIMEOUT_SEC", 25, 0.05, 3600),
                env.string("IP_ECHO_URL", "https://api.ipify.org"),
                env.seconds("STUN_REFRESH_SEC", 25, 0.1, 86400) / 1_000_000,
                new StunClient.Retransmission(env.integer("STUN_RTO_MS", 500, 1, 60_000),
                        env.integer("STUN_RC", 7, 1, 20), env.integer("STUN_RM", 16, 1, 100)),
                env.string("RENDEZVOUS_TOKEN", "").isEmpty() ? null : env.string("RENDEZVOUS_TOKEN", ""),
                new holepunch.peer.PeerSettings(
                        env.integer("P2P_DEADLINE_MS", 5000, 100, 600_000),
                        env.integer("P2P_PROBE_INTERVAL_MS", 50, 5, 10_000),
                        env.seconds("P2P_KEEPALIVE_SEC", 15, 0.05, 3600) / 1_000_000,
                        env.integer("P2P_ANSWER_WAIT_MS", 3000, 10, 60_000),
                        env.seconds("P2P_RETRY_DIRECT_SEC", 30, 0.1, 86400) / 1_000_000,
                        List.copyOf(connectTo), p2pAllow(env.string("P2P_ALLOW", ""), connectTo),
                        peerKeys(env.string("PEER_KEYS", "")), env.seconds("P2P_REKEY_SEC", 120, 0.05, 86400) / 1_000_000,
                        env.integer("P2P_PRIME_TTL", 2, 0, 64), env.bool("P2P_HARD_NAT", true), knownPeersFile(env)),
                !env.string("HOST_CANDIDATES", "true").equalsIgnoreCase("false"),
                forward, Forwarder.parseAllow(env.string("FORWARD_ALLOW", "")),
                env.string("WORKER_KEY_FILE", "").isEmpty() ? null : java.nio.file.Path.of(env.string("WORKER_KEY_FILE", "")),
                portMapping(env.string("PORT_MAPPING", isLocal(ws, stun) ? "false" : "true")), env.bool("IPV6", true),
                new holepunch.net.UdpSockets.Buffers(env.integer("UDP_RECEIVE_BUFFER_BYTES", 4 << 20, 4096, 1 << 30),
                        env.integer("UDP_SEND_BUFFER_BYTES", 4 << 20, 4096, 1 << 30)),
                env.bool("UDP_BATCH", true),
                env.string("RENDEZVOUS_CA_FILE", "").isBlank() ? null : PrivateCa.context(java.nio.file.Path.of(env.string("RENDEZVOUS_CA_FILE", ""))),
                turn(env.string("TURN_URLS", ""), env.string("TURN_USERNAME", ""), env.string("TURN_PASSWORD", "")),
                env.string("TURN_CA_FILE", "").isBlank() ? null : PrivateCa.context(java.nio.file.Path.of(env.string("TURN_CA_FILE", "")), "TURN_CA_FILE"));
    }

    /**
     * TURN_URLS, TURN_USERNAME, TURN_PASSWORD: TURN servers and long-term credentials of the worker's
     * own (instead of those a rendezvous with TURN_SECRET gives); all three or none.
     */
    static holepunch.protocol.TurnCredentialsMessage turn(String urlList, String username, String password) {
        List<String> urls = java.util.Arrays.stream(urlList.split(",")).map(String::strip).filter(u -> !u.isEmpty()).toList();
        if (urls.isEmpty() && username.isEmpty() && password.isEmpty()) return null;
        if (urls.isEmpty() || username.isEmpty() || password.isEmpty()) {
            throw new ConfigException("TURN_URLS, TURN_USERNAME and TURN_PASSWORD go together: set all three, or none (a rendezvous"
                    + " with TURN_SECRET gives its workers credentials of their own)");
        }
        for (String u : urls) {
            try {
                holepunch.turn.TurnUri.parse(u);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("TURN_URLS: " + e.getMessage());
            }
        }
        return new holepunch.protocol.TurnCredentialsMessage(urls, username, password, Long.MAX_VALUE / 2000);
    }

    /**
     * A setup confined to this host: the rendezvous and every STUN server on loopback (the demo, the
     * tests). Every peer is then on this host too, so PORT_MAPPING defaults to off there: nothing is
     * asked of the gateway.
     */
    static boolean isLocal(URI rendezvous, List<InetSocketAddress> stun) {
        return isLoopback(rendezvous.getHost()) && stun.stream().allMatch(a -> isLoopback(a.getHostString()));
    }

    private static boolean isLoopback(String host) {
        if (host == null) return false;
        if (host.equalsIgnoreCase("localhost")) return true;
        java.net.InetAddress ip = holepunch.net.Addresses.literal(host);
        return ip != null && ip.isLoopbackAddress();
    }

    /**
     * {@code PORT_MAPPING}: {@code true} (the default, but where {@link #isLocal}) tries PCP, NAT-PMP and UPnP in that order;
     * {@code false} none; or a comma-separated list of {@code pcp}, {@code nat-pmp}, {@code upnp}.
     */
    static List<holepunch.portmap.PortMapper.Protocol> portMapping(String spec) {
        String s = spec.strip().toLowerCase(Locale.ROOT);
        if (s.equals("true") || s.equals("on") || s.equals("1")) return List.of(holepunch.portmap.PortMapper.Protocol.values());
        if (s.equals("false") || s.equals("off") || s.equals("0") || s.isEmpty()) return List.of();
        List<holepunch.portmap.PortMapper.Protocol> out = new ArrayList<>();
        for (String part : s.split(",")) {
            holepunch.portmap.PortMapper.Protocol p = holepunch.portmap.PortMapper.Protocol.ofWire(part.strip());
            if (p == null) {
                throw new ConfigException("PORT_MAPPING '" + spec + "': '" + part.strip() + "' is not a protocol; use true, false,"
                        + " or a list of pcp, nat-pmp, upnp");
            }
            if (!out.contains(p)) out.add(p);
        }
        return List.copyOf(out);
    }

    /**
     * A warning when the session to the rendezvous travels in clear to another host ({@code ws://},
     * from an {@code http://} RENDEZVOUS_SERVICE_URL, to an address that is not this machine's
     * loopback): its token, proofs and reports can then be read and changed on the way. Null otherwise.
     */
    public String plaintextWarning() {
        if (!"ws".equals(rendezvousWs.getScheme())) return null;
        String host = rendezvousWs.getHost();
        if (host == null) return null;
        String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        java.net.InetAddress literal = holepunch.net.Addresses.literal(h);
        if (h.equalsIgnoreCase("localhost") || (literal != null && literal.isLoopbackAddress())) return null;
        return "RENDEZVOUS_SERVICE_URL is http:// to " + host + ", not this machine: the session to the rendezvous (its token, key"
                + " proofs and endpoint reports) travels unencrypted and can be read or changed on the way; use https:// (wss://)";
    }

    /** http(s)://host[:port] becomes ws(s)://host[:port]/ws/register/ID, as the original builds it. */
    static URI webSocketUrl(String base, String workerId) {
        String lower = base.toLowerCase(Locale.ROOT);
        String scheme;
        String rest;
        if (lower.startsWith("https://") || lower.startsWith("wss://")) {
            scheme = "wss";
            rest = base.substring(base.indexOf("://") + 3);
        } else if (lower.startsWith("http://") || lower.startsWith("ws://")) {
            scheme = "ws";
            rest = base.substring(base.indexOf("://") + 3);
        } else {
            throw new ConfigException("RENDEZVOUS_SERVICE_URL must start with http:// or https://, got '" + base + "'");
        }
        while (rest.endsWith("/")) rest = rest.substring(0, rest.length() - 1);
        try {
            URI uri = URI.create(scheme + "://" + rest + "/ws/register/" + workerId);
            if (uri.getHost() == null) throw new IllegalArgumentException("no host");
            return uri;
        } catch (IllegalArgumentException e) {
            throw new ConfigException("RENDEZVOUS_SERVICE_URL '" + base + "' is not a usable URL: " + e.getMessage());
        }
    }

    /**
     * {@code P2P_ALLOW}: the peers this worker takes part in connections with, {@code *} for any.
     * Unset, only the peers it asks for itself (P2P_CONNECT_TO and FORWARD's peers).
     */
    static List<String> p2pAllow(String spec, List<String> connectTo) {
        if (spec.trim().equals("*")) return List.of("*");
        List<String> allow = new ArrayList<>(connectTo);
        for (String id : peerIds("P2P_ALLOW", spec)) if (!allow.contains(id)) allow.add(id);
        return List.copyOf(allow);
    }

    /** {@code KNOWN_PEERS_FILE}, by default {@code WORKER_KEY_FILE}'s path with {@code .known_peers}; null (memory) without either. */
    static java.nio.file.Path knownPeersFile(Env env) {
        String set = env.string("KNOWN_PEERS_FILE", "").strip();
        if (!set.isEmpty()) return java.nio.file.Path.of(set);
        String key = env.string("WORKER_KEY_FILE", "").strip();
        return key.isEmpty() ? null : java.nio.file.Path.of(key + ".known_peers");
    }

    /** {@code PEER_KEYS}: {@code id=fingerprint,...}, the keys this worker expects its peers to hold. */
    static java.util.Map<String, String> peerKeys(String spec) {
        java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
        for (String item : spec.split(",")) {
            String s = item.trim();
            if (s.isEmpty()) continue;
            int eq = s.indexOf('=');
            String id = eq > 0 ? s.substring(0, eq).trim() : "";
            String fp = eq > 0 ? s.substring(eq + 1).trim() : "";
            if (!WorkerIds.isValid(id) || fp.length() < holepunch.crypto.PublicIdentity.MIN_PIN_CHARS
                    || fp.length() > holepunch.crypto.PublicIdentity.FINGERPRINT_CHARS || !fp.matches("[A-Za-z0-9_-]+")) {
                throw new ConfigException("PEER_KEYS entries must be id=fingerprint (the peer's key fingerprint from its log or /status,"
                        + " at least " + holepunch.crypto.PublicIdentity.MIN_PIN_CHARS + " characters), got '" + s + "'");
            }
            out.put(id, fp);
        }
        return java.util.Map.copyOf(out);
    }

    static List<String> peerIds(String list) {
        return peerIds("P2P_CONNECT_TO", list);
    }

    static List<String> peerIds(String variable, String list) {
        List<String> ids = new ArrayList<>();
        for (String item : list.split(",")) {
            String id = item.trim();
            if (id.isEmpty()) continue;
            if (!WorkerIds.isValid(id)) {
                throw new ConfigException(variable + " entry '" + id + "' is not a worker id: " + WorkerIds.RULE
                        + (variable.equals("P2P_ALLOW") ? " (or P2P_ALLOW=* for any peer)" : ""));
            }
            ids.add(id);
        }
        return List.copyOf(ids);
    }

    static InetSocketAddress hostPort(String variable, String item) {
        int colon = item.lastIndexOf(':');
        if (colon <= 0 || colon == item.length() - 1) {
            throw new ConfigException(variable + " entries must be host:port, got '" + item + "'");
        }
        String host = item.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        int port;
        try {
            port = Integer.parseInt(item.substring(colon + 1));
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 1 || port > 65535) throw new ConfigException(variable + " entry '" + item + "' has no valid port (1-65535)");
        return InetSocketAddress.createUnresolved(host, port);
    }
}
