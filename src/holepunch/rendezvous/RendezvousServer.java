package holepunch.rendezvous;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import holepunch.crypto.UpgradeProof;
import holepunch.json.Json;
import holepunch.limits.ByteBudget;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.net.Addresses;
import holepunch.protocol.WorkerIds;
import holepunch.stun.StunServer;
import holepunch.websocket.CloseCode;
import holepunch.websocket.ConnectionLoop;
import holepunch.websocket.Handshake;
import holepunch.websocket.HttpServerUpgrade;
import holepunch.websocket.WebSocketConnection;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import static holepunch.rendezvous.HttpReplies.getOnly;
import static holepunch.rendezvous.HttpReplies.json;
import static holepunch.rendezvous.HttpReplies.text;

/**
 * The rendezvous service: HTTP routes on the JDK {@code HttpServer}, WebSocket sessions on
 * {@link ConnectionLoop}s (one per two cores).
 */
public final class RendezvousServer implements AutoCloseable {
    static final String WS_PREFIX = "/ws/register/";
    static final String REPLACED_REASON = "New connection from same worker ID";

    private final Log log = Log.of("rendezvous");
    private final RendezvousConfig config;
    private final Registry registry = new Registry();
    private final Metrics metrics = new Metrics();
    private final RendezvousProtocol protocol;
    /** relay_budget, the same for every session that selects the binary relay: encoded once. */
    private final byte[] relayBudget;
    private final WorkerList workerList;
    private final OperatorApi operator;
    private final Auth auth;
    private final Admission admission;
    private final IdentityBindings identities;
    private final Challenges challenges;
    /** Null unless APPROVED_KEYS_FILE is set. */
    private final ApprovedKeys approved;
    /** ENROLLMENT=tofu: the first kept key of each id, for good; null otherwise. */
    private final EnrolledKeys enrolled;
    private final ByteBudget buffers;
    private final ConnectionLoop[] loops;
    private final AtomicInteger nextLoop = new AtomicInteger();
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpServer http;
    private StunServer stun;
    /** Sessions registered since start (the heap settler waits for them to be quiet). */
    private final java.util.concurrent.atomic.AtomicLong registrations = new java.util.concurrent.atomic.AtomicLong();
    /** Null unless REBALANCE_PER_MIN is set in a cluster. */
    private Rebalancer rebalancer;
    /** Null unless the collector is serial or parallel. */
    private HeapSettler settler;
    private SetupWatch setupWatch;
    /** 0 serving; 1 draining (not ready, still serving); 2 closing its sessions (new upgrades refused). */
    private volatile int drainPhase;
    private final java.util.concurrent.atomic.AtomicBoolean drainStarted = new java.util.concurrent.atomic.AtomicBoolean();
    /** The shared directory on Redis, or null for a single instance. */
    private final ClusterDirectory cluster;
    /** Who holds an id across the cluster (null without REDIS_URL). */
    private final ClusterIds clusterIds;

