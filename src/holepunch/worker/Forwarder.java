package holepunch.worker;

import holepunch.config.ConfigException;
import holepunch.log.Log;
import holepunch.net.Addresses;
import holepunch.peer.Peers;

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
import java.util.concurrent.atomic.AtomicInteger;

/**
 * UDP forwarding over a peer path (FORWARD, FORWARD_ALLOW). A rule {@code 5000=peer:host:port}
 * listens on 127.0.0.1:5000; each local sender becomes a flow whose datagrams the peer's worker
 * sends on to host:port from a socket of its own, the replies coming back the same way, over
 * whichever path is up (direct or relay). A worker delivers only to targets FORWARD_ALLOW permits.
 *
 * <pre>
 * payload to the peer:   1 (to target)   | flow id (32 bits) | target length (16 bits) | "host:port" | data
 * payload back:          2 (from target) | flow id (32 bits) | data
 * </pre>
 */
final class Forwarder implements AutoCloseable {
    record Rule(int localPort, String peer, String targetHost, int targetPort) {
        String target() {
            return targetHost + ":" + targetPort;
        }
    }

    static final byte TO_TARGET = 1, FROM_TARGET = 2;
    static final int MAX_FLOWS = 256;
    static final int MAX_DATAGRAM = 1400;

    private final Log log = Log.of("forward");
    private final String selfId;
    private final Peers peers;
    private final List<String> allow;
    private final List<DatagramChannel> listeners = new ArrayList<>();
    private final AtomicInteger nextFlow = new AtomicInteger(1);
    /** Our side: flow id to (listener, local sender). */
    private final Map<Integer, Object[]> origins = java.util.Collections.synchronizedMap(lru());
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

    Forwarder(String selfId, Peers peers, List<Rule> rules, List<String> allow) throws IOException {
        this.selfId = selfId;
        this.peers = peers;
        this.allow = allow;
        for (Rule r : rules) {
            DatagramChannel ch = DatagramChannel.open();
            try {
                ch.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), r.localPort()));
            } catch (IOException e) {
                ch.close();
                throw new IOException("cannot bind forwarding port 127.0.0.1:" + r.localPort() + " (FORWARD): " + e.getMessage(), e);
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

    /** {@code FORWARD_ALLOW}: comma-separated {@code ip} or {@code ip:port} targets this worker delivers to. */
    static List<String> parseAllow(String spec) {
        List<String> out = new ArrayList<>();
        for (String item : spec.split(",")) {
            String s = item.trim();
            if (s.isEmpty()) continue;
            String host = s.contains(":") ? s.substring(0, s.lastIndexOf(':')) : s;
            if (!Addresses.isIpLiteral(host)) throw new ConfigException("FORWARD_ALLOW entries must be ip or ip:port, got '" + s + "'");
            out.add(s);
        }
        return List.copyOf(out);
    }

    boolean allowed(String host, int port) {
        return allow.contains(host) || allow.contains(host + ":" + port);
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
                if (flow == null) {
                    flow = nextFlow.getAndIncrement();
                    flows.put(from, flow);
                    if (flows.size() > MAX_FLOWS) flows.remove(flows.keySet().iterator().next());
                    origins.put(flow, new Object[] {ch, from});
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

    /** A payload from a peer (any path). */
    void onData(String peer, byte[] payload) {
        try {
            ByteBuffer b = ByteBuffer.wrap(payload);
            byte kind = b.get();
            int flow = b.getInt();
            if (kind == FROM_TARGET) {
                Object[] origin = origins.get(flow);
                if (origin == null) return;
                ((DatagramChannel) origin[0]).send(b.slice(), (InetSocketAddress) origin[1]);
            } else if (kind == TO_TARGET) {
                byte[] t = new byte[b.getShort() & 0xFFFF];
                b.get(t);
                String target = new String(t, StandardCharsets.UTF_8);
                int colon = target.lastIndexOf(':');
                String host = target.substring(0, colon);
                int port = Integer.parseInt(target.substring(colon + 1));
                if (!allowed(host, port)) {
                    log.warn(selfId, peer + " asked to forward to " + target + ", which FORWARD_ALLOW does not permit; dropped");
                    return;
                }
                DatagramChannel exit = exits.computeIfAbsent(peer + "/" + flow, k -> openExit(peer, flow, host, port));
                if (exit != null) exit.write(b.slice());
            }
        } catch (IOException | RuntimeException e) {
            log.debug(selfId, "dropped a malformed forwarding payload from " + peer + ": " + e);
        }
    }

    private DatagramChannel openExit(String peer, int flow, String host, int port) {
        try {
            InetAddress ip = Addresses.literal(host);
            if (ip == null) return null;
            DatagramChannel ch = DatagramChannel.open();
            ch.connect(new InetSocketAddress(ip, port));
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
