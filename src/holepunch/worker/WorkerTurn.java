package holepunch.worker;

import holepunch.log.Log;
import holepunch.peer.Peers;
import holepunch.peer.Probe;
import holepunch.protocol.TurnCredentialsMessage;
import holepunch.protocol.TurnCredentialsRequest;
import holepunch.timer.Scheduler;
import holepunch.turn.TurnClient;
import holepunch.turn.TurnCredentials;
import holepunch.turn.TurnUri;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.Map;

/**
 * The worker's TURN allocation (issue 22): the tier between a direct path and the WebSocket relay.
 * Credentials come from the rendezvous ({@code turn_credentials}, renewed at three quarters of
 * their life) or from TURN_URLS, TURN_USERNAME and TURN_PASSWORD. Servers are tried in order, UDP
 * first (from the worker's own socket), then TCP and TLS ({@code ?transport=tcp}, {@code turns:},
 * and TCP on the port of a {@code turn:} URI that names no transport) when an Allocate fails or a
 * connection ends. The relayed address is offered to peers as a candidate ({@code relay_candidate}),
 * and what comes through it goes to the peers as from a socket of its own ({@link #socket}).
 */
final class WorkerTurn implements AutoCloseable {
    private final Log log = Log.of("worker");
    private final String selfId;
    private final Scheduler scheduler;
    /** The worker's own socket (as the peers send from it: a thread's sends held for one system call go out with them). */
    private final Peers.Socket udp;
    private final Peers peers;
    private final Runnable relayedChanged;
    private final java.util.function.Predicate<holepunch.protocol.Message> toRendezvous;
    private volatile TurnClient client;
    private boolean closed;

    /** What comes through the allocation, as a socket of its own for the peers. */
    private final Peers.Socket socket = new Peers.Socket() {
        @Override
        public void send(ByteBuffer datagram, InetSocketAddress to) throws IOException {
            TurnClient c = client;
            if (c == null) throw new IOException("no TURN allocation");
            c.send(datagram, to);
        }

        @Override
        public boolean relayed() {
            return true;
        }
    };

    /** CAs trusted for {@code turns:} besides the JDK's (TURN_CA_FILE), or null. */
    private final javax.net.ssl.SSLContext tls;

    WorkerTurn(String selfId, Scheduler scheduler, Peers.Socket udp, Peers peers, Runnable relayedChanged,
               java.util.function.Predicate<holepunch.protocol.Message> toRendezvous, javax.net.ssl.SSLContext tls) {
        this.tls = tls;
        this.selfId = selfId;
        this.scheduler = scheduler;
        this.udp = udp;
        this.peers = peers;
        this.relayedChanged = relayedChanged;
        this.toRendezvous = toRendezvous;
    }

    /** The relayed address to offer peers, or null. */
    InetSocketAddress relayed() {
        TurnClient c = client;
        return c == null ? null : c.relayedAddress();
    }

    /** The last failure of any server or transport (for /status while none holds an allocation). */
    private volatile String lastError;

    /** For /status: the current server's state, or the last failure while between servers; null without TURN. */
    Map<String, Object> status() {
        TurnClient c = client;
        if (c != null) {
            Map<String, Object> m = c.status();
            if (m.get("last_error") == null && m.get("relayed_address") == null) m.put("last_error", lastError);
            return m;
        }
        if (lastError == null) return null;
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("relayed_address", null);
        m.put("last_error", lastError);
        return m;
    }

    /** The servers and transports to try, in order, and the credentials for them; where we are in that order. */
    private java.util.List<TurnUri> options = java.util.List.of();
    private TurnCredentials creds;
    private int current = -1;
    private holepunch.turn.TurnStream stream;
    private long round;

    /**
     * The servers to try, in order: each URI as written; a {@code turn:} URI that names no transport
     * is tried over UDP, then over TCP on the same port (coturn listens on both), for networks
     * that let no UDP through to it.
     */
    static java.util.List<TurnUri> options(java.util.List<String> urls, StringBuilder skipped) {
        java.util.List<TurnUri> out = new java.util.ArrayList<>();
        for (String text : urls) {
            try {
                TurnUri u = TurnUri.parse(text);
                out.add(u);
                if (!u.secure() && u.transport() == TurnUri.Transport.UDP && !text.toLowerCase(java.util.Locale.ROOT).contains("transport=")) {
                    out.add(new TurnUri(false, u.host(), u.port(), TurnUri.Transport.TCP));
                }
            } catch (IllegalArgumentException e) {
                skipped.append(skipped.isEmpty() ? "" : ", ").append(Log.excerpt(text)).append(" (").append(e.getMessage()).append(')');
            }
        }
        // UDP first, in the operator's order, then the stream transports.
        java.util.List<TurnUri> ordered = new java.util.ArrayList<>();
        for (TurnUri u : out) if (!u.secure() && u.transport() == TurnUri.Transport.UDP && !ordered.contains(u)) ordered.add(u);
        for (TurnUri u : out) if (!ordered.contains(u)) ordered.add(u);
        return java.util.List.copyOf(ordered);
    }

