package holepunch.worker;

import holepunch.crypto.Identity;
import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.net.Addresses;
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
import java.net.UnknownHostException;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A worker: one UDP socket for STUN and peer traffic, a session to the rendezvous, and the health
 * server. It reports the mapping STUN finds for that very socket, re-discovers it periodically and
 * on every reconnect, and reports a change at once.
 */
public final class Worker implements AutoCloseable {
    private final Log log = Log.of("worker");
    private final Metrics metrics = new Metrics();
    private volatile long lastStunRttMillis = -1;
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
    private final Object discoveryLock = new Object();
    private volatile InetSocketAddress publicEndpoint;
    private volatile NatMapping mapping;
    private volatile InetSocketAddress reported;
    private volatile boolean discovering;
    private volatile String lastAck;
    private volatile int discoveryFailures;
    private volatile Scheduler.Handle nextDiscovery;
    private volatile boolean running = true;

    private Worker(WorkerConfig config) throws IOException {
        this.config = config;
        this.identity = config.keyFile() == null ? Identity.generate() : Identity.loadOrCreate(config.keyFile());
        udp = DatagramChannel.open(StandardProtocolFamily.INET);
        try {
            udp.bind(new InetSocketAddress(config.udpPort()));
        } catch (IOException e) {
            udp.close();
            throw new IOException("cannot bind UDP port " + config.udpPort() + " (INTERNAL_UDP_PORT_ENV): " + e.getMessage(), e);
        }
        stun = new StunClient((d, to) -> udp.send(d, to), scheduler, config.retransmission());
        reader = Thread.ofPlatform().name("udp-reader").daemon(true).unstarted(this::readUdp);
        session = new RendezvousSession(config.workerId(), config.rendezvousWs(), config.pingIntervalNanos(),
                config.pingTimeoutNanos(), config.token(), metrics, identity, new SessionHandler());
        metrics.gauge("holepunch_worker_rendezvous_connected", "1 while the rendezvous session is up.", () -> session.isConnected() ? 1 : 0);
        metrics.gauge("holepunch_worker_stun_rtt_seconds", "Round-trip time of the last successful STUN transaction (NaN before one).",
                () -> lastStunRttMillis < 0 ? Double.NaN : lastStunRttMillis / 1000.0);
        metrics.counterFamily("holepunch_worker_stun_transactions_total", "STUN transactions, by outcome.");
        metrics.counterFamily("holepunch_worker_connect_attempts_total", "Connection attempts to the rendezvous.");
        metrics.counterFamily("holepunch_worker_endpoint_reports_total", "update_udp_endpoint messages sent.");
        peers = new holepunch.peer.Peers(config.workerId(), identity, (d, to) -> udp.send(d, to), session::send, scheduler, config.peers());
        try {
            forwarder = new Forwarder(config.workerId(), peers::send, config.forward(), config.forwardAllow(), metrics);
        } catch (IOException e) {
            udp.close();
            throw e;
        }
        peers.useMetrics(metrics);
        peers.onData(forwarder::onData);
        health = new HealthServer(config.httpPort(), this::status, metrics::render, config.token());
    }

    public static Worker start(WorkerConfig config) throws IOException {
        Worker w = new Worker(config);
        w.log.info(config.workerId(), "worker starting: key " + w.identity.publicIdentity().fingerprint()
                + (config.keyFile() == null ? " (new for this process; set WORKER_KEY_FILE to keep it)" : " (from " + config.keyFile() + ")")
                + ", UDP port " + w.udpPort() + ", health server on port " + w.health.port() + ", STUN servers " + config.stunServers().stream()
                .map(a -> a.getHostString() + ":" + a.getPort()).toList());
        w.reader.start();
        // STUN runs while the WebSocket connects: the first report goes out as soon as both are done.
        Thread.ofVirtual().name("discovery").start(() -> w.discover(false));
        w.session.start();
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
        return publicEndpoint;
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
        InetSocketAddress pub = publicEndpoint;
        NatMapping m = mapping;
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("worker_id", config.workerId());
        s.put("key_fingerprint", identity.publicIdentity().fingerprint());
        s.put("udp_local_port", udpPort());
        s.put("public_endpoint", pub == null ? null : Json.obj("ip", Addresses.text(pub.getAddress()), "port", pub.getPort()));
        s.put("nat_mapping", m == null ? null : m.behaviour().wire);
        s.put("port_preserved", m == null ? null : m.portPreserved());
        s.put("rendezvous_connected", session.isConnected());
        s.put("last_udp_endpoint_ack", lastAck);
        s.put("peers", peers.status());
        return s;
    }

