package holepunch.worker;

import holepunch.crypto.Identity;
import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.net.Addresses;
import holepunch.net.SocketTtl;
import holepunch.protocol.EchoResponse;
import holepunch.protocol.Message;
import holepunch.protocol.P2pConnectionError;
import holepunch.protocol.P2pConnectionOffer;
import holepunch.protocol.RegisterPublicIp;
import holepunch.protocol.RelayData;
import holepunch.protocol.RelayError;
import holepunch.protocol.UdpEndpointAck;
import holepunch.protocol.UpdateUdpEndpoint;
import holepunch.timer.Scheduler;
import holepunch.stun.StunClient;
import holepunch.stun.StunException;
import holepunch.stun.StunMessage;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A worker: one UDP socket for STUN and peer traffic, a session to the rendezvous, and the health
 * server. It reports the mapping STUN finds for that very socket, re-discovers it periodically and
 * on every reconnect, and reports a change at once.
 */
public final class Worker implements AutoCloseable {
    private final Log log = Log.of("worker");
    private final Metrics metrics = new Metrics();
    private final WorkerConfig config;
    private final Identity identity;
    private final Scheduler scheduler = Scheduler.system();
    private final DatagramChannel udp;
    private final StunClient stun;
    private final RendezvousSession session;
    private final HealthServer health;
    private final Thread reader;
    private final holepunch.peer.Peers peers;
    private final Forwarder forwarder;
    private final RelayOutbox relayOut;
    private final WorkerTurn turn;
    /** A TURN relayed address came or changed since the last accepted report: peers without a UDP path are asked for again. */
    private volatile boolean relayCandidateNew;
    /** The public endpoint changed within this session since the last accepted report: wanted peers are asked for again. */
    private volatile boolean endpointMoved;
    private final Discovery discovery;
    /** Whether the UDP socket takes IPv6 as well as IPv4 (IPV6=true, the default, where the host has IPv6). */
    private final boolean dualStack;
    /** Maps our UDP port on the gateway (PORT_MAPPING); null when turned off. */
    private final holepunch.portmap.PortMapper portMapper;
    /** What this session was last told (endpoint and mapping); guarded by {@code reportLock}. */
    private InetSocketAddress reported;
    private NatMapping reportedMapping;
    private final Object reportLock = new Object();
    private volatile String lastAck;
    private final DropWatch drops;
    private static final java.util.concurrent.atomic.AtomicBoolean CUT_SAID = new java.util.concurrent.atomic.AtomicBoolean();

    /** Once a second, off the timer thread (it reads /proc): the drops counted and said. */
    private void dropTick() {
        if (!running) return;
        Thread.ofVirtual().name("drop-watch").start(() -> {
            drops.tick();
            peers.countTiers();
        });
        scheduler.schedule(1000, this::dropTick);
    }

    /** The kernel gave a socket smaller buffers than asked: said once per process. */
    static void kernelCut(String workerId, String what) {
        if (CUT_SAID.compareAndSet(false, true)) {
            Log.of("worker").warn(workerId, "the kernel cut " + what + "; bursts beyond it are dropped and counted"
                    + " (raise the sysctl, or set UDP_RECEIVE_BUFFER_BYTES / UDP_SEND_BUFFER_BYTES lower to quiet this)");
        }
    }
    private volatile boolean running = true;