    /** Credentials (and servers): from the rendezvous ({@code renew}: ask again before they expire) or the worker's settings. */
    void credentials(TurnCredentialsMessage m, boolean renew) {
        StringBuilder skipped = new StringBuilder();
        java.util.List<TurnUri> list = options(m.urls(), skipped);
        if (!skipped.isEmpty()) log.warn(selfId, "TURN URIs skipped: " + skipped);
        if (list.isEmpty()) return;
        long now = System.currentTimeMillis() / 1000;
        TurnCredentials c = new TurnCredentials(m.username(), m.password(), now + Math.min(m.ttlSec(), 10L * 365 * 86400));
        if (renew) scheduler.schedule(Math.max(30, m.ttlSec() * 3 / 4) * 1000, () -> toRendezvous.test(new TurnCredentialsRequest()));
        boolean fresh;
        synchronized (this) {
            if (closed) return;
            creds = c;
            fresh = !list.equals(options) || client == null;
            if (fresh) {
                options = list;
                current = -1;
            } else {
                client.credentials(c);
            }
        }
        if (fresh) next(round);
    }

    /** Tries the next server or transport (after the last, the first again a while later), off the caller's thread. */
    private void next(long expectedRound) {
        int index;
        long delay = 0;
        synchronized (this) {
            if (closed || expectedRound != round) return;                // another switch came first
            round++;
            stopCurrent();
            current++;
            if (current >= options.size()) {
                current = 0;
                delay = 30_000;                                             // every option failed: the round again, later
            }
            index = current;
        }
        long r = round;
        Runnable go = () -> Thread.ofVirtual().name("turn-start").start(() -> use(index, r));
        if (delay > 0) scheduler.schedule(delay, go);
        else go.run();
    }

    private void stopCurrent() {
        TurnClient c = client;
        client = null;
        if (c != null) c.close();
        holepunch.turn.TurnStream s = stream;
        stream = null;
        if (s != null) s.close();
    }

    private void use(int index, long r) {
        TurnUri uri;
        TurnCredentials c;
        synchronized (this) {
            if (closed || r != round || index >= options.size()) return;
            uri = options.get(index);
            c = creds;
        }
        InetSocketAddress server;
        try {
            server = new InetSocketAddress(InetAddress.getByName(uri.host()), uri.port());
        } catch (UnknownHostException e) {
            lastError = "TURN server " + uri + " cannot be resolved: " + e.getMessage();
            log.warn(selfId, lastError);
            next(r);
            return;
        }
        boolean udpTransport = !uri.secure() && uri.transport() == TurnUri.Transport.UDP;
        String transport = uri.secure() ? "tls" : udpTransport ? "udp" : "tcp";
        TurnClient[] made = new TurnClient[1];
        holepunch.turn.TurnStream s = null;
        if (!udpTransport) {
            try {
                s = new holepunch.turn.TurnStream(server, uri.host(), uri.secure(), tls == null ? null : tls.getSocketFactory(), buf -> {
                    TurnClient tc = made[0];
                    if (tc != null) tc.onDatagram(buf);
                }, () -> {
                    if (made[0] != null && client == made[0]) {
                        log.warn(selfId, "the TURN connection to " + uri + " ended; trying the next TURN server or transport");
                        relayedChanged.run();
                        next(r);
                    }
                });
            } catch (IOException e) {
                lastError = "TURN over " + transport + " to " + uri + ": cannot connect (" + e.getMessage() + ")";
                log.warn(selfId, lastError);
                next(r);
                return;
            }
        }
        holepunch.turn.TurnStream conn = s;
        TurnClient start = new TurnClient(selfId, server, transport, c, scheduler, new TurnClient.Host() {
            @Override
            public void send(ByteBuffer datagram, InetSocketAddress to) throws IOException {
                if (conn == null) udp.send(datagram, to);
                else if (!conn.send(datagram)) throw new IOException("the TURN connection's queue is full or closed");
            }

            @Override
            public void deliver(InetSocketAddress peer, byte[] data, int length) {
                if (Probe.looksLikeProbe(ByteBuffer.wrap(data, 0, length))) peers.onDatagram(socket, peer, data, length);
                else peers.dropped("not_ours");
            }

            @Override
            public void relayed(InetSocketAddress address) {
                relayedChanged.run();
            }

            @Override
            public void dropped(String reason) {
                peers.dropped(reason);
            }

            @Override
            public void allocationFailed(String why) {
                lastError = why;
                Thread.ofVirtual().name("turn-next").start(() -> next(r));   // not under the client's lock
            }
        });
        made[0] = start;
        synchronized (this) {
            if (closed || r != round) {
                start.close();
                if (conn != null) conn.close();
                return;
            }
            client = start;
            stream = conn;
            udpClient = conn == null;
        }
        peers.turn(start::permit);
        start.start();
    }

    /** Whether the current client's server answers on the worker's UDP socket (else on its own connection). */
    private volatile boolean udpClient;

    /** A datagram from the TURN server's address that is the client's (an answer, a peer's data); false otherwise. */
    boolean onDatagram(InetSocketAddress from, ByteBuffer buf) {
        TurnClient c = client;
        return c != null && udpClient && from.equals(c.server()) && c.onDatagram(buf);
    }

    Peers.Socket socket() {
        return socket;
    }

    /** Releases the allocation (a clean stop). */
    @Override
    public synchronized void close() {
        closed = true;
        TurnClient c = client;
        if (c != null) c.close();                   // the Refresh of lifetime 0 is queued first
        holepunch.turn.TurnStream s = stream;
        if (s != null) scheduler.schedule(200, s::close);   // a moment for it to leave on a stream
    }
}
