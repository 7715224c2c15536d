package holepunch.worker;

import holepunch.net.Addresses;
import holepunch.protocol.NatBehaviour;
import holepunch.stun.StunClient;
import holepunch.stun.StunException;
import holepunch.stun.StunMessage;
import holepunch.timer.Scheduler;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code holepunch.jar worker --netcheck}: a one-shot report of what this host's network allows,
 * as Tailscale's netcheck gives: whether UDP works, the public IPv4 endpoint, the NAT's mapping
 * behaviour (from two STUN servers, or one that names a second address), whether the port is
 * preserved, which port-mapping protocols the gateway answers, and what that means for peers. It binds the worker's UDP port as the worker would.
 */
final class Netcheck {
    private Netcheck() {
    }

    /** What the mapping behaviour means for direct paths (also shown in /status). */
    static String forPeers(NatMapping m) {
        if (m == null) return "no STUN answer: UDP is blocked or the STUN servers are unreachable; peers can only use the relay";
        return switch (m.behaviour()) {
            case NONE -> "no NAT: peers reach this worker at its endpoint; direct paths unless a firewall drops unsolicited UDP";
            case ENDPOINT_INDEPENDENT -> "an endpoint-independent NAT: direct paths with peers behind most NATs, including"
                    + " endpoint-dependent ones (their probes come back through the peer-reflexive address)";
            case ENDPOINT_DEPENDENT -> "an endpoint-dependent (symmetric) NAT: direct paths with peers that have no NAT or an"
                    + " endpoint-independent one (the hard-NAT technique, P2P_HARD_NAT); with another endpoint-dependent NAT,"
                    + " traffic goes over the relay unless a port mapping or IPv6 on both sides opens a path";
            case UNKNOWN -> "unknown: one STUN server without a second address cannot tell; add one to STUN_SERVERS"
                    + " (the holepunch rendezvous's STUN server names a second port by itself)";
        };
    }

    /** As above, with what port mapping and IPv6 add. */
    static String forPeers(NatMapping m, String mappedBy, boolean ipv6) {
        String s = forPeers(m);
        if (mappedBy != null) s += "; the gateway maps our port (" + mappedBy + "), so any peer can reach us there";
        if (ipv6) s += "; over IPv6 (no NAT) direct paths with every peer that has IPv6";
        return s;
    }

    /** Runs the checks and prints the report; 0 when UDP works (a STUN answer came), 1 otherwise. */
    static int run(WorkerConfig config, PrintStream out) throws IOException {
        DatagramChannel udp = DatagramChannel.open();
        try {
            udp.bind(new InetSocketAddress(config.udpPort()));
            Scheduler scheduler = Scheduler.system();
            StunClient stun = new StunClient((d, to) -> udp.send(d, to), scheduler, config.retransmission());
            Thread reader = Thread.ofVirtual().start(() -> {
                ByteBuffer buf = ByteBuffer.allocate(2048);
                while (udp.isOpen()) {
                    try {
                        buf.clear();
                        InetSocketAddress from = (InetSocketAddress) udp.receive(buf);
                        buf.flip();
                        if (StunMessage.looksLikeStun(buf)) stun.onDatagram(from, buf.array(), buf.limit());
                    } catch (StunException e) {
                        // not an answer of ours
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            List<String> lines = new ArrayList<>();
            List<StunClient.Binding> bindings = new ArrayList<>();
            List<String> lines6 = new ArrayList<>();
            StunClient.Binding v6 = null;
            boolean ipv6 = config.ipv6() && udp.getLocalAddress() instanceof InetSocketAddress bound
                    && bound.getAddress() instanceof java.net.Inet6Address && Discovery.hasGlobalIpv6();
            for (InetSocketAddress server : config.stunServers()) {
                List<java.net.InetAddress> ips;
                try {
                    ips = Discovery.resolve(server.getHostString(), ipv6);
                } catch (java.net.UnknownHostException e) {
                    lines.add(server.getHostString() + " failed (" + e.getMessage() + ")");
                    continue;
                }
                for (java.net.InetAddress ip : ips) {
                    InetSocketAddress to = new InetSocketAddress(ip, server.getPort());
                    List<String> into = ip instanceof java.net.Inet6Address ? lines6 : lines;
                    try {
                        StunClient.Binding b = stun.bind(to).get(60, TimeUnit.SECONDS);
                        if (ip instanceof java.net.Inet6Address) {
                            if (v6 == null) v6 = b;
                        } else {
                            bindings.add(b);
                        }
                        into.add(Addresses.text(to) + " " + b.rttMillis() + " ms");
                    } catch (Exception e) {
                        into.add(Addresses.text(to) + " failed (" + (e.getCause() == null ? e : e.getCause().getMessage()) + ")");
                    }
                }
            }
            if (bindings.size() == 1 && bindings.getFirst().otherAddress() != null) {
                InetSocketAddress other = Discovery.otherAddress(bindings.getFirst());
                try {
                    StunClient.Binding b = stun.bind(other).get(60, TimeUnit.SECONDS);
                    bindings.add(b);
                    lines.add("its OTHER-ADDRESS " + Addresses.text(other) + " " + b.rttMillis() + " ms");
                } catch (Exception e) {
                    lines.add("its OTHER-ADDRESS " + Addresses.text(other) + " failed");
                }
            }
            int local = Addresses.localPort(udp);
            NatMapping m = bindings.isEmpty() ? null : NatMapping.classify(bindings, local);
            out.println("holepunch netcheck (UDP port " + local + ")");
            out.println("  UDP:            " + (m == null ? "no answer" : "works") + " (" + String.join("; ", lines) + ")");
            out.println("  IPv4 endpoint:  " + (m == null ? "unknown" : Addresses.text(bindings.getFirst().mapped())));
            out.println("  mapping:        " + (m == null ? "unknown" : m.behaviour().wire + (m.behaviour() == NatBehaviour.UNKNOWN
                    ? " (one server cannot tell)" : bindings.size() > 1 ? " (from " + bindings.size() + " destinations)" : "")));
            out.println("  port preserved: " + (m == null ? "unknown" : m.portPreserved() ? "yes" : "no"));
            java.net.InetAddress gateway = holepunch.portmap.Gateway.find();
            List<String> mappers = config.portMapping().isEmpty() ? List.of() : holepunch.portmap.PortMapper.probe(gateway);
            out.println("  port mapping:   " + (config.portMapping().isEmpty() ? "off (PORT_MAPPING=false)"
                    : gateway == null ? "no IPv4 default gateway"
                    : mappers.isEmpty() ? "none answered on gateway " + Addresses.text(gateway) + " (tried pcp, nat-pmp, upnp)"
                    : String.join(", ", mappers) + " on gateway " + Addresses.text(gateway)));
            out.println("  IPv6:           " + (!config.ipv6() ? "off (IPV6=false)" : !ipv6 ? "no global IPv6 address on this host"
                    : v6 == null ? "no STUN answer over IPv6" + (lines6.isEmpty() ? " (no STUN server has an IPv6 address)" : " (" + String.join("; ", lines6) + ")")
                    : Addresses.text(v6.mapped()) + (NatMapping.isLocalAddress(v6.mapped().getAddress()) ? " (this host's own address: no NAT)" : "")
                    + " (" + String.join("; ", lines6) + ")"));
            out.println("  for peers:      " + forPeers(m, mappers.isEmpty() ? null : mappers.getFirst() + " answers", v6 != null));
            udp.close();                 // ends the reader
            reader.join(2000);
            return m == null ? 1 : 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        } finally {
            udp.close();
        }
    }
}