    // ---- the UDP socket: one reader, STUN answers to the client, the rest to peers

    private void readUdp() {
        ByteBuffer buf = ByteBuffer.allocate(2048);
        while (running) {
            try {
                buf.clear();
                InetSocketAddress from = (InetSocketAddress) udp.receive(buf);
                buf.flip();
                if (StunMessage.looksLikeStun(buf)) {
                    try {
                        stun.onDatagram(from, buf.array(), buf.limit());
                    } catch (StunException e) {
                        log.debug(config.workerId(), "ignored a malformed STUN datagram from " + from + ": " + e.getMessage());
                    }
                } else if (!holepunch.peer.Probe.looksLikeProbe(buf) || !peers.onDatagram(from, buf.array(), buf.limit())) {
                    log.debug(config.workerId(), "dropped a datagram of " + buf.limit() + " bytes from " + from + " (not STUN, no peer path)");
                }
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException | RuntimeException e) {
                if (running) log.warn(config.workerId(), "UDP receive failed: " + e);
            }
        }
    }

    // ---- discovery

    /** Runs STUN against every server on the worker's socket; reports when asked or when the mapping changed. */
    void discover(boolean alwaysReport) {
        synchronized (discoveryLock) {
            if (!running) return;
            discovering = true;
            try {
                discoverLocked(alwaysReport);
            } finally {
                discovering = false;
            }
        }
    }

    private void discoverLocked(boolean alwaysReport) {
        {
            List<CompletableFuture<StunClient.Binding>> pending = new ArrayList<>();
            List<String> failures = new ArrayList<>();
            for (InetSocketAddress server : config.stunServers()) {
                try {
                    InetAddress ip = resolveIpv4(server.getHostString());
                    pending.add(stun.bind(new InetSocketAddress(ip, server.getPort())));
                } catch (UnknownHostException e) {
                    failures.add("DNS lookup of STUN server " + server.getHostString() + " failed: " + e.getMessage());
                }
            }
            List<StunClient.Binding> bindings = new ArrayList<>();
            for (CompletableFuture<StunClient.Binding> f : pending) {
                try {
                    bindings.add(f.get(120, TimeUnit.SECONDS));
                    metrics.inc("holepunch_worker_stun_transactions_total", "outcome", "success");
                } catch (ExecutionException e) {
                    failures.add(e.getCause().getMessage());
                    metrics.inc("holepunch_worker_stun_transactions_total", "outcome", "failure");
                } catch (Exception e) {
                    failures.add(e.toString());
                    metrics.inc("holepunch_worker_stun_transactions_total", "outcome", "failure");
                }
            }
            for (String f : failures) log.warn(config.workerId(), "STUN: " + f);
            if (bindings.isEmpty()) {
                int n = ++discoveryFailures;
                long retry = holepunch.timer.Backoff.delay(n - 1, 1000, Math.min(config.stunRefreshMillis(), 64_000));
                log.warn(config.workerId(), "STUN discovery failed (" + n + " in a row); keeping the last endpoint "
                        + publicEndpoint + ", retrying in " + retry + " ms");
                scheduleDiscovery(retry);
                return;
            }
            discoveryFailures = 0;
            lastStunRttMillis = bindings.get(0).rttMillis();
            NatMapping m = NatMapping.classify(bindings, udpPort());
            InetSocketAddress endpoint = bindings.get(0).mapped();
            boolean changed = !endpoint.equals(publicEndpoint) || !m.equals(mapping);
            publicEndpoint = endpoint;
            mapping = m;
            log.info(config.workerId(), "STUN result: " + Addresses.text(endpoint)
                    + " for local UDP port " + udpPort() + " (NAT mapping " + m.behaviour().wire + ", port "
                    + (m.portPreserved() ? "preserved" : "not preserved") + ", rtt " + bindings.get(0).rttMillis() + " ms)");
            if (changed || alwaysReport || !endpoint.equals(reported)) report(endpoint, m);
            scheduleDiscovery(config.stunRefreshMillis());
        }
    }