    private Worker(WorkerConfig config) throws IOException {
        this.config = config;
        this.identity = config.keyFile() == null ? Identity.generate() : Identity.loadOrCreate(config.keyFile());
        udp = config.ipv6() ? DatagramChannel.open() : DatagramChannel.open(StandardProtocolFamily.INET);   // dual stack where the host has IPv6
        try {
            udp.bind(new InetSocketAddress(config.udpPort()));
        } catch (IOException e) {
            udp.close();
            throw holepunch.config.ConfigException.cannotBind("UDP", null, config.udpPort(), "INTERNAL_UDP_PORT_ENV", e);
        }
        dualStack = udp.getLocalAddress() instanceof InetSocketAddress bound && bound.getAddress() instanceof java.net.Inet6Address;
        String cut = holepunch.net.UdpSockets.size(udp, config.udpBuffers());
        if (cut != null) kernelCut(config.workerId(), cut);
        stun = new StunClient((d, to) -> udp.send(d, to), scheduler, config.retransmission());
        discovery = new Discovery(config, stun, scheduler, metrics, this::udpPort, () -> dualStack && Discovery.hasGlobalIpv6(), this::found);
        reader = Thread.ofPlatform().name("udp-reader").daemon(true).unstarted(this::readUdp);
        session = new RendezvousSession(config.workerId(), config.rendezvousWs(), config.pingIntervalNanos(),
                config.pingTimeoutNanos(), config.token(), metrics, identity, config.keyFile() == null, config.rendezvousTls(), new SessionHandler());
        metrics.gauge("holepunch_worker_rendezvous_connected", "1 while the rendezvous session is up.", () -> session.isConnected() ? 1 : 0);
        metrics.counterFamily("holepunch_worker_connect_attempts_total", "Connection attempts to the rendezvous.");
        metrics.counterFamily("holepunch_worker_endpoint_reports_total", "update_udp_endpoint messages sent.");
        metrics.counterFamily("holepunch_worker_relay_errors_total", "relay_error messages from the rendezvous (at most one a second a reason).");
        relayOut = new RelayOutbox(session::sendBinary, (reason, n) -> metrics.add("holepunch_worker_dropped_total", n, "reason", reason));
        ChannelSocket own = new ChannelSocket(udp, false, config.udpBatch());
        peers = new holepunch.peer.Peers(config.workerId(), identity, own, new holepunch.peer.Peers.Rendezvous() {
            @Override
            public boolean send(Message message) {
                return session.send(message);
            }

            @Override
            public boolean sendPaced(Message message) {
                return session.sendAndWait(message);        // application threads may wait: paced, not queued
            }

            @Override
            public boolean binaryRelay() {
                return session.binaryRelay();
            }

            @Override
            public String relayDatagram(long pairId, byte[] buf, int off, int len) {
                return relayOut.offer(pairId, buf, off, len);
            }
        }, scheduler, config.peers());
        turn = new WorkerTurn(config.workerId(), scheduler, own, peers, () -> {
            relayCandidateNew = true;
            reportAgain();
        }, session::send, config.turnTls());
        try {
            holepunch.peer.Peers p = peers;
            forwarder = new Forwarder(config.workerId(), new Forwarder.PeerSender() {
                @Override
                public boolean send(String peer, byte[] buf, int off, int len) {
                    return p.send(peer, buf, off, len);
                }

                @Override
                public void hold() {
                    p.hold();
                }

                @Override
                public void release() {
                    p.release();
                }

                @Override
                public void forgetThread() {
                    p.forgetThread();
                }
            }, config.forward(), config.forwardAllow(), metrics, config.udpBuffers(), config.udpBatch());
        } catch (IOException e) {
            udp.close();
            throw e;
        }
        peers.useMetrics(metrics);
        peers.onData(forwarder::onData);
        long udpInode = holepunch.net.UdpSockets.inode(udp);
        drops = new DropWatch(config.workerId(), metrics)
                .kernel("peer_socket_overflow", () -> holepunch.net.UdpSockets.drops(List.of(udpInode)))
                .kernel("app_socket_overflow", forwarder::appSocketOverflows);
        try {
            health = new HealthServer(config.httpPort(), this::status, metrics::render, config.token());
        } catch (RuntimeException | IOException e) {
            forwarder.close();
            udp.close();
            throw e;
        }
        portMapper = config.portMapping().isEmpty() ? null
                : new holepunch.portmap.PortMapper(config.workerId(), config.portMapping(), udpPort(), scheduler, m -> reportAgain());
        metrics.gaugeSeries("holepunch_worker_port_mapping", "1 while the gateway maps our UDP port, by protocol.", () -> {
            holepunch.portmap.PortMapper.Mapping m = portMapper == null ? null : portMapper.mapping();
            return m == null ? Map.of() : Map.of(Metrics.labels("protocol", m.protocol().wire), 1.0);
        });
    }

