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
import java.nio.channels.Selector;
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

    /** The far side of a flow: the socket facing the target, and the target's text as the peer names it. */
    private record Exit(String peer, int flow, DatagramChannel channel, byte[] target) {
    }

    private final Log log = Log.of("forward");
    private final String selfId;
    private final PeerSender peers;
    private final Set<InetSocketAddress> allow;
    private final UdpSockets.Buffers buffers;
    private final List<DatagramChannel> listeners = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    /** Our side: (peer, random flow id) to its origin. Guarded by itself. */
    private final FlowTable<Origin> origins = new FlowTable<>(MAX_FLOWS);
    /** The far side: (peer, flow id) to the socket facing the target. Guarded by itself. */
    private final FlowTable<Exit> exits = new FlowTable<>(MAX_FLOWS);
    private final java.util.Map<String, Integer> exitsPerPeer = new java.util.HashMap<>();
    private final Selector exitSelector;
    private final java.util.concurrent.ConcurrentLinkedQueue<Exit> newExits = new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** Inodes of every socket that faces an application (listeners and exits), for the kernel's drops. */
    private final Set<Long> appInodes = java.util.concurrent.ConcurrentHashMap.newKeySet();
    final Drops drops;
    private final boolean batch;
    /** Per thread that delivers (the worker's reader): its held sends to far-side sockets, and whether it holds now. */
    private final ThreadLocal<UdpBatch> exitBatches = new ThreadLocal<>();
    private final ThreadLocal<DatagramChannel> exitBatchOn = new ThreadLocal<>();
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
        this.allow = Set.copyOf(targets);
        this.exitSelector = Selector.open();
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
        if (!this.allow.isEmpty()) {
            Thread t = Thread.ofPlatform().name("forward-exits").daemon(true).unstarted(this::readExits);
            threads.add(t);
            t.start();
        }
    }

    private void sized(DatagramChannel ch) throws IOException {
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
        return target != null && allow.contains(target);
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

    /** The worker's reader is about to deliver a batch: its writes to far-side sockets are held until {@link #release}. */
    void hold() {
        if (!batch || allow.isEmpty() || exitBatches.get() != null) return;
        try {
            exitBatches.set(UdpBatch.forSending(MAX_DATAGRAM + 1));
        } catch (IOException e) {
            // unbatched, as before
        }
    }

    /** Sends what this thread held for far-side sockets; what the kernel refused is counted. */
    void release() {
        UdpBatch b = exitBatches.get();
        if (b == null || b.pending() == 0) return;
        int pending = b.pending();
        int sent;
        try {
            sent = b.flush();
        } catch (IOException e) {
            sent = 0;
        }
        if (sent < pending) drops.sendBufferFull.add(pending - sent);
    }

    void forgetThread() {
        UdpBatch b = exitBatches.get();
        exitBatches.remove();
        exitBatchOn.remove();
        if (b != null) b.close();
    }

    /** Writes to a far-side socket: into this thread's held batch when it holds one, else at once. */
    private void deliver(DatagramChannel ch, byte[] buf, int off, int len) throws IOException {
        UdpBatch b = exitBatches.get();
        if (b == null) {
            if (ch.write(ByteBuffer.wrap(buf, off, len)) == 0) drops.sendBufferFull.inc();
            return;
        }
        if (exitBatchOn.get() != ch) {
            int refused = b.switchTo(ch);
            if (refused > 0) drops.sendBufferFull.add(refused);
            exitBatchOn.set(ch);
        } else if (b.full()) {
            release();
        }
        b.addConnected(buf, off, len);
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
                Exit exit;
                synchronized (exits) {
                    exit = exits.get(peer, flow);
                }
                if (exit == null || !java.util.Arrays.equals(exit.target(), 0, exit.target().length, buf, off + 7, off + 7 + tlen)) {
                    exit = openExit(peer, flow, java.util.Arrays.copyOfRange(buf, off + 7, off + 7 + tlen));
                    if (exit == null) return;
                }
                deliver(exit.channel(), buf, off + 7 + tlen, len - 7 - tlen);
            } else {
                drops.malformed.inc();
            }
        } catch (IOException e) {
            drops.sendBufferFull.inc();
            log.debug(selfId, "a forwarded datagram from " + peer + " was not delivered: " + e.getMessage());
        }
    }

    /** A new flow from {@code peer} to the target it names: checked against FORWARD_ALLOW and the caps, then its socket. */
    private Exit openExit(String peer, int flow, byte[] targetBytes) {
        String name = new String(targetBytes, StandardCharsets.UTF_8);
        InetSocketAddress target = target(name);
        if (!allowed(target)) {
            drops.notAllowed.inc();
            warnRefused(peer, name);
            return null;
        }
        synchronized (exits) {
            Exit old = exits.remove(peer, flow);         // the same flow id naming another target: the old socket goes
            if (old != null) closeExit(old);
            if (exitsPerPeer.getOrDefault(peer, 0) >= MAX_FLOWS_PER_PEER) {
                drops.flowLimit.inc();
                log.debug(selfId, peer + " holds " + MAX_FLOWS_PER_PEER + " forwarded flows already; dropped a new one");
                return null;
            }
            DatagramChannel ch;
            try {
                ch = DatagramChannel.open();
                ch.connect(target);
                sized(ch);
                ch.configureBlocking(false);
            } catch (IOException e) {
                log.warn(selfId, "cannot open a forwarding socket to " + name + ": " + e.getMessage());
                return null;
            }
            Exit exit = new Exit(peer, flow, ch, targetBytes);
            Exit evicted = exits.put(peer, flow, exit);
            if (evicted != null) closeExit(evicted);
            exitsPerPeer.merge(peer, 1, Integer::sum);
            appInodes.add(UdpSockets.inode(ch));
            newExits.add(exit);
            exitSelector.wakeup();
            return exit;
        }
    }

    private void closeExit(Exit e) {
        exitsPerPeer.computeIfPresent(e.peer(), (k, n) -> n <= 1 ? null : n - 1);
        appInodes.remove(UdpSockets.inode(e.channel()));
        try {
            e.channel().close();
        } catch (IOException ignored) {
            // closed anyway
        }
    }

    /** The far side's replies: every exit socket on one selector, sent back to the flow's peer. */
    private void readExits() {
        byte[] frame = new byte[5 + MAX_DATAGRAM + 1];
        frame[0] = FROM_TARGET;
        ByteBuffer buf = ByteBuffer.wrap(frame, 5, MAX_DATAGRAM + 1).slice();
        while (!closed) {
            try {
                exitSelector.select(1000);
                peers.hold();
                for (Exit e; (e = newExits.poll()) != null; ) {
                    if (e.channel().isOpen()) e.channel().register(exitSelector, java.nio.channels.SelectionKey.OP_READ, e);
                }
                for (java.nio.channels.SelectionKey key : exitSelector.selectedKeys()) {
                    Exit e = (Exit) key.attachment();
                    for (int i = 0; i < 64; i++) {            // at most 64 from one socket before the next
                        buf.clear();
                        int len;
                        try {
                            if (e.channel().receive(buf) == null) break;
                        } catch (IOException unreachable) {
                            break;                          // ICMP unreachable from the target: the next datagram
                        }
                        len = buf.position();
                        if (len > MAX_DATAGRAM) {
                            drops.tooLarge.inc();
                            continue;
                        }
                        frame[1] = (byte) (e.flow() >> 24);
                        frame[2] = (byte) (e.flow() >> 16);
                        frame[3] = (byte) (e.flow() >> 8);
                        frame[4] = (byte) e.flow();
                        if (!peers.send(e.peer(), frame, 0, 5 + len)) drops.noPath.inc();
                    }
                }
                exitSelector.selectedKeys().clear();
                peers.release();
            } catch (IOException | java.nio.channels.ClosedSelectorException e) {
                if (!closed) log.warn(selfId, "forwarding: reading replies failed: " + e);
                peers.forgetThread();
                return;
            }
        }
        peers.forgetThread();
    }

    /** One warning per peer and minute for refused targets: an attacker cannot flood the log. */
    private final Map<String, Long> lastRefusal = java.util.Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > MAX_FLOWS;
        }
    });

    private void warnRefused(String peer, String target) {
        long now = System.nanoTime();
        Long last = lastRefusal.get(peer);
        if (last != null && now - last < 60_000_000_000L) return;
        lastRefusal.put(peer, now);
        log.warn(selfId, peer + " asked to forward to '" + Log.excerpt(target) + "', which FORWARD_ALLOW does not name; dropped"
                + " (FORWARD_ALLOW takes exact ip:port targets; logged once a minute per peer)");
    }

    @Override
    public void close() {
        closed = true;
        for (DatagramChannel ch : listeners) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        synchronized (exits) {
            for (Exit e : exits.values()) closeExit(e);
        }
        try {
            exitSelector.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