    private RendezvousServer(RendezvousConfig config) throws IOException {
        this.config = config;
        this.auth = new Auth(config.token());
        this.admission = new Admission(config, metrics, log);
        this.approved = config.approvedKeysFile() == null ? null : ApprovedKeys.load(java.nio.file.Path.of(config.approvedKeysFile()), log);
        this.enrolled = config.enrolledKeysFile() == null ? null : EnrolledKeys.load(java.nio.file.Path.of(config.enrolledKeysFile()), log);
        // Before anything loads the JDK server's classes: it reads its limits once, then.
        HttpServerUpgrade.configure(config.handshakeTimeoutSec(), RendezvousConfig.MAX_REQUEST_HEAD_BYTES, admission.maxPending());
        HttpServerUpgrade.checkAvailable();
        this.buffers = new ByteBudget(config.maxBufferedBytes());
        this.protocol = new RendezvousProtocol(registry, log, metrics, config, this::connectionClosed);
        this.relayBudget = new holepunch.protocol.RelayBudget(config.relayBytesPerSec(), config.relayTotalBytesPerSec()).encodeUtf8();
        if (config.redisUrl() != null) {
            javax.net.ssl.SSLSocketFactory tls;
            try {
                tls = config.redisCaFile() == null ? null : holepunch.redis.RedisTls.trusting(java.nio.file.Path.of(config.redisCaFile()));
            } catch (IllegalArgumentException e) {
                throw new holepunch.config.ConfigException(e.getMessage());
            }
            cluster = new ClusterDirectory(new holepunch.redis.RedisClient(config.redisUrl(), 2000, tls), registry, log,
                    config.clusterLivenessMillis());
            registry.onChange(cluster::changed);
            if (config.clusterSecret() != null) {
                cluster.seal(new ClusterSeal(config.clusterSecret()));
            } else {
                log.warn(null, "cluster: no CLUSTER_SECRET: messages between instances are not authenticated, and anyone who can PUBLISH"
                        + " on " + config.redisUrl() + " can forge introductions and close sessions; set CLUSTER_SECRET (README, Cluster)");
            }
            metrics.counterFunction("holepunch_cluster_redis_round_trips_total", "Round trips to Redis (each a pipeline of commands).",
                    () -> cluster.roundTrips());
            metrics.counterFunction("holepunch_cluster_refused_messages_total",
                    "Messages from other instances refused: not sealed with CLUSTER_SECRET, stale, or replayed.", () -> cluster.refusedMessages.get());
            clusterIds = new ClusterIds(cluster, registry, log, new ClusterSessions());
            cluster.liveBindings(config.idBindingGraceSec() * 1000L);
        } else {
            cluster = null;
            clusterIds = null;
        }
        if (cluster == null) {
            challenges = Challenges.perProcess();
        } else if (config.clusterSecret() != null) {
            challenges = Challenges.fromSecret(config.clusterSecret());
        } else {
            challenges = Challenges.shared(clusterIds::challengeKey);
        }
        this.identities = new IdentityBindings(config, challenges);
        this.workerList = new WorkerList(registry, cluster, protocol.broker(), metrics, log, this::clientOf);
        this.operator = new OperatorApi(workerList, protocol.broker(), registry, cluster);
        describeMetrics();
        ConnectionLoop.Settings settings = new ConnectionLoop.Settings(config.pingIntervalNanos(), config.pingTimeoutNanos(),
                config.maxMessageBytes(), 1 << 20, 2_000_000_000L);
        // One loop per core. Connection setup (the HTTP dispatcher, the upgrades' virtual threads) runs
        // at a lower priority (SETUP_NICE, SetupPriority), so the loops take the cores first. Measured on 2 cores
        // against one loop: echo during a 10,000-session burst 50,000 msg/s against 27,000, its p99
        // 10-14 ms against 16-26; registrations/s 9% lower, cold-burst CPU 0.17 ms against 0.15.
        int n = Runtime.getRuntime().availableProcessors();
        loops = new ConnectionLoop[n];
        for (int i = 0; i < n; i++) {
            loops[i] = new ConnectionLoop("ws-loop-" + i, settings, line -> log.warn(null, line));
        }
        try {
            http = HttpServer.create(new InetSocketAddress(config.bindAddress(), config.port()), 1024);
        } catch (java.net.BindException e) {
            throw holepunch.config.ConfigException.cannotBind("TCP", config.bindAddress(), config.port(), "PORT", e);
        }
        http.setExecutor(HttpServerUpgrade.smallStreams(http.createContext("/", this::route), executor,
                config.proxyProtocol() ? config.trustedProxies()::trusts : null, this::proxyHeaderRefused));
        if (config.proxyProtocol() && HttpServerUpgrade.smallStreamsProblem() != null) {
            http.stop(0);
            throw new holepunch.config.ConfigException("PROXY_PROTOCOL cannot be read on this JDK: " + HttpServerUpgrade.smallStreamsProblem());
        }
        if (HttpServerUpgrade.smallStreamsProblem() != null) {
            log.info(null, "HTTP connections keep the JDK server's own 28 KB of stream buffers: " + HttpServerUpgrade.smallStreamsProblem());
        }
    }