    /** The mapped endpoint changed: the rendezvous hears of it with the next report. */
    private void reportAgain() {
        synchronized (reportLock) {
            InetSocketAddress known = discovery.endpoint();
            NatMapping m = discovery.mapping();
            if (known != null && m != null && session.isConnected()) report(known, m);
        }
    }

    /** {@code worker --netcheck}: the report, on the worker's own settings (no rendezvous needed). */
    public static int netcheck(holepunch.config.Env env, java.io.PrintStream out) throws IOException {
        Map<String, String> vars = new java.util.HashMap<>(env.asMap());
        vars.putIfAbsent("RENDEZVOUS_SERVICE_URL", "http://127.0.0.1:1");    // not used by the check
        return Netcheck.run(WorkerConfig.from(new holepunch.config.Env(vars)), out);
    }

    public static Worker start(WorkerConfig config) throws IOException {
        Worker w = new Worker(config);
        w.log.info(config.workerId(), "worker starting: key " + w.identity.publicIdentity().fingerprint()
                + (config.keyFile() == null ? " (new for this process; set WORKER_KEY_FILE to keep it)" : " (from " + config.keyFile() + ")")
                + ", UDP port " + w.udpPort() + ", health server on port " + w.health.port() + ", STUN servers " + config.stunServers().stream()
                .map(a -> a.getHostString() + ":" + a.getPort()).toList());
        if (config.plaintextWarning() != null) w.log.warn(config.workerId(), config.plaintextWarning());
        if (config.peers().primeTtl() > 0 && SocketTtl.get(w.udp) <= 0) {
            w.log.warn(config.workerId(), "cannot read or set the UDP socket's TTL (" + SocketTtl.unavailable()
                    + "); peer probes go without priming (P2P_PRIME_TTL)");
        }
        w.reader.start();
        w.dropTick();
        if (w.portMapper != null) w.portMapper.start();
        // STUN runs while the WebSocket connects: the first report goes out as soon as both are done.
        Thread.ofVirtual().name("discovery").start(() -> w.discovery.run(false));
        w.session.start();
        if (config.turn() != null) w.turn.credentials(config.turn(), false);
        return w;
    }

    public String id() {
        return config.workerId();
    }

    public int udpPort() {
        return Addresses.localPort(udp);
    }

    public int healthPort() {
        return health.port();
    }

    public InetSocketAddress publicEndpoint() {
        return discovery.endpoint();
    }

    /** The worker's counters and gauges (what {@code GET /metrics} shows). */
    Metrics metrics() {
        return metrics;
    }

    public boolean isConnected() {
        return session.isConnected();
    }

    /** The JSON of {@code GET /status}. */
    public Map<String, Object> status() {
        InetSocketAddress pub = discovery.endpoint();
        NatMapping m = discovery.mapping();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("worker_id", config.workerId());
        s.put("key_fingerprint", identity.publicIdentity().fingerprint());
        s.put("udp_local_port", udpPort());
        s.put("public_endpoint", pub == null ? null : Json.obj("ip", Addresses.text(pub.getAddress()), "port", pub.getPort()));
        s.put("nat_mapping", m == null ? null : m.behaviour().wire);
        s.put("port_preserved", m == null ? null : m.portPreserved());
        InetSocketAddress v6 = discovery.endpoint6();
        s.put("ipv6_endpoint", v6 == null ? null : Addresses.text(v6));
        s.put("udp_works", pub != null);
        holepunch.portmap.PortMapper.Mapping pm = portMapper == null ? null : portMapper.mapping();
        s.put("for_peers", Netcheck.forPeers(m, pm == null ? null : pm.protocol().wire, v6 != null));
        s.put("port_mapping", portMapper == null ? null : portMapper.status());
        s.put("rendezvous_connected", session.isConnected());
        s.put("relay", session.isConnected() ? Json.obj("mode", session.binaryRelay() ? "binary" : "json",
                "pair_bytes_per_sec", peers.relayPairRate() > 0 ? peers.relayPairRate() : null) : null);
        RendezvousSession.Refusal refusal = session.lastRefusal();
        s.put("rendezvous_refusal", refusal == null ? null : refusal.json());
        s.put("last_udp_endpoint_ack", lastAck);
        s.put("turn", turn.status());
        s.put("peers", peers.status());
        s.put("peer_key_alarms", peers.keyAlarms());
        java.util.Set<String> unanswered = peers.unansweredIntroductions();
        s.put("introductions", unanswered.isEmpty() ? "ok" : Json.obj("unanswered", List.copyOf(new java.util.TreeSet<>(unanswered)),
                "detail", "the rendezvous answered neither with an offer nor an error: it may not introduce workers (the original does not)"));
        return s;
    }

