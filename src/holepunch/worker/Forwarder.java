package holepunch.worker;

import holepunch.config.ConfigException;
import holepunch.log.Log;
import holepunch.net.Addresses;
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
 */
final class Forwarder implements AutoCloseable {
    /** Sends an application payload to a peer over whichever path is up; false when there is none. */
    interface PeerSender {
        boolean send(String peer, byte[] payload);
    }

    record Rule(int localPort, String peer, String targetHost, int targetPort) {
        String target() {
            return targetHost + ":" + targetPort;
        }
    }

    static final byte TO_TARGET = 1, FROM_TARGET = 2;
    static final int MAX_FLOWS = 256;
    static final int MAX_FLOWS_PER_PEER = 64;
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    /** Our side of a flow: the rule's peer, the listener and the local sender to answer. */
    private record Origin(String peer, DatagramChannel listener, InetSocketAddress sender) {
    }
    static final int MAX_DATAGRAM = 1400;

    private final Log log = Log.of("forward");
    private final String selfId;
    private final PeerSender peers;
    private final Metrics metrics;
    private final Set<InetSocketAddress> allow;
    private final List<DatagramChannel> listeners = new ArrayList<>();
    /** Our side: random flow id to its origin. */
    private final Map<Integer, Origin> origins = java.util.Collections.synchronizedMap(lru());
    /** The far side: "peer/flow" to the socket facing the target. */
    private final Map<String, DatagramChannel> exits = java.util.Collections.synchronizedMap(lru());
    private volatile boolean closed;

    private static <K, V> LinkedHashMap<K, V> lru() {
        return new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
                if (size() <= MAX_FLOWS) return false;
                if (eldest.getValue() instanceof DatagramChannel ch) {
                    try {
                        ch.close();
                    } catch (IOException ignored) {
                        // evicted anyway
                    }
                }
                return true;
            }
        };
    }

    Forwarder(String selfId, PeerSender peers, List<Rule> rules, List<String> allow, Metrics metrics) throws IOException {
        this.selfId = selfId;
        this.peers = peers;
        this.metrics = metrics;
        Set<InetSocketAddress> targets = new java.util.HashSet<>();
        for (String a : allow) targets.add(target(a));
        this.allow = Set.copyOf(targets);
        for (Rule r : rules) {
            DatagramChannel ch = DatagramChannel.open();
            try {
                ch.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), r.localPort()));
            } catch (IOException e) {
                ch.close();
                close();
                throw holepunch.config.ConfigException.cannotBind("UDP", "127.0.0.1", r.localPort(), "FORWARD", e);
            }
            listeners.add(ch);
            Thread.ofVirtual().name("forward-" + r.localPort()).start(() -> listen(ch, r));
            log.info(selfId, "forwarding UDP 127.0.0.1:" + r.localPort() + " to " + r.target() + " at " + r.peer());
        }
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
        ByteBuffer buf = ByteBuffer.allocate(MAX_DATAGRAM + 1);
        Map<InetSocketAddress, Integer> flows = new LinkedHashMap<>();
        byte[] target = rule.target().getBytes(StandardCharsets.UTF_8);
        while (!closed) {
            try {
                buf.clear();
                InetSocketAddress from = (InetSocketAddress) ch.receive(buf);
                if (buf.position() > MAX_DATAGRAM) {
                    log.warn(selfId, "dropped a datagram over " + MAX_DATAGRAM + " bytes on forwarding port " + rule.localPort());
                    continue;
                }
                Integer flow = flows.get(from);
                if (flow == null || !origins.containsKey(flow)) {
                    flow = newFlow(new Origin(rule.peer(), ch, from));
                    flows.put(from, flow);
                    if (flows.size() > MAX_FLOWS) flows.remove(flows.keySet().iterator().next());
                }
                ByteBuffer out = ByteBuffer.allocate(7 + target.length + buf.position());
                out.put(TO_TARGET).putInt(flow).putShort((short) target.length).put(target).put(buf.array(), 0, buf.position());
                if (!peers.send(rule.peer(), out.array())) {
                    log.debug(selfId, "no path to " + rule.peer() + " yet; dropped a forwarded datagram");
                }
            } catch (IOException e) {
                if (!closed) log.warn(selfId, "forwarding port " + rule.localPort() + ": " + e.getMessage());
                return;
            }
        }
    }

    /** A fresh random flow id for {@code origin} (unguessable, so no other peer can name it). */
    private int newFlow(Origin origin) {
        synchronized (origins) {
            int id;
            do {
                id = RANDOM.nextInt();
            } while (origins.containsKey(id));
            origins.put(id, origin);
            return id;
        }
    }

    /** A payload from a peer (any path). */
    void onData(String peer, byte[] payload) {
        try {
            ByteBuffer b = ByteBuffer.wrap(payload);
            byte kind = b.get();
            int flow = b.getInt();
            if (kind == FROM_TARGET) {
                Origin origin = origins.get(flow);
                if (origin == null || !origin.peer().equals(peer)) {
                    metrics.inc("holepunch_worker_dropped_total", "reason", "foreign_flow");
                    log.debug(selfId, "dropped a reply from " + peer + " for a flow it does not own");
                    return;
                }
                origin.listener().send(b.slice(), origin.sender());
            } else if (kind == TO_TARGET) {
                byte[] t = new byte[b.getShort() & 0xFFFF];
                b.get(t);
                String name = new String(t, StandardCharsets.UTF_8);
                InetSocketAddress target = target(name);
                if (!allowed(target)) {
                    metrics.inc("holepunch_worker_dropped_total", "reason", "forward_not_allowed");
                    warnRefused(peer, name);
                    return;
                }
                String key = peer + "/" + flow;
                DatagramChannel exit = exits.get(key);
                if (exit == null) {
                    if (flowsOf(peer) >= MAX_FLOWS_PER_PEER) {
                        log.debug(selfId, peer + " holds " + MAX_FLOWS_PER_PEER + " forwarded flows already; dropped a new one");
                        return;
                    }
                    exit = exits.computeIfAbsent(key, k -> openExit(peer, flow, target));
                }
                if (exit != null) exit.write(b.slice());
            }
        } catch (IOException | RuntimeException e) {
            log.debug(selfId, "dropped a malformed forwarding payload from " + peer + ": " + e);
        }
    }

    private int flowsOf(String peer) {
        String prefix = peer + "/";
        synchronized (exits) {
            int n = 0;
            for (String k : exits.keySet()) if (k.startsWith(prefix)) n++;
            return n;
        }
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

    private DatagramChannel openExit(String peer, int flow, InetSocketAddress target) {
        String host = target.getAddress().getHostAddress();
        int port = target.getPort();
        try {
            DatagramChannel ch = DatagramChannel.open();
            ch.connect(target);
            Thread.ofVirtual().name("forward-exit-" + flow).start(() -> {
                ByteBuffer buf = ByteBuffer.allocate(MAX_DATAGRAM);
                while (ch.isOpen() && !closed) {
                    try {
                        buf.clear();
                        ch.receive(buf);
                        ByteBuffer back = ByteBuffer.allocate(5 + buf.position());
                        back.put(FROM_TARGET).putInt(flow).put(buf.array(), 0, buf.position());
                        peers.send(peer, back.array());
                    } catch (IOException e) {
                        return;    // closed, or the target is unreachable
                    }
                }
            });
            return ch;
        } catch (IOException e) {
            log.warn(selfId, "cannot open a forwarding socket to " + host + ":" + port + ": " + e.getMessage());
            return null;
        }
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
            for (DatagramChannel ch : exits.values()) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }
    }
}