    public static RendezvousServer start(RendezvousConfig config) throws IOException {
        RendezvousServer server = new RendezvousServer(config);
        SetupPriority setup = new SetupPriority(config.setupNice());
        server.setupWatch = SetupWatch.startFor(setup, server.log, server.metrics);
        HeapPolicy.apply(server.log);
        server.settler = HeapSettler.start(server.registrations::get, server.log);
        if (config.stunUdpPort() != 0) {
            server.stun = StunServer.start(new InetSocketAddress(config.bindAddress(), config.stunUdpPort()), config.stunMaxPerSource(),
                    config.stunOtherPort(), config.stunChangePolicy());
        }
        for (ConnectionLoop loop : server.loops) loop.start();
        if (server.cluster != null) {
            server.cluster.start();
            ClusterLink.join(server.protocol.broker(), server.cluster);
            server.log.info(null, "cluster mode: instance " + server.cluster.instance + " shares its directory on " + config.redisUrl());
            if (config.rebalancePerMin() > 0) {
                server.rebalancer = new Rebalancer(server.registry, server.protocol.broker(), server.cluster, config.rebalancePerMin(),
                        server.log, server.metrics);
            }
        }
        setup.run(server.http::start);        // its dispatcher thread inherits the setup priority
        server.admission.guard(server.http);
        server.log.info(null, "listening on " + config.bindAddress() + ":" + server.port() + " (HTTP and WebSocket)"
                + (server.auth.enabled() ? "; a bearer token is required for /ws, /debug and /metrics" : ""));
        if (!server.auth.enabled() && !isLoopback(config.bindAddress())) {
            server.log.warn(null, "no RENDEZVOUS_TOKEN is set and the service listens on " + config.bindAddress()
                    + ": anyone who reaches it can register worker ids and read every worker's addresses at /debug/list_workers;"
                    + " set RENDEZVOUS_TOKEN (README, Security)");
        }
        boolean keysDecide = config.requireWorkerKeys() || config.approvedKeysFile() != null || config.tofu();
        if (keysDecide && config.publicHosts().isEmpty()) {
            server.log.warn(null, "worker keys decide who may register here, but RENDEZVOUS_PUBLIC_HOSTS is not set: a server a"
                    + " worker connects to by another name could pass this rendezvous's challenge to it and play its answer here"
                    + " (a live relay; captured proofs are refused); set RENDEZVOUS_PUBLIC_HOSTS to the names workers reach this one by (README, Security)");
        }
        return server;
    }