    // ---- the UDP socket: one reader, STUN answers to the client, the rest to peers

    /**
     * The socket's one reader: up to {@value holepunch.net.UdpBatch#BATCH} datagrams per system
     * call where batched calls are available ({@code recvmmsg}), one per call otherwise. What it
     * delivers to far-side sockets goes out together after each batch.
     */
    private void readUdp() {
        ByteBuffer buf = ByteBuffer.allocate(2048);
        holepunch.net.UdpBatch batch = null;
        try {
            if (config.udpBatch()) batch = holepunch.net.UdpBatch.open(udp, buf.capacity(), true);
        } catch (IOException e) {
            log.info(config.workerId(), "UDP reads one datagram per call: " + e.getMessage());
        }
        try {
            while (running) {
                try {
                    if (batch == null) {
                        buf.clear();
                        InetSocketAddress from = (InetSocketAddress) udp.receive(buf);
                        dispatch(from, buf.flip());
                        continue;
                    }
                    int n = batch.receive();
                    forwarder.hold();
                    try {
                        for (int i = 0; i < n; i++) {
                            int len = batch.length(i), seg = batch.segmentSize(i);
                            if (seg <= 0) seg = len;                     // one datagram; else the kernel coalesced several (UDP_GRO)
                            for (int at = 0; at < len; at += seg) {
                                int part = Math.min(seg, len - at);
                                if (part > buf.capacity()) {
                                    peers.dropped("too_large");
                                    continue;
                                }
                                batch.copy(i, at, part, buf.array(), 0);
                                buf.clear().limit(part);
                                dispatch(batch.source(i), buf);
                            }
                        }
                    } finally {
                        forwarder.release();
                    }
                } catch (ClosedChannelException e) {
                    return;
                } catch (IOException | RuntimeException e) {
                    if (running) log.warn(config.workerId(), "UDP receive failed: " + e);
                    if (!udp.isOpen()) return;
                }
            }
        } finally {
            forwarder.forgetThread();
            if (batch != null) batch.close();
        }
    }

    /** One datagram from the worker's socket: STUN to the client, the rest to the peers. */
    private void dispatch(InetSocketAddress from, ByteBuffer buf) {
        if (turn.onDatagram(from, buf)) return;             // the TURN server's answers, and what peers sent through it
        if (StunMessage.looksLikeStun(buf)) {
            try {
                stun.onDatagram(from, buf.array(), buf.limit());
            } catch (StunException e) {
                log.debug(config.workerId(), "ignored a malformed STUN datagram from " + from + ": " + e.getMessage());
            }
        } else if (!holepunch.peer.Probe.looksLikeProbe(buf)) {
            peers.dropped("not_ours");                      // neither STUN nor our peer protocol: counted, never a log line each
        } else {
            peers.onDatagram(from, buf.array(), buf.limit());   // a datagram no pair of ours authenticates is counted there
        }
    }

    // ---- what discovery found, to the rendezvous

    /**
     * Reports what discovery found unless this session already has exactly that: a discovery that ends while
     * the session opens reaches here twice (from discovery and from the session's start), and a second report
     * would bring a second ack, and a second request for every configured peer.
     */
    private void found(InetSocketAddress endpoint, NatMapping m, boolean report) {
        peers.ownMapping(m.behaviour(), m.portPreserved());
        peers.ownIpv6(dualStack && discovery.endpoint6() != null);
        synchronized (reportLock) {
            boolean same = endpoint.equals(reported) && m.equals(reportedMapping);
            if (report ? !same : !endpoint.equals(reported)) report(endpoint, m);
        }
    }