    private void report(InetSocketAddress endpoint, NatMapping m) {
        boolean sent = session.send(new UpdateUdpEndpoint(Addresses.text(endpoint.getAddress()), endpoint.getPort(),
                m.behaviour().wire, m.portPreserved(), hostCandidates()));
        if (sent) {
            reported = endpoint;
            metrics.inc("holepunch_worker_endpoint_reports_total");
            log.info(config.workerId(), "sent STUN-discovered UDP endpoint " + Addresses.text(endpoint) + " to the rendezvous");
        }
    }

    /** This host's own IPv4 addresses with the UDP port: how a peer on the same LAN reaches us. */
    private List<String> hostCandidates() {
        List<String> out = new ArrayList<>();
        if (!config.hostCandidates()) return out;
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

    private void scheduleDiscovery(long delayMillis) {
        Scheduler.Handle old = nextDiscovery;
        if (old != null) old.cancel();
        if (running) nextDiscovery = scheduler.schedule(delayMillis, () -> Thread.ofVirtual().start(() -> discover(false)));
    }

    private static InetAddress resolveIpv4(String host) throws UnknownHostException {
        InetAddress literal = Addresses.literal(host);
        if (literal != null) return literal;
        for (InetAddress a : InetAddress.getAllByName(host)) {
            if (a instanceof java.net.Inet4Address) return a;
        }
        throw new UnknownHostException(host + " has no IPv4 address");
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
            log.warn(config.workerId(), "IP echo service " + url + " failed: " + e);
        }
    }

    private final class SessionHandler implements RendezvousSession.Handler {
        @Override
        public void onConnected(RendezvousSession s) {
            Thread.ofVirtual().start(() -> {
                reported = null;
                InetSocketAddress known = publicEndpoint;
                NatMapping m = mapping;
                if (known != null) report(known, m);          // found while connecting: report at once
                else if (!discovering) discover(true);         // (one in flight reports when it ends)
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
                    } else {
                        log.warn(config.workerId(), "rendezvous refused the UDP endpoint: " + ack.detail());
                    }
                }
                case P2pConnectionOffer offer -> peers.onOffer(offer);
                case P2pConnectionError error -> peers.onError(error);
                case RelayData data -> peers.onRelay(data);
                case RelayError error -> log.warn(config.workerId(), "relay refused a datagram: " + error.detail());
                case EchoResponse echo -> log.info(config.workerId(), "echo response: " + echo.processedByRendezvous());
                case Message.Unknown u -> log.info(config.workerId(), "unhandled message type from the rendezvous: " + Log.excerpt(u.typeName()));
                default -> log.info(config.workerId(), "unexpected message from the rendezvous: " + message.type().wire);
            }
        }

        @Override
        public void onDisconnected() {
            reported = null;
        }
    }

    /** Closes the session with 1000, releases the socket, stops the health server. */
    @Override
    public void close() {
        running = false;
        Scheduler.Handle next = nextDiscovery;
        if (next != null) next.cancel();
        forwarder.close();
        peers.close();
        session.close();
        try {
            udp.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        health.close();
        log.info(config.workerId(), "worker stopped");
    }
}