    private static boolean isLoopback(String bindAddress) {
        java.net.InetAddress a = Addresses.literal(bindAddress);
        return a != null && a.isLoopbackAddress();
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /** The built-in STUN server's second port (OTHER-ADDRESS), or 0 when there is none. */
    public int stunOtherPort() {
        return stun == null ? 0 : stun.otherPort();
    }

    /** The built-in STUN server's UDP port, or 0 when it is disabled. */
    public int stunPort() {
        return stun == null ? 0 : stun.port();
    }

    public int sessionCount() {
        return registry.size();
    }

    // ---- HTTP

    private void route(HttpExchange ex) {
        try {
            String path = ex.getRequestURI().getPath();
            if (path.startsWith(WS_PREFIX)) {
                if (upgrade(ex, path.substring(WS_PREFIX.length()))) return;   // the exchange is gone
                ex.close();
                return;
            }
            switch (path) {
                case "/" -> {
                    if (getOnly(ex)) {
                        json(ex, 200, Json.obj("message", "Rendezvous Service (Step 3A Version) is running."));
                    }
                }
                case "/challenge" -> {
                    if (getOnly(ex)) challenge(ex);
                }
                case "/ready" -> {
                    if (getOnly(ex)) {
                        if (drainPhase == 0) json(ex, 200, Json.obj("ready", true, "sessions", registry.size()));
                        else json(ex, 503, Json.obj("ready", false, "detail", "draining: this instance is stopping (SIGTERM)"));
                    }
                }
                case "/debug/list_workers" -> {
                    if (getOnly(ex) && authorized(ex, null)) workerList.answer(ex, details(ex));
                }
                case "/metrics" -> {
                    if (getOnly(ex) && authorized(ex, null)) text(ex, 200, "text/plain; version=0.0.4", metrics.render());
                }
                default -> {
                    if (OperatorApi.isPage(path)) {
                        if (getOnly(ex)) operator.page(ex, path);
                    } else if (!path.startsWith("/debug/")) {
                        json(ex, 404, Json.obj("detail", "Not Found"));
                    } else if (OperatorApi.isApi(path)) {
                        if (getOnly(ex) && authorized(ex, null)) operator.answer(ex, path, details(ex));
                    } else if (authorized(ex, null)) {
                        json(ex, 404, Json.obj("detail", "Not Found"));
                    }
                }
            }
            ex.close();
        } catch (IOException e) {          // the client went away while answered: not the service's fault
            log.debug(null, "HTTP " + Log.excerpt(ex.getRequestMethod()) + " " + Log.excerpt(ex.getRequestURI().getPath())
                    + ": the client went away (" + e.getMessage() + ")");
            HttpServerUpgrade.abort(ex);
        } catch (RuntimeException e) {
            log.warn(null, "HTTP " + Log.excerpt(ex.getRequestMethod()) + " " + Log.excerpt(ex.getRequestURI().getPath()) + " failed: " + e);
            HttpServerUpgrade.abort(ex);
        }
    }

    /** A new challenge for a worker's upgrade proof ({@link Challenges}); 503 when the cluster's key cannot be read. */
    private void challenge(HttpExchange ex) throws IOException {
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        String c;
        try {
            c = challenges.issue(System.currentTimeMillis() / 1000);
        } catch (IOException e) {
            log.warn(null, "cannot issue a challenge: the cluster's key cannot be read: " + Log.excerpt(e.getMessage()));
            ex.getResponseHeaders().set("Retry-After", "5");
            json(ex, 503, Json.obj("detail", "the cluster's store cannot be reached; try again"));
            return;
        }
        metrics.inc("holepunch_challenges_issued_total");
        json(ex, 200, Json.obj("challenge", c, "expires_in_sec", Challenges.LIFETIME_SECONDS));
    }

    /**
     * The client of a request: the TCP peer, or whom a trusted proxy (TRUSTED_PROXIES) says it forwards for, in
     * its PROXY header (PROXY_PROTOCOL) or else its Forwarded / X-Forwarded-For header.
     */
    InetSocketAddress clientOf(HttpExchange ex, com.sun.net.httpserver.Headers headers) {
        InetSocketAddress proxied = config.proxyProtocol() ? HttpServerUpgrade.proxiedClient(ex) : null;
        return config.trustedProxies().client(proxied != null ? proxied : ex.getRemoteAddress(),
                headers.getFirst("Forwarded"), headers.getFirst("X-Forwarded-For"));
    }

    /**
     * Whether a request may see what the original's list does not show (LAN candidates, gateway and TURN
     * addresses, pairs): with RENDEZVOUS_TOKEN (it bore it), with DEBUG_DETAILS=true, or from this host.
     */
    boolean details(HttpExchange ex) {
        if (auth.enabled() || config.debugDetails()) return true;
        com.sun.net.httpserver.Headers h = ex.getRequestHeaders();
        // From this host, and not passed on by a proxy here (which would make everyone look local).
        return clientOf(ex, h).getAddress().isLoopbackAddress() && h.getFirst("Forwarded") == null && h.getFirst("X-Forwarded-For") == null
                && (!config.proxyProtocol() || HttpServerUpgrade.proxiedClient(ex) == null);
    }

    private final java.util.concurrent.atomic.AtomicLong proxyRefusalLoggedAt = new java.util.concurrent.atomic.AtomicLong();

    /** A trusted proxy's connection without a readable PROXY header: counted, and said at most once a minute. */
    private void proxyHeaderRefused(String why) {
        metrics.inc("holepunch_refused_total", "reason", "proxy_header");
        long now = System.nanoTime(), last = proxyRefusalLoggedAt.get();
        if (now - last > 60_000_000_000L && proxyRefusalLoggedAt.compareAndSet(last, now)) {
            log.warn(null, "closed a connection from a trusted proxy: " + why + " (PROXY_PROTOCOL=true: every connection from TRUSTED_PROXIES must begin with one)");
        }
    }

    /** With RENDEZVOUS_TOKEN set, answers 401 (and returns false) unless the request bears the token. */
    private boolean authorized(HttpExchange ex, String workerId) throws IOException {
        return authorized(ex, workerId, ex.getRequestHeaders());
    }

    /** As above, with the request headers already taken ({@code getRequestHeaders()} copies them on every call). */
    private boolean authorized(HttpExchange ex, String workerId, com.sun.net.httpserver.Headers headers) throws IOException {
        if (auth.allows(headers.getFirst("Authorization"))) return true;
        ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"holepunch\"");
        refuse(ex, workerId, "unauthorized", "refused " + Log.excerpt(ex.getRequestURI().getPath()) + " from "
                + ex.getRemoteAddress().getAddress().getHostAddress() + ": no valid bearer token",
                401, "this rendezvous requires 'Authorization: Bearer <token>' (the RENDEZVOUS_TOKEN it was started with)");
        return false;
    }