    /**
     * Whether the gateway's mapping may be offered to peers: its external address must be the one
     * STUN sees us at, and a unicast address off this host (a gateway, or a neighbour answering in
     * its name, could otherwise have us advertise 127.0.0.1 or a third party's address to peers).
     */
    static boolean advertisable(InetSocketAddress external, InetSocketAddress stunEndpoint) {
        java.net.InetAddress a = external.getAddress();
        return a != null && stunEndpoint != null && a.equals(stunEndpoint.getAddress()) && !a.isLoopbackAddress()
                && !a.isAnyLocalAddress() && !a.isLinkLocalAddress() && !a.isMulticastAddress();
    }

    private void report(InetSocketAddress endpoint, NatMapping m) {
        holepunch.portmap.PortMapper.Mapping mapped = portMapper == null ? null : portMapper.mapping();
        InetSocketAddress relayed = turn.relayed();
        if (reported != null && !reported.equals(endpoint)) {
            // The network moved under us: the rendezvous session's TCP connection most likely went
            // with the old mapping (noticed only at the ping timeout otherwise). A new session
            // reports the new endpoint, and the wanted peers are asked for again once it is taken.
            endpointMoved = true;
            log.info(config.workerId(), "public endpoint moved from " + Addresses.text(reported) + " to " + Addresses.text(endpoint));
            session.restart("our public endpoint moved");
            return;
        }
        boolean sent = session.send(new UpdateUdpEndpoint(Addresses.text(endpoint.getAddress()), endpoint.getPort(),
                m.behaviour().wire, m.portPreserved(), hostCandidates(),
                mapped == null || !advertisable(mapped.external(), endpoint) ? null : Addresses.text(mapped.external()),
                relayed == null ? null : Addresses.text(relayed), peers.probeNonce()));
        if (sent) {
            reported = endpoint;
            reportedMapping = m;
            metrics.inc("holepunch_worker_endpoint_reports_total");
            log.info(config.workerId(), "sent STUN-discovered UDP endpoint " + Addresses.text(endpoint) + " to the rendezvous");
        }
    }

    /**
     * How else a peer may reach us: the IPv6 endpoint STUN saw and this host's IPv6 addresses (no
     * NAT there, only firewalls that punching opens), then its own IPv4 addresses (for a peer on the
     * same LAN); all with the UDP port, at most 8.
     */
    private List<String> hostCandidates() {
        List<String> out = new ArrayList<>();
        if (!config.hostCandidates()) return out;
        if (dualStack) {
            InetSocketAddress v6 = discovery.endpoint6();
            if (v6 != null) out.add(Addresses.text(v6));
            for (InetAddress a : Discovery.ipv6Addresses()) {
                String c = Addresses.text(new InetSocketAddress(a, udpPort()));
                if (!out.contains(c) && out.size() < 4) out.add(c);
            }
        }
        try {
            for (java.net.NetworkInterface nif : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
                if (!nif.isUp() || nif.isLoopback()) continue;
                for (InetAddress a : java.util.Collections.list(nif.getInetAddresses())) {
                    if (a instanceof java.net.Inet4Address && out.size() < 8) out.add(a.getHostAddress() + ":" + udpPort());
                }
            }
        } catch (java.net.SocketException e) {
            log.debug(config.workerId(), "cannot list network interfaces: " + e.getMessage());
        }
        return out;
    }

