package holepunch.portmap;

import holepunch.log.Log;
import holepunch.net.Addresses;
import holepunch.timer.Scheduler;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Maps the worker's UDP port on its gateway (PORT_MAPPING): PCP (RFC 6887), then NAT-PMP
 * (RFC 6886), then UPnP IGD, the first that succeeds; renews at half the lifetime, and deletes the
 * mapping on {@link #close}. The mapped endpoint is one more candidate for peers: through it, even
 * a NAT that maps per destination lets a peer in. Every exchange is bounded in time (NAT-PMP's and
 * PCP's retransmissions at 250, 500 and 1000 ms, UPnP's within {@link #UPNP_TIMEOUT}); a failure
 * is one log line naming each protocol's reason, and the worker goes on punching without it.
 */
public final class PortMapper implements AutoCloseable {
    public enum Protocol {
        PCP("pcp"), NAT_PMP("nat-pmp"), UPNP("upnp");

        public final String wire;

        Protocol(String wire) {
            this.wire = wire;
        }

        public static Protocol ofWire(String s) {
            for (Protocol p : values()) if (p.wire.equals(s)) return p;
            return null;
        }
    }

    /** A mapping the gateway granted: the endpoint peers reach us at, for {@code lifetimeSeconds} (0: until deleted). */
    public record Mapping(Protocol protocol, InetSocketAddress external, long lifetimeSeconds, InetAddress gateway) {
    }

    /** Told each new or changed mapping, and null when it is gone. */
    public interface Listener {
        void mapped(Mapping mapping);
    }

    static final long LIFETIME_SECONDS = 7200;          // RFC 6886 §3.3 recommends two hours
    static final long UPNP_LEASE_SECONDS = 3600;
    static final long[] RETRANSMIT_MILLIS = {250, 500, 1000};
    static final Duration UPNP_TIMEOUT = Duration.ofSeconds(2);
    static final long RETRY_MILLIS = 5 * 60_000;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Log log = Log.of("portmap");
    private final String workerId;
    private final List<Protocol> protocols;
    private final int internalPort;
    private final Scheduler scheduler;
    private final Listener listener;
    private final byte[] nonce = new byte[12];
    private final Object lock = new Object();
    private volatile Mapping mapping;
    private volatile String lastError;
    private Upnp.Service upnpService;
    private InetAddress client;
    private Scheduler.Handle next;
    private boolean closed;

    public PortMapper(String workerId, List<Protocol> protocols, int internalPort, Scheduler scheduler, Listener listener) {
        this.workerId = workerId;
        this.protocols = List.copyOf(protocols);
        this.internalPort = internalPort;
        this.scheduler = scheduler;
        this.listener = listener;
        RANDOM.nextBytes(nonce);
    }

    /** Starts mapping in the background. */
    public void start() {
        Thread.ofVirtual().name("portmap").start(this::attempt);
    }

    public Mapping mapping() {
        return mapping;
    }

    /** For {@code /status}: the mapping, or why there is none. */
    public Map<String, Object> status() {
        Map<String, Object> s = new LinkedHashMap<>();
        Mapping m = mapping;
        s.put("protocol", m == null ? null : m.protocol().wire);
        s.put("external", m == null ? null : Addresses.text(m.external()));
        s.put("lifetime_sec", m == null ? null : m.lifetimeSeconds());
        s.put("error", m == null ? lastError : null);
        return s;
    }

    private void attempt() {
        InetAddress gateway = Gateway.find();
        List<String> problems = new ArrayList<>();
        Mapping found = null;
        if (gateway == null) {
            problems.add("no IPv4 default gateway in " + Gateway.ROUTES);
        } else {
            for (Protocol p : protocols) {
                synchronized (lock) {
                    if (closed) return;
                }
                try {
                    found = map(p, gateway, internalPort);
                    break;
                } catch (PortMapException e) {
                    problems.add(e.getMessage());
                } catch (IOException e) {
                    problems.add(p.wire + ": " + e.getMessage());
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
        synchronized (lock) {
            if (closed) {
                if (found != null) delete(found);
                return;
            }
            if (found == null) {
                lastError = String.join("; ", problems);
                log.info(workerId, "port mapping: none (" + lastError + "); peers reach us by hole punching alone; trying again in "
                        + RETRY_MILLIS / 1000 + " s");
                if (mapping != null) {
                    mapping = null;
                    listener.mapped(null);
                }
                next = scheduler.schedule(RETRY_MILLIS, () -> Thread.ofVirtual().start(this::attempt));
                return;
            }
            boolean changed = !found.equals(mapping);
            mapping = found;
            lastError = null;
            if (changed) {
                log.info(workerId, "port mapping: " + found.protocol().wire + " on gateway " + Addresses.text(found.gateway()) + " maps "
                        + Addresses.text(found.external()) + " to our UDP port " + internalPort + " for " + found.lifetimeSeconds() + " s");
            }
            long renewIn = Math.max(30, found.lifetimeSeconds() / 2) * 1000;
            next = scheduler.schedule(renewIn, () -> Thread.ofVirtual().start(this::attempt));
            if (changed) listener.mapped(found);
        }
    }

    /** One protocol's mapping request (a renewal suggests the current external port). */
    private Mapping map(Protocol p, InetAddress gateway, int port) throws IOException, PortMapException, InterruptedException {
        Mapping current = mapping;
        int suggested = current != null && current.protocol() == p ? current.external().getPort() : port;
        return switch (p) {
            case PCP -> pcp(gateway, port, suggested, LIFETIME_SECONDS);
            case NAT_PMP -> natPmp(gateway, port, suggested, LIFETIME_SECONDS);
            case UPNP -> upnp(gateway, port, suggested);
        };
    }

    private Mapping pcp(InetAddress gateway, int port, int suggested, long lifetime) throws IOException, PortMapException {
        try (DatagramSocket s = new DatagramSocket()) {
            s.connect(gateway, Pcp.PORT);
            InetAddress self = s.getLocalAddress();
            byte[] answer = exchange(s, Pcp.mapRequest(self, nonce, port, suggested, lifetime), "PCP");
            Pcp.MapResponse r = Pcp.parseMapResponse(answer, answer.length);
            if (r.result() != 0) throw new PortMapException("PCP: gateway " + Addresses.text(gateway) + " answered " + Pcp.describe(r.result()));
            if (!java.util.Arrays.equals(r.nonce(), nonce) || r.internalPort() != port) {
                throw new PortMapException("PCP: the answer is for another mapping (nonce or port differs)");
            }
            client = self;
            return new Mapping(Protocol.PCP, usable(new InetSocketAddress(r.externalAddress(), r.externalPort()), "PCP"), r.lifetimeSeconds(), gateway);
        }
    }

    private Mapping natPmp(InetAddress gateway, int port, int suggested, long lifetime) throws IOException, PortMapException {
        try (DatagramSocket s = new DatagramSocket()) {
            s.connect(gateway, NatPmp.PORT);
            byte[] a = exchange(s, NatPmp.externalAddressRequest(), "NAT-PMP");
            NatPmp.ExternalAddress ext = NatPmp.parseExternalAddress(a, a.length);
            if (ext.result() != 0) throw new PortMapException("NAT-PMP: external address: " + NatPmp.describe(ext.result()));
            byte[] b = exchange(s, NatPmp.mapRequest(port, suggested, lifetime), "NAT-PMP");
            NatPmp.Mapped m = NatPmp.parseMapped(b, b.length);
            if (m.result() != 0) throw new PortMapException("NAT-PMP: gateway " + Addresses.text(gateway) + " answered " + NatPmp.describe(m.result()));
            if (m.internalPort() != port) throw new PortMapException("NAT-PMP: the answer is for port " + m.internalPort());
            return new Mapping(Protocol.NAT_PMP, usable(new InetSocketAddress(ext.address(), m.externalPort()), "NAT-PMP"), m.lifetimeSeconds(), gateway);
        }
    }

    private Mapping upnp(InetAddress gateway, int port, int suggested) throws IOException, PortMapException, InterruptedException {
        Upnp u = new Upnp(UPNP_TIMEOUT);
        Upnp.Service service = upnpService;
        if (service == null) {
            URI location = u.discover(gateway);
            service = u.service(location);
        }
        InetAddress self;
        try (DatagramSocket s = new DatagramSocket()) {
            s.connect(gateway, 1900);
            self = s.getLocalAddress();
        }
        long lease = UPNP_LEASE_SECONDS;
        int external = suggested;
        for (int tries = 0; ; tries++) {
            try {
                u.add(service, external, self, port, lease);
                break;
            } catch (Upnp.Fault f) {
                if (f.code == 725 && lease != 0) {
                    lease = 0;                                  // OnlyPermanentLeasesSupported: deleted on close instead
                } else if (f.code == 718 && tries < 3) {
                    external = 1024 + RANDOM.nextInt(64_512);   // ConflictInMappingEntry: another port
                } else {
                    throw f;
                }
            }
        }
        upnpService = service;
        client = self;
        InetAddress ip = Addresses.literal(u.externalAddress(service));
        if (ip == null) throw new PortMapException("UPnP: GetExternalIPAddress gave no IP address");
        return new Mapping(Protocol.UPNP, usable(new InetSocketAddress(ip, external), "UPnP"), lease == 0 ? 0 : lease, gateway);
    }

    /**
     * An external endpoint peers can be told. A documentation or other reserved range is a
     * lab's public address and is taken; only the unspecified address and port 0 are refused.
     */
    private static InetSocketAddress usable(InetSocketAddress a, String protocol) throws PortMapException {
        if (a.getAddress() == null || a.getAddress().isAnyLocalAddress() || a.getPort() == 0) {
            throw new PortMapException(protocol + ": the gateway granted no usable external endpoint (" + a + ")");
        }
        return a;
    }

    /** Sends {@code request} and waits for an answer, retransmitting at 250, 500 and 1000 ms (RFC 6886 §3.1's schedule, cut short). */
    private static byte[] exchange(DatagramSocket s, byte[] request, String protocol) throws IOException, PortMapException {
        byte[] buf = new byte[Pcp.MAX_SIZE];
        for (long wait : RETRANSMIT_MILLIS) {
            s.send(new DatagramPacket(request, request.length));
            s.setSoTimeout((int) wait);
            try {
                DatagramPacket in = new DatagramPacket(buf, buf.length);
                s.receive(in);
                return java.util.Arrays.copyOf(buf, in.getLength());
            } catch (SocketTimeoutException e) {
                // again, waiting twice as long
            } catch (java.net.PortUnreachableException e) {
                throw new PortMapException(protocol + ": the gateway does not listen on port " + s.getPort());
            }
        }
        long total = 0;
        for (long w : RETRANSMIT_MILLIS) total += w;
        throw new PortMapException(protocol + ": no answer from " + Addresses.text(s.getInetAddress()) + " within " + total + " ms");
    }

    /** Deletes the mapping (RFC 6886 §3.4, RFC 6887 §15: lifetime 0; UPnP DeletePortMapping), within about a second. */
    private void delete(Mapping m) {
        try {
            switch (m.protocol()) {
                case PCP -> {
                    try (DatagramSocket s = new DatagramSocket()) {
                        s.connect(m.gateway(), Pcp.PORT);
                        exchange(s, Pcp.mapRequest(client, nonce, internalPort, 0, 0), "PCP");
                    }
                }
                case NAT_PMP -> {
                    try (DatagramSocket s = new DatagramSocket()) {
                        s.connect(m.gateway(), NatPmp.PORT);
                        exchange(s, NatPmp.mapRequest(internalPort, 0, 0), "NAT-PMP");
                    }
                }
                case UPNP -> new Upnp(Duration.ofSeconds(1)).delete(upnpService, m.external().getPort());
            }
            log.info(workerId, "port mapping: deleted " + Addresses.text(m.external()) + " (" + m.protocol().wire + ")");
        } catch (Exception e) {
            log.warn(workerId, "port mapping: could not delete " + Addresses.text(m.external()) + " (" + m.protocol().wire + "): " + e.getMessage()
                    + "; it expires by itself");
        }
    }

    /** Which of the protocols the gateway answers (for {@code worker --netcheck}); each asked once, briefly. */
    public static List<String> probe(InetAddress gateway) {
        List<String> found = new ArrayList<>();
        if (gateway == null) return found;
        try (DatagramSocket s = new DatagramSocket()) {
            s.connect(gateway, Pcp.PORT);
            byte[] announce = java.nio.ByteBuffer.allocate(24).put((byte) Pcp.VERSION).put((byte) 0).putShort((short) 0).putInt(0)
                    .put(Pcp.mapped(s.getLocalAddress())).array();           // RFC 6887 §14.1 ANNOUNCE
            byte[] b = exchange(s, announce, "PCP");
            if (b.length >= 4 && (b[0] & 0xFF) == Pcp.VERSION && (b[1] & 0xFF) == 0x80 && b[3] == 0) found.add(Protocol.PCP.wire);
        } catch (IOException | PortMapException e) {
            // not answered: not found
        }
        try (DatagramSocket s = new DatagramSocket()) {
            s.connect(gateway, NatPmp.PORT);
            byte[] a = exchange(s, NatPmp.externalAddressRequest(), "NAT-PMP");
            if (NatPmp.parseExternalAddress(a, a.length).result() == 0) found.add(Protocol.NAT_PMP.wire);
        } catch (IOException | PortMapException e) {
            // not answered: not found
        }
        try {
            new Upnp(Duration.ofSeconds(1)).discover(gateway);
            found.add(Protocol.UPNP.wire);
        } catch (IOException | PortMapException e) {
            // not found
        }
        return found;
    }

    /** Stops renewing and deletes the mapping. */
    @Override
    public void close() {
        Mapping m;
        synchronized (lock) {
            if (closed) return;
            closed = true;
            if (next != null) next.cancel();
            m = mapping;
            mapping = null;
        }
        if (m != null) delete(m);
    }
}
