package holepunch.worker;

import holepunch.config.ConfigException;
import holepunch.log.Log;
import holepunch.net.Addresses;
import holepunch.net.UdpBatch;
import holepunch.net.UdpSockets;
import holepunch.metrics.Metrics;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * UDP forwarding over a peer path (FORWARD, FORWARD_ALLOW). A rule {@code 5000=peer:host:port}
 * listens on 127.0.0.1:5000; each local sender becomes a flow whose datagrams the peer's worker
 * sends on to host:port from a socket of its own, the replies coming back the same way, over
 * whichever path is up (direct or relay).
 *
 * <p>Trust: a worker delivers only to the exact {@code ip:port} targets FORWARD_ALLOW names (none
 * by default), and only for peers it accepts at all (P2P_ALLOW: others never get a path). Flow ids
 * are random and a flow is its peer's: replies are taken only from the peer the flow was sent to,
 * and far-side flows are keyed by (peer, flow), at most {@value #MAX_FLOWS_PER_PEER} a peer and
 * {@value #MAX_FLOWS} in all.
 *
 * <pre>
 * payload to the peer:   1 (to target)   | flow id (32 bits) | target length (16 bits) | "host:port" | data
 * payload back:          2 (from target) | flow id (32 bits) | data
 * </pre>
 *
 * <p>The data plane: each rule's listener has a platform thread of its own, and one more thread
 * reads every far-side socket (a selector), so that neither side waits on the other or on the
 * worker's peer socket. A datagram costs no allocation of ours on either side (the buffers are the
 * thread's; a flow's target is parsed once, then compared byte for byte), and every one dropped is
 * counted in {@code holepunch_worker_dropped_total} with its reason; the kernel's drops at the
 * sockets' receive buffers are read from {@code /proc/net/udp} ({@link UdpSockets}). Application
 * datagrams of up to {@value #MAX_DATAGRAM} bytes are carried; a larger one is dropped whole
 * ({@code too_large}), never cut.
 */
final class Forwarder implements AutoCloseable {
    /** Sends an application payload ({@code buf[off, off + len)}) to a peer over whichever path is up; false when there is none. */
    interface PeerSender {
        boolean send(String peer, byte[] buf, int off, int len);

        /** This thread's sends to peers are held until {@link #release} and leave together. */
        default void hold() {
        }

        default void release() {
        }

        /** This thread sends no more: what it held for batches is freed. */
        default void forgetThread() {
        }
    }

    record Rule(int localPort, String peer, String targetHost, int targetPort) {
        String target() {
            return targetHost + ":" + targetPort;
        }
    }

    static final byte TO_TARGET = 1, FROM_TARGET = 2;
    static final int MAX_FLOWS = 256;
    static final int MAX_FLOWS_PER_PEER = 64;
    /** The largest application datagram carried: with its 58 bytes of headers and tag it fits a 1,500-byte IPv4 path unfragmented. */
    static final int MAX_DATAGRAM = 1400;
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    /** Our side of a flow: the rule's peer, the listener and the local sender to answer. */
    private record Origin(String peer, DatagramChannel listener, InetSocketAddress sender) {
    }

    private final Log log = Log.of("forward");
    private final String selfId;
    private final PeerSender peers;
    private final UdpSockets.Buffers buffers;
    private final List<DatagramChannel> listeners = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    /** Our side: (peer, random flow id) to its origin. Guarded by itself. */
    private final FlowTable<Origin> origins = new FlowTable<>(MAX_FLOWS);
    /** The far side (FORWARD_ALLOW's targets); null when it names none. */
    private final ForwardExits exits;
    /** Inodes of every socket that faces an application (listeners and exits), for the kernel's drops. */
    private final Set<Long> appInodes = java.util.concurrent.ConcurrentHashMap.newKeySet();
    final Drops drops;
    private final boolean batch;
    private volatile boolean closed;

    /** The reasons a forwarded datagram is dropped, each counted where it happens. */
    static final class Drops {
        final Metrics.Counter tooLarge, noPath, notAllowed, foreignFlow, flowLimit, sendBufferFull, malformed;

        Drops(Metrics m) {
            String n = "holepunch_worker_dropped_total";
            tooLarge = m.counter(n, "reason", "too_large");
            noPath = m.counter(n, "reason", "no_path");
            notAllowed = m.counter(n, "reason", "forward_not_allowed");
            foreignFlow = m.counter(n, "reason", "foreign_flow");
            flowLimit = m.counter(n, "reason", "flow_limit");
            sendBufferFull = m.counter(n, "reason", "send_buffer_full");
            malformed = m.counter(n, "reason", "malformed");
        }
    }

    Forwarder(String selfId, PeerSender peers, List<Rule> rules, List<String> allow, Metrics metrics) throws IOException {
        this(selfId, peers, rules, allow, metrics, new UdpSockets.Buffers(1 << 20, 1 << 20), true);
    }

    /** {@code batch}: batched system calls where the platform has them ({@link UdpBatch}; UDP_BATCH). */
    Forwarder(String selfId, PeerSender peers, List<Rule> rules, List<String> allow, Metrics metrics, UdpSockets.Buffers buffers,
              boolean batch) throws IOException {
        this.selfId = selfId;
        this.peers = peers;
        this.buffers = buffers;
        this.batch = batch && UdpBatch.unavailable() == null;
        this.drops = new Drops(metrics);
        Set<InetSocketAddress> targets = new java.util.HashSet<>();
        for (String a : allow) targets.add(target(a));
        this.exits = targets.isEmpty() ? null : new ForwardExits(selfId, peers, Set.copyOf(targets), drops, this::sized, this.batch, appInodes);
        for (Rule r : rules) {
            DatagramChannel ch = DatagramChannel.open();
            try {
                ch.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), r.localPort()));
                sized(ch);
            } catch (IOException e) {
                ch.close();
                close();
                throw holepunch.config.ConfigException.cannotBind("UDP", "127.0.0.1", r.localPort(), "FORWARD", e);
            }
            listeners.add(ch);
            appInodes.add(UdpSockets.inode(ch));
            Thread t = Thread.ofPlatform().name("forward-" + r.localPort()).daemon(true).unstarted(() -> listen(ch, r));
            threads.add(t);
            t.start();
            log.info(selfId, "forwarding UDP 127.0.0.1:" + r.localPort() + " to " + r.target() + " at " + r.peer());
        }
    }

    void sized(DatagramChannel ch) throws IOException {
        String cut = UdpSockets.size(ch, buffers);
        if (cut != null) Worker.kernelCut(selfId, cut);
    }

    /** Datagrams the kernel dropped because a socket facing an application (a listener or a far-side socket) was full. */
    long appSocketOverflows() {
        return UdpSockets.drops(appInodes);
    }

    /** {@code FORWARD}: comma-separated {@code localPort=peer:host:port}. */
    static List<Rule> parseRules(String spec) {
        List<Rule> rules = new ArrayList<>();
        for (String item : spec.split(",")) {
            String s = item.trim();
            if (s.isEmpty()) continue;
            String[] lr = s.split("=", 2);
            String[] parts = lr.length == 2 ? lr[1].split(":") : new String[0];
            try {
                if (parts.length != 3) throw new IllegalArgumentException();
                int local = Integer.parseInt(lr[0].trim());
                int port = Integer.parseInt(parts[2]);
                if (local < 1 || local > 65535 || port < 1 || port > 65535 || parts[0].isBlank() || parts[1].isBlank()) {
                    throw new IllegalArgumentException();
                }
                rules.add(new Rule(local, parts[0].trim(), parts[1].trim(), port));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("FORWARD entries must be localPort=peer_id:host:port (e.g. 5000=worker-b:127.0.0.1:7000), got '" + s + "'");
            }
        }
        return List.copyOf(rules);
    }

    /**
     * {@code FORWARD_ALLOW}: comma-separated exact {@code ip:port} targets ({@code [v6]:port}) this
     * worker delivers forwarded traffic to. A bare ip is refused: it used to allow every port.
     */
    static List<String> parseAllow(String spec) {
        List<String> out = new ArrayList<>();
        for (String item : spec.split(",")) {
            String s = item.trim();
            if (s.isEmpty()) continue;
            if (target(s) == null) {
                throw new ConfigException("FORWARD_ALLOW entries must each name one exact target as ip:port (e.g. 127.0.0.1:7000);"
                        + " a bare address no longer opens every port. Got '" + s + "'");
            }
            out.add(s);
        }
        return List.copyOf(out);
    }

    /** "ip:port" or "[v6]:port" as an address, or null; never a DNS lookup. */
    static InetSocketAddress target(String s) {
        return Addresses.hostPort(s);
    }

    boolean allowed(InetSocketAddress target) {
        return exits != null && exits.allowed(target);
    }

    /** The worker's reader is about to deliver a batch: its writes to far-side sockets are held until {@link #release}. */
    void hold() {
        if (exits != null) exits.hold();
    }

    /** Sends what this thread held for far-side sockets. */
    void release() {
        if (exits != null) exits.release();
    }

    /** This thread delivers no more: its batch is freed. */
    void forgetThread() {
        if (exits != null) exits.forgetThread();
    }

    private void listen(DatagramChannel ch, Rule rule) {
        byte[] target = rule.target().getBytes(StandardCharsets.UTF_8);
        int head = 7 + target.length;
        byte[] frame = new byte[head + MAX_DATAGRAM + 1];     // one byte more: a datagram that fills it was too large
        frame[0] = TO_TARGET;
        frame[5] = (byte) (target.length >> 8);
        frame[6] = (byte) target.length;
        System.arraycopy(target, 0, frame, 7, target.length);
        ByteBuffer buf = ByteBuffer.wrap(frame, head, MAX_DATAGRAM + 1).slice();
        Map<InetSocketAddress, Integer> flows = new LinkedHashMap<>();
        InetSocketAddress lastFrom = null;
        int lastFlow = 0;
        UdpBatch in = null;
        try {
            if (batch) in = UdpBatch.open(ch, MAX_DATAGRAM + 1);
        } catch (IOException e) {
            log.info(selfId, "forwarding port " + rule.localPort() + " reads one datagram per call: " + e.getMessage());
        }
        try {
            while (!closed) {
                int n = 1;
                if (in != null) {
                    n = in.receive();
                    peers.hold();
                }
                try {
                    for (int i = 0; i < n; i++) {
                        InetSocketAddress from;
                        int len;
                        if (in == null) {
                            buf.clear();
                            from = (InetSocketAddress) ch.receive(buf);
                            len = buf.position();
                        } else {
                            from = in.source(i);
                            len = in.length(i);
                            if (len <= MAX_DATAGRAM) in.copy(i, frame, head);
                        }
                        if (len > MAX_DATAGRAM) {
                            drops.tooLarge.inc();
                            continue;
                        }
                        int flow;
                        if (from.equals(lastFrom) && originIs(rule.peer(), lastFlow, from)) {
                            flow = lastFlow;                   // the common case: the same sender as before
                        } else {
                            Integer known = flows.get(from);
                            if (known == null || !originIs(rule.peer(), known, from)) {
                                known = newFlow(new Origin(rule.peer(), ch, from));
                                flows.put(from, known);
                                if (flows.size() > MAX_FLOWS) flows.remove(flows.keySet().iterator().next());
                            }
                            flow = known;
                            lastFrom = from;
                            lastFlow = flow;
                        }
                        frame[1] = (byte) (flow >> 24);
                        frame[2] = (byte) (flow >> 16);
                        frame[3] = (byte) (flow >> 8);
                        frame[4] = (byte) flow;
                        if (!peers.send(rule.peer(), frame, 0, head + len)) drops.noPath.inc();
                    }
                } finally {
                    if (in != null) peers.release();
                }
            }
        } catch (IOException e) {
            if (!closed) log.warn(selfId, "forwarding port " + rule.localPort() + ": " + e.getMessage());
        } finally {
            peers.forgetThread();
            if (in != null) in.close();
        }
    }

    private boolean originIs(String peer, int flow, InetSocketAddress from) {
        synchronized (origins) {
            Origin o = origins.get(peer, flow);
            return o != null && o.sender().equals(from);
        }
    }

    /** A fresh random flow id for {@code origin} (unguessable, so no other peer can name it). */
    private int newFlow(Origin origin) {
        synchronized (origins) {
            int id;
            do {
                id = RANDOM.nextInt();
            } while (origins.contains(origin.peer(), id));
            origins.put(origin.peer(), id, origin);
            return id;
        }
    }

    /** A payload from a peer (any path): {@code buf[off, off + len)}, valid during the call only. */
    void onData(String peer, byte[] buf, int off, int len) {
        if (len < 5) {
            drops.malformed.inc();
            return;
        }
        byte kind = buf[off];
        int flow = (buf[off + 1] & 0xFF) << 24 | (buf[off + 2] & 0xFF) << 16 | (buf[off + 3] & 0xFF) << 8 | (buf[off + 4] & 0xFF);
        try {
            if (kind == FROM_TARGET) {
                Origin origin;
                synchronized (origins) {
                    origin = origins.get(peer, flow);
                }
                if (origin == null) {
                    drops.foreignFlow.inc();            // not a flow of ours with this peer: another peer cannot name it
                    return;
                }
                origin.listener().send(ByteBuffer.wrap(buf, off + 5, len - 5), origin.sender());
            } else if (kind == TO_TARGET && len >= 7) {
                int tlen = (buf[off + 5] & 0xFF) << 8 | (buf[off + 6] & 0xFF);
                if (7 + tlen > len) {
                    drops.malformed.inc();
                    return;
                }
                if (exits == null) {
                    drops.notAllowed.inc();             // FORWARD_ALLOW names nothing: this worker delivers nowhere
                    return;
                }
                exits.deliver(peer, flow, buf, off + 7, tlen, len - 7 - tlen);
            } else {
                drops.malformed.inc();
            }
        } catch (IOException e) {
            drops.sendBufferFull.inc();
            log.debug(selfId, "a forwarded datagram from " + peer + " was not delivered: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        closed = true;
        // A batched listener waits in a call the JDK does not know of (recvmmsg, poll): the channel is
        // closed once it has seen `closed` and left, so that no later socket given the same descriptor
        // number has its datagrams read by it. (Unbatched ones leave when their channel closes.)
        if (batch) Worker.joinQuietly(threads, 2L * UdpBatch.RECEIVE_WAIT_MILLIS + 200);
        for (DatagramChannel ch : listeners) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        if (exits != null) exits.close();
    }
}