    private void reportPublicIp() {
        String url = config.ipEchoUrl();
        if (url.isEmpty()) return;
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            String ip = r.body().strip();
            if (r.statusCode() != 200 || !Addresses.isIpLiteral(ip)) {
                log.warn(config.workerId(), "IP echo service " + url + " answered " + r.statusCode() + " with no IP address");
                return;
            }
            if (session.send(new RegisterPublicIp(ip))) {
                log.info(config.workerId(), "sent HTTP-based IP " + ip + " to the rendezvous");
            }
        } catch (Exception e) {
            log.warn(config.workerId(), "IP echo service " + url + " failed: " + RendezvousSession.describe(e));
        }
    }

    private final class SessionHandler implements RendezvousSession.Handler {
        @Override
        public void onConnected(RendezvousSession s) {
            Thread.ofVirtual().start(() -> {
                InetSocketAddress known;
                synchronized (reportLock) {
                    // What this session was told is reset when the previous one ends (onDisconnected), not here: a
                    // discovery that ended between the connect and this thread has told this session already, and a
                    // second report would bring a second ack, and a second introduction to every configured peer.
                    known = discovery.endpoint();
                    NatMapping m = discovery.mapping();
                    if (known != null && m != null && !(known.equals(reported) && m.equals(reportedMapping))) {
                        report(known, m);                          // found while connecting: report at once
                    }
                }
                if (known == null && !discovery.inProgress()) discovery.run(true);   // (one in flight reports when it ends)
                reportPublicIp();                              // after the endpoint: it may wait on an HTTP service
            });
        }

        @Override
        public void onMessage(Message message) {
            switch (message) {
                case UdpEndpointAck ack -> {
                    lastAck = ack.status();
                    if (ack.success()) {
                        log.info(config.workerId(), "received UDP endpoint ack from the rendezvous: status 'success'");
                        peers.onEndpointAccepted();
                        if (endpointMoved) {
                            endpointMoved = false;
                            relayCandidateNew = false;
                            peers.endpointChanged();
                        } else if (relayCandidateNew) {
                            relayCandidateNew = false;
                            peers.candidatesChanged();
                        }
                    } else {
                        log.warn(config.workerId(), "rendezvous refused the UDP endpoint: " + ack.detail());
                    }
                }
                case P2pConnectionOffer offer -> peers.onOffer(offer);
                case P2pConnectionError error -> peers.onError(error);
                case RelayData data -> peers.onRelay(data);
                case RelayError error -> relayRefused(error);
                case holepunch.protocol.RelayBudget budget -> peers.onRelayBudget(budget);
                case holepunch.protocol.TurnCredentialsMessage creds -> {
                    if (config.turn() == null) turn.credentials(creds, true);     // the worker's own TURN settings win
                }
                case EchoResponse echo -> log.info(config.workerId(), "echo response: " + echo.processedByRendezvous());
                case Message.Unknown u -> log.info(config.workerId(), "unhandled message type from the rendezvous: " + Log.excerpt(u.typeName()));
                default -> log.info(config.workerId(), "unexpected message from the rendezvous: " + message.type().wire);
            }
        }

        /** A relay message's datagrams for far-side sockets leave together (sendmmsg), as the UDP reader's do. */
        @Override
        public void onRelayFrame(java.nio.ByteBuffer message) {
            forwarder.hold();
            try {
                peers.onRelayFrame(message);
            } finally {
                forwarder.release();
            }
        }

        /** The rendezvous's relay_error comes at most once a second a reason; said again only when it changes or a minute on. */
        private String lastRelayError;
        private long lastRelayErrorLogged;

        private void relayRefused(RelayError error) {
            metrics.inc("holepunch_worker_relay_errors_total");
            long now = System.nanoTime();
            synchronized (this) {
                if (error.detail() != null && error.detail().equals(lastRelayError) && now - lastRelayErrorLogged < 60_000_000_000L) return;
                lastRelayError = error.detail();
                lastRelayErrorLogged = now;
            }
            log.warn(config.workerId(), "the relay dropped datagrams: " + error.detail());
        }

        @Override
        public void onDisconnected() {
            synchronized (reportLock) {
                reported = null;
                reportedMapping = null;
            }
        }
    }

    /** Closes the session with 1000, releases the socket, stops the health server. */
    @Override
    public void close() {
        running = false;
        discovery.close();
        if (portMapper != null) portMapper.close();      // deletes the mapping on the gateway
        forwarder.close();
        peers.close();
        relayOut.close();
        turn.close();
        session.close();
        if (config.udpBatch() && reader != null) joinQuietly(List.of(reader), 2L * holepunch.net.UdpBatch.RECEIVE_WAIT_MILLIS + 200);
        try {
            udp.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        health.close();
        log.info(config.workerId(), "worker stopped");
    }

    /**
     * Waits up to {@code millis} in all for {@code threads} to end (a reader in a system call the JDK
     * cannot interrupt notices its stop flag within its wait; its socket is closed after).
     */
    static void joinQuietly(java.util.Collection<Thread> threads, long millis) {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        for (Thread t : threads) {
            if (t == Thread.currentThread()) continue;
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) return;
            try {
                t.join(left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
