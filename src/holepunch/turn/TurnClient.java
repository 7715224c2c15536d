package holepunch.turn;

import holepunch.log.Log;
import holepunch.stun.AttributeType;
import holepunch.stun.StunAddress;
import holepunch.stun.StunAttribute;
import holepunch.stun.StunClass;
import holepunch.stun.StunException;
import holepunch.stun.StunMessage;
import holepunch.timer.Scheduler;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * A TURN client (RFC 8656) over UDP, on the worker's own socket: an allocation on the server
 * (Allocate with the long-term credential and its 401/nonce exchange, §7.2, §9.2 of RFC 8489),
 * kept by Refresh; permissions for the peers' addresses (CreatePermission, §9), refreshed while
 * wanted; a channel per peer (ChannelBind, §12) once traffic flows, and Send indications until the
 * channel is bound. Datagrams from peers come back as Data indications or ChannelData and are
 * handed to the receiver with the peer's address. A server that refuses or stops answering is one
 * log line, and the allocation is tried again later, backing off.
 *
 * <p>Threads: {@link #onDatagram} on the socket's reader, {@link #send} on any sender, the rest on
 * the scheduler; control state is guarded by {@code this}, the data path reads concurrent maps.
 */
public final class TurnClient implements AutoCloseable {
    /** What the client needs from the worker: its socket, and where peer datagrams and the relayed address go. */
    public interface Host {
        void send(ByteBuffer datagram, InetSocketAddress to) throws IOException;

        /** A peer's datagram, {@code data[0, length)} (valid during the call only). */
        void deliver(InetSocketAddress peer, byte[] data, int length);

        /** The relayed address changed (null: the allocation is gone). */
        void relayed(InetSocketAddress relayedAddress);

        /** A datagram from the server dropped here, and why (a metric label). */
        default void dropped(String reason) {
        }

        /** An Allocate failed (refused, or no answer): the host may try another server or transport. */
        default void allocationFailed(String why) {
        }
    }

    static final int UDP = 17;
    static final int ALLOCATE = 0x003, REFRESH = 0x004, SEND = 0x006, DATA = 0x007, CREATE_PERMISSION = 0x008, CHANNEL_BIND = 0x009;
    /** §9: permissions last 300 s; refreshed every 240 s while wanted. Channels last 600 s (§12); rebound every 480 s. */
    static final long PERMISSION_REFRESH_MILLIS = 240_000, CHANNEL_REFRESH_MILLIS = 480_000;
    /**
     * Over UDP, a Binding indication to the server this often while the allocation lives (RFC 8489 §6.3, as ICE's
     * keepalives): a NAT in front forgets a UDP mapping after 30 s without traffic (Linux's conntrack unless the
     * flow lived 2 s), and the server's datagrams for us (peers' Data indications) then die at it. Found by the NAT
     * lab: a pair whose first introduction came before the relayed addresses were known tried TURN 35 s later, through
     * a mapping gone, and every attempt after failed too.
     */
    static final long KEEPALIVE_MILLIS = 15_000;
    /** A permission is kept while the peer was wanted within this long. */
    static final long WANTED_MILLIS = 600_000;
    static final long FIRST_RTO_MILLIS = 500;
    static final int TRIES = 5;
    static final long RETRY_FIRST_MILLIS = 5_000, RETRY_CAP_MILLIS = 120_000;
    static final int MAX_PEERS = 256;

    private final Log log = Log.of("turn");
    private final String selfId;
    private final InetSocketAddress server;
    private final String transportName;
    private final Scheduler scheduler;
    private final Host host;
    private volatile TurnCredentials credentials;
    private String realm;
    private String nonce;
    private byte[] key;
    private volatile InetSocketAddress relayed;
    private volatile boolean closed;
    private int failures;
    private String lastFailure;
    private final Map<String, Pending> pending = new HashMap<>();
    /** Peers' addresses (IP) with when they were last wanted. */
    private final Map<InetAddress, Long> wanted = new HashMap<>();
    private final Map<InetSocketAddress, Integer> channels = new ConcurrentHashMap<>();
    private final Map<Integer, InetSocketAddress> byChannel = new ConcurrentHashMap<>();
    private final Map<InetSocketAddress, Boolean> bound = new ConcurrentHashMap<>();
    private int nextChannel = ChannelData.MIN_CHANNEL;
    private static final ThreadLocal<ByteBuffer> OUT = ThreadLocal.withInitial(() -> ByteBuffer.allocate(2048));
    private static final ThreadLocal<byte[]> IN = ThreadLocal.withInitial(() -> new byte[2048]);

    private record Pending(int method, List<StunAttribute> attributes, boolean authenticated, Consumer<StunMessage> onSuccess,
                           Consumer<StunMessage> onError, int tries, long rto, boolean reauthenticated) {
    }

    public TurnClient(String selfId, InetSocketAddress server, TurnCredentials credentials, Scheduler scheduler, Host host) {
        this(selfId, server, "udp", credentials, scheduler, host);
    }

    /** {@code transportName} (udp, tcp, tls) is for logs and /status. */
    public TurnClient(String selfId, InetSocketAddress server, String transportName, TurnCredentials credentials, Scheduler scheduler, Host host) {
        this.transportName = transportName;
        this.selfId = selfId;
        this.server = server;
        this.credentials = credentials;
        this.scheduler = scheduler;
        this.host = host;
    }

    public InetSocketAddress server() {
        return server;
    }

    /** The relayed address, or null while there is no allocation. */
    public InetSocketAddress relayedAddress() {
        return relayed;
    }

    /** New credentials (the rendezvous's, before the old ones expire): used from the next allocation. */
    public void credentials(TurnCredentials c) {
        credentials = c;
    }

    /** For /status: the server, the relayed address, the last failure. */
    public synchronized Map<String, Object> status() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("server", holepunch.net.Addresses.text(server));
        m.put("transport", transportName);
        m.put("relayed_address", relayed == null ? null : holepunch.net.Addresses.text(relayed));
        m.put("last_error", lastFailure);
        m.put("peers", wanted.size());
        m.put("channels_bound", bound.size());
        return m;
    }

    // ---- the allocation

    public synchronized void start() {
        if (closed || relayed != null) return;
        List<StunAttribute> attrs = List.of(new StunAttribute(AttributeType.REQUESTED_TRANSPORT, new byte[] {UDP, 0, 0, 0}));
        request(ALLOCATE, attrs, this::allocated, m -> failed("Allocate", m));
    }

    private synchronized void allocated(StunMessage m) {
        InetSocketAddress r;
        try {
            r = m.address(AttributeType.XOR_RELAYED_ADDRESS);
        } catch (StunException e) {
            r = null;
        }
        if (r == null) {
            failed("Allocate", "the success response has no XOR-RELAYED-ADDRESS");
            return;
        }
        relayed = r;
        failures = 0;
        lastFailure = null;
        long lifetime = lifetimeOf(m, 600);
        log.info(selfId, "TURN allocation at " + transportName + " " + holepunch.net.Addresses.text(server) + ": relayed address " + holepunch.net.Addresses.text(r)
                + " for " + lifetime + " s");
        scheduler.schedule(Math.max(10, lifetime - 60) * 1000, this::refresh);
        InetSocketAddress allocation = r;
        if (transportName.equals("udp")) scheduler.schedule(KEEPALIVE_MILLIS, () -> keepalive(allocation));
        for (InetAddress ip : wanted.keySet()) createPermission(ip);
        host.relayed(r);
    }

    /** Keeps the NAT's mapping towards the server open while allocation {@code at} lives ({@link #KEEPALIVE_MILLIS}). */
    private void keepalive(InetSocketAddress at) {
        if (closed || relayed != at) return;
        try {
            host.send(ByteBuffer.wrap(new StunMessage(StunClass.INDICATION, StunMessage.BINDING, StunMessage.newTransactionId(), List.of())
                    .encode(false)), server);
            keepalives.incrementAndGet();
        } catch (IOException e) {
            log.debug(selfId, "TURN keepalive to " + holepunch.net.Addresses.text(server) + " failed: " + e.getMessage());
        }
        scheduler.schedule(KEEPALIVE_MILLIS, () -> keepalive(at));
    }

    /** Keepalives sent (tests read it). */
    final java.util.concurrent.atomic.AtomicLong keepalives = new java.util.concurrent.atomic.AtomicLong();

    private static long lifetimeOf(StunMessage m, long otherwise) {
        byte[] v = m.attribute(AttributeType.LIFETIME);
        return v == null ? otherwise : ByteBuffer.wrap(v).getInt() & 0xFFFFFFFFL;
    }

    private synchronized void refresh() {
        if (closed || relayed == null) return;
        request(REFRESH, List.of(new StunAttribute(AttributeType.LIFETIME, ByteBuffer.allocate(4).putInt(600).array())), m -> {
            long lifetime = lifetimeOf(m, 600);
            scheduler.schedule(Math.max(10, lifetime - 60) * 1000, this::refresh);
        }, m -> {
            lost("Refresh", m);
        });
    }

    /** The allocation is gone (a refused refresh, a server that went away): said once, and allocated again later. */
    private synchronized void lost(String what, StunMessage m) {
        relayed = null;
        channels.clear();
        byChannel.clear();
        bound.clear();
        failed(what, m);
        host.relayed(null);
    }

    private void failed(String what, StunMessage m) {
        failed(what, m == null ? "no answer from the server" : "refused: " + m.errorCode());
    }

    private synchronized void failed(String what, String why) {
        String text = "TURN " + what + " at " + transportName + " " + holepunch.net.Addresses.text(server) + " failed: " + why;
        if (!text.equals(lastFailure)) log.warn(selfId, text + "; peers use the WebSocket relay meanwhile, TURN is tried again later");
        lastFailure = text;
        if (closed) return;
        if (what.equals("Allocate")) host.allocationFailed(text);
        if (closed) return;
        long delay = holepunch.timer.Backoff.delay(failures++, RETRY_FIRST_MILLIS, RETRY_CAP_MILLIS);
        if (relayed == null) scheduler.schedule(delay, this::start);
    }

    // ---- permissions and channels

    /** Lets datagrams from these peers' addresses through the allocation (now, and kept while wanted). */
    public synchronized void permit(List<InetAddress> ips) {
        long now = scheduler.nowMillis();
        for (InetAddress ip : ips) {
            if (ip == null || (wanted.size() >= MAX_PEERS && !wanted.containsKey(ip))) continue;
            boolean fresh = wanted.put(ip, now) == null;
            if (fresh && relayed != null) createPermission(ip);
        }
    }

    private synchronized void createPermission(InetAddress ip) {
        if (closed || relayed == null) return;
        Long last = wanted.get(ip);
        if (last == null || scheduler.nowMillis() - last > WANTED_MILLIS) {
            wanted.remove(ip);
            return;
        }
        request(CREATE_PERMISSION, List.of(peerAddress(new InetSocketAddress(ip, 0))),
                m -> scheduler.schedule(PERMISSION_REFRESH_MILLIS, () -> createPermission(ip)),
                m -> log.warn(selfId, "TURN CreatePermission for " + ip.getHostAddress() + " refused: " + (m == null ? "no answer" : m.errorCode())));
    }

    private StunAttribute peerAddress(InetSocketAddress peer) {
        return new StunAttribute(AttributeType.XOR_PEER_ADDRESS, StunAddress.encode(peer, true, PLACEHOLDER_TID));
    }

    /** The XOR of an address with the cookie depends on the transaction id for IPv6 only: each request encodes its own. */
    private static final byte[] PLACEHOLDER_TID = new byte[12];

    private synchronized void bind(InetSocketAddress peer) {
        if (closed || relayed == null || channels.containsKey(peer) || channels.size() >= MAX_PEERS) return;
        int channel = nextChannel;
        nextChannel = nextChannel == ChannelData.MAX_CHANNEL ? ChannelData.MIN_CHANNEL : nextChannel + 1;
        channels.put(peer, channel);
        byChannel.put(channel, peer);
        rebind(peer, channel);
    }

    private synchronized void rebind(InetSocketAddress peer, int channel) {
        if (closed || relayed == null || !Integer.valueOf(channel).equals(channels.get(peer))) return;
        request(CHANNEL_BIND, List.of(new StunAttribute(AttributeType.CHANNEL_NUMBER, ByteBuffer.allocate(4).putShort((short) channel).array()),
                peerAddress(peer)), m -> {
            bound.put(peer, true);
            scheduler.schedule(CHANNEL_REFRESH_MILLIS, () -> rebind(peer, channel));
        }, m -> {
            channels.remove(peer, channel);
            byChannel.remove(channel, peer);
            log.debug(selfId, "TURN ChannelBind for " + peer + " refused: " + (m == null ? "no answer" : m.errorCode()));
        });
    }

    // ---- data

    /** Sends {@code datagram} to {@code peer} through the allocation: ChannelData once bound, a Send indication until then. */
    public void send(ByteBuffer datagram, InetSocketAddress peer) throws IOException {
        if (relayed == null) throw new IOException("no TURN allocation");
        Integer channel = bound.containsKey(peer) ? channels.get(peer) : null;
        if (channel != null) {
            ByteBuffer out = OUT.get().clear();
            ChannelData.header(out, channel, datagram.remaining());
            out.put(datagram).flip();
            host.send(out, server);
            return;
        }
        byte[] data = new byte[datagram.remaining()];
        datagram.get(data);
        byte[] tid = StunMessage.newTransactionId();
        StunMessage indication = new StunMessage(StunClass.INDICATION, SEND, tid, List.of(
                new StunAttribute(AttributeType.XOR_PEER_ADDRESS, StunAddress.encode(peer, true, tid)),
                new StunAttribute(AttributeType.DATA, data)));
        host.send(ByteBuffer.wrap(indication.encode(false)), server);
        if (!channels.containsKey(peer)) bind(peer);
    }

    /**
     * A datagram from the TURN server's address: ChannelData or a Data indication (a peer's
     * datagram), or a response to one of our requests. False when it is none of these (a STUN
     * server on the same address answering someone else: the caller passes it on).
     */
    public boolean onDatagram(ByteBuffer datagram) {
        if (ChannelData.looksLike(datagram)) {
            InetSocketAddress peer = byChannel.get(ChannelData.channel(datagram));
            int len = ChannelData.length(datagram);
            if (peer == null) {
                host.dropped("turn_unknown_channel");
                return true;
            }
            byte[] in = IN.get();
            if (in.length < len) IN.set(in = new byte[len]);
            datagram.get(datagram.position() + ChannelData.HEADER, in, 0, len);
            host.deliver(peer, in, len);
            return true;
        }
        if (!StunMessage.looksLikeStun(datagram)) return false;
        byte[] raw = new byte[datagram.remaining()];
        datagram.get(datagram.position(), raw);
        StunMessage m;
        try {
            m = StunMessage.parse(raw);
        } catch (StunException e) {
            return false;
        }
        if (m.messageClass() == StunClass.INDICATION && m.method() == DATA) {
            try {
                InetSocketAddress peer = m.address(AttributeType.XOR_PEER_ADDRESS);
                byte[] data = m.attribute(AttributeType.DATA);
                if (peer == null || data == null) host.dropped("malformed");
                if (peer != null && data != null) {
                    host.deliver(peer, data, data.length);
                    // A peer whose datagrams come as Data indications gets a channel: the server then
                    // sends ChannelData (4 bytes of header, no STUN message to parse per datagram).
                    if (!channels.containsKey(peer)) bind(peer);
                }
            } catch (StunException e) {
                host.dropped("malformed");
            }
            return true;
        }
        if (m.messageClass() != StunClass.SUCCESS_RESPONSE && m.messageClass() != StunClass.ERROR_RESPONSE) return false;
        return answered(m, raw);
    }

    private synchronized boolean answered(StunMessage m, byte[] raw) {
        String id = HexFormat.of().formatHex(m.transactionId());
        Pending p = pending.remove(id);
        if (p == null) return false;
        if (p.authenticated() && key != null && m.attribute(AttributeType.MESSAGE_INTEGRITY) != null
                && !StunMessage.integrityMatches(raw, raw.length, key)) {
            pending.put(id, p);                                       // not from the server that knows our key: ignored
            return true;
        }
        if (m.messageClass() == StunClass.SUCCESS_RESPONSE) {
            p.onSuccess().accept(m);
            return true;
        }
        int code = m.errorNumber();
        if ((code == 401 || code == 438) && !p.reauthenticated()) {
            byte[] r = m.attribute(AttributeType.REALM);
            byte[] n = m.attribute(AttributeType.NONCE);
            if (n != null) {
                if (r != null) realm = new String(r, StandardCharsets.UTF_8);
                nonce = new String(n, StandardCharsets.UTF_8);
                TurnCredentials c = credentials;
                key = realm == null ? null : StunMessage.longTermKey(c.username(), realm, c.password());
                send(new Pending(p.method(), p.attributes(), true, p.onSuccess(), p.onError(), 0, FIRST_RTO_MILLIS, true));
                return true;
            }
        }
        p.onError().accept(m);
        return true;
    }

    private void request(int method, List<StunAttribute> attributes, Consumer<StunMessage> onSuccess, Consumer<StunMessage> onError) {
        send(new Pending(method, attributes, key != null, onSuccess, onError, 0, FIRST_RTO_MILLIS, false));
    }

    /** Sends (or sends again) a request; the caller holds this client's lock. */
    private void send(Pending p) {
        byte[] tid = StunMessage.newTransactionId();
        List<StunAttribute> attrs = new ArrayList<>();
        for (StunAttribute a : p.attributes()) {
            // XOR-PEER-ADDRESS was encoded with a placeholder id: again with this one (it matters for IPv6).
            if (a.type() == AttributeType.XOR_PEER_ADDRESS.code) {
                try {
                    attrs.add(new StunAttribute(AttributeType.XOR_PEER_ADDRESS, StunAddress.encode(StunAddress.decode(a.value(), true, PLACEHOLDER_TID), true, tid)));
                } catch (StunException e) {
                    throw new IllegalStateException(e);
                }
            } else {
                attrs.add(a);
            }
        }
        boolean auth = key != null && nonce != null;
        if (auth) {
            attrs.add(new StunAttribute(AttributeType.USERNAME, credentials.username().getBytes(StandardCharsets.UTF_8)));
            attrs.add(new StunAttribute(AttributeType.REALM, realm.getBytes(StandardCharsets.UTF_8)));
            attrs.add(new StunAttribute(AttributeType.NONCE, nonce.getBytes(StandardCharsets.UTF_8)));
        }
        StunMessage m = new StunMessage(StunClass.REQUEST, p.method(), tid, attrs);
        byte[] wire = auth ? m.encode(true, key) : m.encode(true);
        String id = HexFormat.of().formatHex(tid);
        Pending sent = new Pending(p.method(), p.attributes(), auth, p.onSuccess(), p.onError(), p.tries() + 1, p.rto(), p.reauthenticated());
        pending.put(id, sent);
        try {
            host.send(ByteBuffer.wrap(wire), server);
        } catch (IOException e) {
            log.debug(selfId, "TURN request to " + server + " not sent: " + e.getMessage());
        }
        scheduler.schedule(p.rto(), () -> retransmit(id, wire));
    }

    private synchronized void retransmit(String id, byte[] wire) {
        Pending p = pending.get(id);
        if (p == null || closed) return;
        if (p.tries() >= TRIES) {
            pending.remove(id);
            p.onError().accept(null);
            return;
        }
        pending.put(id, new Pending(p.method(), p.attributes(), p.authenticated(), p.onSuccess(), p.onError(), p.tries() + 1, p.rto() * 2,
                p.reauthenticated()));
        try {
            host.send(ByteBuffer.wrap(wire), server);
        } catch (IOException e) {
            log.debug(selfId, "TURN request to " + server + " not sent again: " + e.getMessage());
        }
        scheduler.schedule(p.rto() * 2, () -> retransmit(id, wire));
    }

    /** Releases the allocation (a Refresh with LIFETIME 0, §7.3), without waiting for the answer. */
    @Override
    public synchronized void close() {
        if (closed) return;
        boolean had = relayed != null;
        if (had) request(REFRESH, List.of(new StunAttribute(AttributeType.LIFETIME, new byte[4])), m -> { }, m -> { });
        closed = true;
        relayed = null;
        pending.clear();
        if (had) log.info(selfId, "TURN allocation at " + holepunch.net.Addresses.text(server) + " released");
    }
}
