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
import java.nio.channels.DatagramChannel;
import java.util.Map;

/**
 * The worker's TURN allocation (issue 22): the tier between a direct path and the WebSocket relay.
 * Credentials come from the rendezvous ({@code turn_credentials}, renewed at three quarters of
 * their life) or from TURN_URLS, TURN_USERNAME and TURN_PASSWORD. The first {@code turn:} URI over
 * UDP is used, from the worker's own socket; its relayed address is offered to peers as a
 * candidate ({@code relay_candidate}), and what comes through it goes to the peers as from a
 * socket of its own ({@link #socket}). TURN over TCP or TLS is not spoken yet: such URIs are named
 * in one log line and skipped.
 */
final class WorkerTurn implements AutoCloseable {
    private final Log log = Log.of("worker");
    private final String selfId;
    private final Scheduler scheduler;
    private final DatagramChannel udp;
    private final Peers peers;
    private final Runnable relayedChanged;
    private final java.util.function.Predicate<holepunch.protocol.Message> toRendezvous;
    private volatile TurnClient client;
    private String skippedLogged;
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

    WorkerTurn(String selfId, Scheduler scheduler, DatagramChannel udp, Peers peers, Runnable relayedChanged,
               java.util.function.Predicate<holepunch.protocol.Message> toRendezvous) {
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

    Map<String, Object> status() {
        TurnClient c = client;
        return c == null ? null : c.status();
    }

    /** Credentials (and servers): from the rendezvous ({@code renew}: ask again before they expire) or the worker's settings. */
    void credentials(TurnCredentialsMessage m, boolean renew) {
        TurnUri uri = null;
        StringBuilder skipped = new StringBuilder();
        for (String text : m.urls()) {
            try {
                TurnUri u = TurnUri.parse(text);
                if (!u.secure() && u.transport() == TurnUri.Transport.UDP) {
                    if (uri == null) uri = u;
                } else {
                    skipped.append(skipped.isEmpty() ? "" : ", ").append(u);
                }
            } catch (IllegalArgumentException e) {
                skipped.append(skipped.isEmpty() ? "" : ", ").append(Log.excerpt(text)).append(" (").append(e.getMessage()).append(')');
            }
        }
        synchronized (this) {
            if (closed) return;
            if (!skipped.isEmpty() && !skipped.toString().equals(skippedLogged)) {
                skippedLogged = skipped.toString();
                log.info(selfId, "TURN servers skipped (this worker speaks TURN over UDP only): " + skipped);
            }
        }
        if (uri == null) return;
        long now = System.currentTimeMillis() / 1000;
        TurnCredentials creds = new TurnCredentials(m.username(), m.password(), now + Math.min(m.ttlSec(), 10L * 365 * 86400));
        if (renew) scheduler.schedule(Math.max(30, m.ttlSec() * 3 / 4) * 1000, () -> toRendezvous.test(new TurnCredentialsRequest()));
        TurnUri chosen = uri;
        Thread.ofVirtual().name("turn-resolve").start(() -> use(chosen, creds));     // DNS may take a while: off the session's thread
    }

    private void use(TurnUri uri, TurnCredentials creds) {
        InetSocketAddress server;
        try {
            server = new InetSocketAddress(InetAddress.getByName(uri.host()), uri.port());
        } catch (UnknownHostException e) {
            log.warn(selfId, "TURN server " + uri + " cannot be resolved: " + e.getMessage() + "; peers use the WebSocket relay");
            return;
        }
        TurnClient start;
        synchronized (this) {
            if (closed) return;
            TurnClient c = client;
            if (c != null && c.server().equals(server)) {
                c.credentials(creds);
                return;
            }
            if (c != null) c.close();
            start = new TurnClient(selfId, server, creds, scheduler, new TurnClient.Host() {
                @Override
                public void send(ByteBuffer datagram, InetSocketAddress to) throws IOException {
                    udp.send(datagram, to);
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
            });
            client = start;
        }
        peers.turn(start::permit);
        start.start();
    }

    /** A datagram from the TURN server's address that is the client's (an answer, a peer's data); false otherwise. */
    boolean onDatagram(InetSocketAddress from, ByteBuffer buf) {
        TurnClient c = client;
        return c != null && from.equals(c.server()) && c.onDatagram(buf);
    }

    Peers.Socket socket() {
        return socket;
    }

    /** Releases the allocation (a clean stop). */
    @Override
    public synchronized void close() {
        closed = true;
        TurnClient c = client;
        if (c != null) c.close();
    }
}