    /** Counts a refusal by {@code reason}, logs {@code why} and answers {@code status} with {@code detail}. */
    private void refuse(HttpExchange ex, String workerId, String reason, String why, int status, String detail) throws IOException {
        metrics.inc("holepunch_refused_total", "reason", reason);
        log.warn(workerId, why);
        json(ex, status, Json.obj("detail", detail));
    }

    // ---- WebSocket

    /** True when the connection was upgraded (and so is no longer the exchange's). */
    private boolean upgrade(HttpExchange ex, String workerId) throws IOException {
        com.sun.net.httpserver.Headers headers = ex.getRequestHeaders();   // a fresh copy per call: take it once
        String loggedId = WorkerIds.isValid(workerId) ? workerId : null;
        Auth.Upgrade credentials = auth.upgrade(headers.getFirst("Authorization"), headers.get("Sec-WebSocket-Protocol"));
        if (!credentials.allowed()) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"holepunch\"");
            return refuse(ex, loggedId, new Admission.Refusal(401, "unauthorized", "refused a WebSocket upgrade from "
                    + ex.getRemoteAddress().getAddress().getHostAddress() + ": no valid bearer token",
                    "this rendezvous requires 'Authorization: Bearer <token>' or the subprotocol '" + Auth.SUBPROTOCOL_PREFIX
                            + "<token>' (the RENDEZVOUS_TOKEN it was started with)", Map.of()));
        }
        if (drainPhase == 2) {
            return refuse(ex, loggedId, new Admission.Refusal(503, "draining", "refused a WebSocket upgrade: this instance is stopping",
                    "this rendezvous instance is stopping; connect again (another instance takes it)", Map.of("Retry-After", "1")));
        }
        Admission.Refusal origin = admission.checkOrigin(headers.getFirst("Origin"));
        if (origin != null) return refuse(ex, loggedId, origin);
        if (loggedId == null) {
            return refuse(ex, null, new Admission.Refusal(400, "invalid_worker_id", "refused a WebSocket upgrade: invalid worker id '"
                    + Log.excerpt(workerId) + "'", "invalid worker id: " + WorkerIds.RULE, Map.of()));
        }
        Handshake.Result hs = Handshake.check(ex.getRequestMethod(), headers::get);
        if (!hs.accepted()) {
            return refuse(ex, workerId, new Admission.Refusal(hs.status(), "bad_handshake", "refused a WebSocket upgrade: " + hs.message(),
                    hs.message(), hs.headers()));
        }
        IdentityBindings.Checked proof = identities.check(workerId, headers.getFirst(UpgradeProof.HEADER), headers.getFirst("Host"));
        if (proof.refusal() != null) return refuse(ex, workerId, proof.refusal());
        if (approved != null) {
            Admission.Refusal notApproved = approved.check(workerId, proof.identity());
            if (notApproved != null) return refuse(ex, workerId, notApproved);
        }
        if (enrolled != null) {
            Admission.Refusal notEnrolled = enrolled.admit(workerId, proof.identity(), proof.ephemeral());
            if (notEnrolled != null) return refuse(ex, workerId, notEnrolled);
        }
        InetSocketAddress peer = ex.getRemoteAddress();
        InetSocketAddress remote = clientOf(ex, headers);
        String ip = Addresses.text(remote.getAddress());     // RFC 5952 for IPv6
        String slot = ClientAddress.limitKey(remote.getAddress());
        Admission.Refusal full = admission.takeSlot(slot);
        if (full != null) return refuse(ex, workerId, full);
        SocketChannel channel = HttpServerUpgrade.channel(ex);
        WebSocketConnection connection = new WebSocketConnection(channel, peer, protocol, config.maxMessageBytes(), buffers);
        WorkerEntry entry = new WorkerEntry(workerId, ip, remote.getPort() != 0 ? remote.getPort() : peer.getPort(), connection,
                config.maxMessagesPerSec(), protocol.broker().newOfferBucket(), proof.identity());
        entry.ephemeralKey = proof.ephemeral();
        if (holepunch.protocol.RelayFrame.SUBPROTOCOL.equals(credentials.subprotocol())) {
            entry.binaryRelay = true;
            connection.acceptBinary();
        }
        entry.slotKey = slot;
        connection.attach(entry);
        Admission.Refusal bound = cluster == null ? null : clusterBinding(entry, proof.nonce());   // before a local claim is made
        if (bound == null) bound = identities.claim(entry);
        if (bound != null) {
            admission.releaseSlot(slot);
            return refuse(ex, workerId, bound);
        }
        byte[] response = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: " + hs.accept() + "\r\n"
                + (credentials.subprotocol() == null ? "" : "Sec-WebSocket-Protocol: " + credentials.subprotocol() + "\r\n")
                + "\r\n").getBytes(StandardCharsets.US_ASCII);
        ConnectionLoop loop = loops[Math.floorMod(nextLoop.getAndIncrement(), loops.length)];
        WorkerEntry old = registry.register(entry);
        if (old != null) {
            log.info(workerId, "re-connecting; closing the old session from " + old.observedIp + ":" + old.observedPort);
            protocol.broker().sessionEnded(old);      // its pairs end with it, not when its close completes
            old.connection.close(CloseCode.NORMAL, REPLACED_REASON);
        }
        byte[] leftover;
        try {
            leftover = HttpServerUpgrade.upgrade(ex, response);
        } catch (IOException | RuntimeException e) {
            registry.remove(entry);
            admission.releaseSlot(slot);
            identities.released(entry);
            channel.close();
            log.warn(workerId, "WebSocket upgrade failed: " + e);
            return true;
        }
        if (entry.binaryRelay) {
            connection.sendText(relayBudget);                          // the first message of such a session
            if (config.turn() != null) connection.sendText(config.turn().credentialsFor(workerId).encodeUtf8());
        }
        connection.measureRttEarly(entry.identity != null || entry.binaryRelay);   // a holepunch worker: introductions use its RTT
        loop.adopt(connection, leftover);
        if (clusterIds != null) clusterIds.registered(entry);
        metrics.inc("holepunch_registrations_total");
        registrations.incrementAndGet();
        log.info(workerId, "registered from WebSocket " + ip + ":" + entry.observedPort + (remote == peer ? "" : " (through " + Addresses.text(peer) + ")")
                + (entry.identity == null ? " (no key)" : " with key " + entry.identity.shortFingerprint()) + ". Total: " + registry.size());
        return true;
    }

    /** A binding left by a keyed session that ended on another instance, within its grace period (409 as here). */
    private Admission.Refusal clusterBinding(WorkerEntry entry, String nonce) {
        String fp;
        try {
            boolean kept = entry.identity != null && !entry.ephemeralKey;
            ClusterIds.UpgradeCheck check = clusterIds.checkUpgrade(entry.id, nonce, kept ? entry.identity.fingerprint() : null,
                    kept ? config.idBindingGraceSec() * 1000L : 0, config.tofu());
            if (!check.nonceFresh()) {
                return new Admission.Refusal(401, "bad_proof", "refused a replayed proof (its nonce was used on another instance)",
                        "this proof was used already", Map.of());
            }
            fp = check.boundFingerprint();
            String enrolledFp = check.enrolledFingerprint();
            if (enrolledFp != null && (entry.identity == null || !entry.identity.matchesPin(enrolledFp))) {
                String holder = enrolledFp.length() > 12 ? enrolledFp.substring(0, 12) : enrolledFp;
                return new Admission.Refusal(409, "id_enrolled", "refused a session for id enrolled cluster-wide with key " + holder,
                        "worker id '" + entry.id + "' is enrolled on this rendezvous with another key (fingerprint " + holder
                                + "): prove that key, or use another id; its operator can release the id", Map.of());
            }
            if (enrolledFp != null && check.enrolledNow()) log.info(entry.id, "enrolled cluster-wide with key " + entry.identity.shortFingerprint() + " (ENROLLMENT=tofu)");
        } catch (IOException e) {
            return new Admission.Refusal(503, "cluster_unavailable", "refused an upgrade: the cluster directory (Redis) cannot be read,"
                    + " so whether another key holds this id is unknown (" + e.getMessage() + ")",
                    "the cluster directory is unavailable; try again shortly", Map.of("Retry-After", "2"));
        }
        if (fp == null || (entry.identity != null && entry.identity.fingerprint().equals(fp))) return null;
        String holder = fp.length() > 12 ? fp.substring(0, 12) : fp;
        return new Admission.Refusal(409, "id_bound", "refused a session for id bound cluster-wide to key " + holder,
                "worker id '" + entry.id + "' is bound to another key (fingerprint " + holder + "): prove that key, or use another id",
                Map.of());
    }

    /** Same-id replacement across instances: the rules of a local replacement, told by the cluster. */
    private final class ClusterSessions implements ClusterIds.Sessions {
        @Override
        public void replacedElsewhere(WorkerEntry old, String instance) {
            log.info(old.id, "a newer session of this id registered on instance " + instance + "; closing the one from "
                    + old.observedIp + ":" + old.observedPort);
            protocol.broker().sessionEnded(old);
            old.connection.close(CloseCode.NORMAL, REPLACED_REASON);
        }

        @Override
        public void refusedElsewhere(WorkerEntry newcomer, String instance) {
            log.warn(newcomer.id, "instance " + instance + " holds this id bound to another key; closing this session");
            newcomer.refusedByCluster = true;
            identities.withdraw(newcomer);
            protocol.broker().sessionEnded(newcomer);
            newcomer.connection.close(CloseCode.POLICY_VIOLATION, "worker id is bound to another key");
        }
    }

    /** Answers an upgrade request with {@code r}; false (the connection was not upgraded). */
    private boolean refuse(HttpExchange ex, String workerId, Admission.Refusal r) throws IOException {
        r.headers().forEach((k, v) -> ex.getResponseHeaders().set(k, v));
        refuse(ex, workerId, r.reason(), r.why(), r.status(), r.detail());
        return false;
    }

    /** Called once per ended session (after the upgrade completed). */
    private void connectionClosed(WorkerEntry entry, int code) {
        admission.releaseSlot(entry.slotKey);
        if (entry.refusedByCluster) {
            identities.withdraw(entry);
        } else {
            identities.released(entry);
        }
        if (clusterIds != null && entry.identity != null && !entry.refusedByCluster && !entry.ephemeralKey) {
            clusterIds.bindForGrace(entry.id, entry.identity.fingerprint(), config.idBindingGraceSec() * 1000L);
        }
        metrics.inc("holepunch_closes_total", "code", String.valueOf(code));
    }

    private void describeMetrics() {
        metrics.gauge("holepunch_sessions", "Open WebSocket sessions.", admission::openSessions);
        metrics.gauge("holepunch_buffered_bytes", "Bytes held in partial messages and queued output, all sessions.", buffers::used);
        metrics.gauge("holepunch_workers", "Registered worker ids.", registry::size);
        metrics.gauge("holepunch_http_connections", "HTTP connections not upgraded: requests being read or answered, and idle keep-alive.",
                () -> HttpServerUpgrade.pendingCount(http));
        if (cluster != null) {
            metrics.gauge("holepunch_cluster_connected", "1 while the last Redis call of the cluster directory succeeded.",
                    () -> cluster.connected() ? 1 : 0);
            metrics.counterFunction("holepunch_cluster_redis_round_trips_total", "Pipelines sent to Redis by the cluster directory.",
                    cluster::roundTrips);
        }
        metrics.counterFamily("holepunch_registrations_total", "WebSocket upgrades accepted.");
        metrics.counterFamily("holepunch_challenges_issued_total", "Challenges issued for upgrade proofs (GET /challenge).");
        metrics.counterFamily("holepunch_refused_total", "Requests refused, by reason.");
        metrics.counterFamily("holepunch_messages_total", "Messages received from workers, by type.");
        metrics.counterFamily("holepunch_closes_total", "Sessions ended, by close code (1006: no close frame).");
        metrics.counterFunction("holepunch_stun_requests_total", "STUN datagrams received.", () -> stun == null ? 0 : stun.requests());
        metrics.counterFunction("holepunch_stun_responses_total", "STUN responses sent.", () -> stun == null ? 0 : stun.responses());
        metrics.counterFunction("holepunch_stun_dropped_total", "STUN datagrams dropped (malformed, not a request, or over the rate).",
                () -> stun == null ? 0 : stun.dropped());
    }

    /**
     * SIGTERM's first step (README: Deploying): {@code GET /ready} answers 503 at once while everything else
     * is served for DRAIN_SEC, so that a load balancer's health check takes this instance out of rotation;
     * then the sessions are closed (1001) spread evenly over DRAIN_CLOSE_SEC, new upgrades refused with 503
     * and Retry-After, so that their workers reconnect elsewhere a few at a time rather than all at once.
     * Blocks until done; {@link #close} follows. Runs once.
     */
    public void drain() {
        if (!drainStarted.compareAndSet(false, true)) return;
        if (rebalancer != null) rebalancer.close();
        long drainMillis = config.drainMillis(), spreadMillis = config.drainCloseMillis();
        drainPhase = 1;
        log.info(null, "SIGTERM: draining: /ready answers 503 now, sessions are served " + drainMillis + " ms more, then "
                + registry.size() + " sessions close over " + spreadMillis + " ms (DRAIN_SEC, DRAIN_CLOSE_SEC)");
        try {
            Thread.sleep(drainMillis);
            drainPhase = 2;
            java.util.List<WorkerEntry> sessions = new java.util.ArrayList<>(registry.snapshot());
            long start = System.nanoTime();
            for (int i = 0; i < sessions.size(); i++) {
                long due = start + spreadMillis * 1_000_000L * i / Math.max(1, sessions.size());
                long wait = due - System.nanoTime();
                if (wait > 0) Thread.sleep(wait / 1_000_000L, (int) (wait % 1_000_000L));
                sessions.get(i).connection.close(CloseCode.GOING_AWAY, "server shutting down");
            }
            log.info(null, "drained: " + sessions.size() + " sessions closed over " + (System.nanoTime() - start) / 1_000_000 + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Closes every session with 1001 (going away), then stops. */
    @Override
    public void close() {
        if (rebalancer != null) rebalancer.close();
        admission.close();
        http.stop(0);
        if (cluster != null) cluster.close();          // gone from the cluster's lists before the 1001s
        for (ConnectionLoop loop : loops) loop.closeAll(CloseCode.GOING_AWAY, "server shutting down");
        try {
            registry.awaitEmpty(3000);   // bounded: sessions that do not read are cut
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (ConnectionLoop loop : loops) loop.stop();
        if (stun != null) stun.close();
        if (settler != null) settler.close();
        if (setupWatch != null) setupWatch.close();
        executor.shutdownNow();
        log.info(null, "stopped");
    }
}
