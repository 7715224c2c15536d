package holepunch.lab;

import holepunch.testing.Await;
import holepunch.testing.PacketCapture;
import holepunch.testing.Tools;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real NATs: Linux MASQUERADE in network namespaces made by natlab.sh, the built jar running
 * inside them. Every scenario tears the lab down afterwards, also when it fails. Needs root
 * (CI runs as root).
 */
@org.junit.jupiter.api.Tag("lab")
class NatLabTest {
    Lab lab;

    /** In CI the lab must run (CI is root); elsewhere, without root, it is skipped with one loud line. */
    @BeforeAll
    static void requireRoot() throws Exception {
        boolean root = "0".equals(Tools.run(10, List.of("id", "-u")).trim());
        if (!root && System.getenv("CI") == null) {
            System.err.println("*** NatLabTest SKIPPED: the NAT lab needs root (network namespaces and iptables); run make test as root ***");
            org.junit.jupiter.api.Assumptions.abort("the NAT lab needs root");
        }
        assertEquals(true, root, "the NAT lab needs root (network namespaces and iptables), and CI runs it");
        Tools.require("iptables", "iptables");
        Tools.require("conntrack", "conntrack");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (lab != null) lab.close();
    }

    private void awaitState(String ns, String ip, String state, int seconds) throws Exception {
        try {
            Await.until(Duration.ofSeconds(seconds), Lab.POLL, ns + " " + state, () -> state.equals(lab.peer(ns, ip).get("state")));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + lab.peer(ns, ip) + "\n" + lab.logs(), e);
        }
    }

    /**
     * The birthday technique opened the path between A and B. A side can take a hit of the technique
     * for an ordinary answer at the STUN-reported address, and so name it {@code stun}: when the easy
     * side's random probe lands on the mapping of the hard side's own socket (1 hit in 257), or when
     * an extra socket's mapping falls on the hard side's reported port (256 in 64,512). The other side
     * then still names it: at least one names {@code hard-nat}, and neither names anything else.
     */
    private void assertHardNatOpenedThePath() {
        Object a = lab.peer("hp-h1", "10.1.0.2").get("technique"), b = lab.peer("hp-h2", "10.2.0.2").get("technique");
        assertTrue(("hard-nat".equals(a) || "hard-nat".equals(b)) && List.of("hard-nat", "stun").containsAll(java.util.Arrays.asList(a, b)),
                "techniques: A " + a + ", B " + b);
    }

    /** The lab with NATs of these kinds (and layout), the rendezvous, and worker A (behind NAT 1) asking for worker B (behind NAT 2). */
    private void aAsksForB(String... natsAndLayout) throws Exception {
        aAsksForB(Map.of(), natsAndLayout);
    }

    /** As above, both workers with {@code env}. */
    private void aAsksForB(Map<String, String> env, String... natsAndLayout) throws Exception {
        lab = new Lab(natsAndLayout);
        lab.rendezvous();
        lab.aAsksForB(env);
    }

    @Test
    void coneToCone_isDirect() throws Exception {
        aAsksForB("cone", "cone");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        assertEquals("203.0.113.12:4000", lab.peer("hp-h1", "10.1.0.2").get("remote"), "through the peer's NAT, port preserved");
        assertEquals("endpoint-independent", lab.status("hp-h1", "10.1.0.2").get("nat_mapping"));
    }

    @Test
    void symmetricToSymmetric_fallsBackToTheRelayAndSaysWhy() throws Exception {
        aAsksForB("symmetric", "symmetric");
        awaitState("hp-h1", "10.1.0.2", "relay", 60);
        String detail = (String) lab.peer("hp-h1", "10.1.0.2").get("detail");
        assertTrue(detail.contains("both NATs map endpoint-dependently"), "names both NATs' behaviour: " + detail);
        assertEquals("endpoint-dependent", lab.status("hp-h1", "10.1.0.2").get("nat_mapping"));
    }

    /**
     * With a TURN server (coturn) on the lab's internet and the rendezvous giving credentials for it,
     * two symmetric NATs end on TURN, not on the WebSocket relay, and forwarded traffic crosses it.
     */
    @Test
    void symmetricToSymmetric_withATurnServer_endsOnTurn() throws Exception {
        lab = new Lab("symmetric", "symmetric");
        lab.coturn("lab-turn-secret");
        lab.rendezvous(Map.of("TURN_URLS", Lab.TURN_URL, "TURN_SECRET", "lab-turn-secret"));
        lab.udpEcho("hp-h2", 7000);
        lab.worker("hp-h2", "lab-b", null, Map.of());
        lab.worker("hp-h1", "lab-a", "lab-b", Map.of("FORWARD", "5000=lab-b:127.0.0.1:7000"));
        try {
            // When the first introduction comes before the relayed addresses are known (a race with the allocations), TURN
            // is tried on the retry, 35 s later. That failed in 2 of 6 CI runs, every retry too, before the client kept
            // its NAT's mapping towards the server open (TurnClient.KEEPALIVE_MILLIS): the lab's NATs forget a UDP mapping
            // after 30 s of quiet, and the peer's datagrams through the server died there. Room for three attempts.
            Await.until(Duration.ofSeconds(120), Lab.POLL, "A on TURN", () -> "turn".equals(lab.peer("hp-h1", "10.1.0.2").get("technique")));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + lab.peer("hp-h1", "10.1.0.2") + "\n" + lab.logs(), e);
        }
        assertEquals("relay", lab.peer("hp-h1", "10.1.0.2").get("state"), "relayed by the TURN server");
        // Either side's allocation may carry it: to B's relayed address on coturn, or from A's own to B's NAT.
        String remote = String.valueOf(lab.peer("hp-h1", "10.1.0.2").get("remote"));
        assertTrue(remote.startsWith("203.0.113.1:50") || remote.startsWith("203.0.113.12:"), "through coturn: " + lab.peer("hp-h1", "10.1.0.2"));
        assertTrue(String.valueOf(lab.status("hp-h1", "10.1.0.2").get("turn")).contains("relayed_address=203.0.113.1:50"),
                "A holds an allocation on coturn: " + lab.status("hp-h1", "10.1.0.2").get("turn"));
        String marker = "TURN-MARKER-" + java.util.UUID.randomUUID();
        assertEquals(marker, forward(marker), lab.logs());
    }

    /** Sends {@code marker} from beside A into its forwarding port until the echo from beside B comes back. */
    private String forward(String marker) throws Exception {
        return lab.python("hp-h1", 60, "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(1)\n"
                + "for i in range(30):\n s.sendto(b'" + marker + "',('127.0.0.1',5000))\n"
                + " try:\n  print(s.recvfrom(2048)[0].decode()); break\n except socket.timeout:\n  pass\n").trim();
    }

    /** A capture of the lab's "internet" (every router's WAN side and the rendezvous), with a canary crossing it. */
    private PacketCapture internet() throws Exception {
        return PacketCapture.inNamespace("hp-pub", "br0", () -> {
            try {
                lab.python("hp-pub", 10, "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                        + "s.sendto(b'canary',('203.0.113.11',9))\n");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void symmetricToSymmetric_forwardedTrafficStillFlowsOverTheRelay_neverInClear() throws Exception {
        lab = new Lab("symmetric", "symmetric");
        lab.rendezvous();
        lab.udpEcho("hp-h2", 7000);     // a UDP service beside worker B, reached through A's forwarding port
        lab.worker("hp-h2", "lab-b", null, Map.of());
        lab.worker("hp-h1", "lab-a", null, Map.of("FORWARD", "5000=lab-b:127.0.0.1:7000"));
        awaitState("hp-h1", "10.1.0.2", "relay", 60);
        String marker = "RELAYED-MARKER-" + java.util.UUID.randomUUID();
        try (PacketCapture wan = internet()) {
            assertEquals(marker, forward(marker), lab.logs());
            byte[] seen = wan.stop();
            assertTrue(seen.length > 1000, "the capture holds the relayed traffic");
            assertFalse(PacketCapture.revealed(seen, marker), "the marker crossed the lab's internet in clear");
        }
    }

    @Test
    void coneToCone_forwardedTrafficGoesDirect_neverInClear() throws Exception {
        lab = new Lab("cone", "cone");
        lab.rendezvous();
        lab.udpEcho("hp-h2", 7000);
        lab.worker("hp-h2", "lab-b", null, Map.of());
        lab.worker("hp-h1", "lab-a", null, Map.of("FORWARD", "5000=lab-b:127.0.0.1:7000"));
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        String marker = "DIRECT-MARKER-" + java.util.UUID.randomUUID();
        try (PacketCapture wan = internet()) {
            assertEquals(marker, forward(marker), lab.logs());
            byte[] seen = wan.stop();
            assertTrue(PacketCapture.revealed(("xx" + marker).getBytes(), marker), "the detector finds a marker in clear");
            assertTrue(PacketCapture.contains(seen, new byte[] {(byte) 203, 0, 113, 12}), "the capture holds router 2's WAN traffic (203.0.113.12)");
            assertFalse(PacketCapture.revealed(seen, marker), "the marker crossed the lab's internet in clear");
        }
    }

    /** One configured STUN server (as the original takes): its OTHER-ADDRESS still tells the NATs apart. */
    @Test
    void oneStunServer_classifiesTheMappingThroughItsOtherAddress() throws Exception {
        lab = new Lab("cone", "symmetric");
        lab.rendezvous();
        lab.worker("hp-h1", "lab-a", null, Map.of("STUN_SERVERS", ""));
        lab.worker("hp-h2", "lab-b", null, Map.of("STUN_SERVERS", ""));
        Await.until(Duration.ofSeconds(60), Lab.POLL, "both classified", () -> lab.status("hp-h1", "10.1.0.2").get("nat_mapping") != null
                && lab.status("hp-h2", "10.2.0.2").get("nat_mapping") != null);
        assertEquals("endpoint-independent", lab.status("hp-h1", "10.1.0.2").get("nat_mapping"), lab.logs());
        assertEquals("endpoint-dependent", lab.status("hp-h2", "10.2.0.2").get("nat_mapping"), lab.logs());
        String report = lab.runJar("hp-h2", 60, Map.of("STUN_HOST_ENV", "203.0.113.1", "STUN_PORT_ENV", "3478",
                "INTERNAL_UDP_PORT_ENV", "4001"), "worker", "--netcheck");
        assertTrue(report.contains("IPv4 endpoint:  203.0.113.12:"), report);
        assertTrue(report.contains("mapping:        endpoint-dependent (from 2 destinations)"), report);
        assertTrue(report.contains("with another endpoint-dependent NAT, traffic goes over the relay"), report);
    }

    /**
     * Linux MASQUERADE with no firewall of its own (a Docker host, a cloud NAT instance), two
     * routers between the NATs: a peer's early probe would take the router's port for itself, so
     * each side first sends a probe that expires on the way (P2P_PRIME_TTL) to open its own mapping.
     */
    @Test
    void bareLinuxNats_coneToConeIsDirect() throws Exception {
        aAsksForB("bare", "bare", "routed");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        assertEquals("203.0.113.12:4000", lab.peer("hp-h1", "10.1.0.2").get("remote"), "through the peer's NAT, port preserved");
    }

    /**
     * Port-restricted (bare Linux MASQUERADE, so also the priming of the hard side's opening probes) to
     * symmetric: the birthday technique ({@code HardNat}) opens it; each side says so in /status.
     */
    @Test
    void bareToSymmetric_isDirectThroughTheHardNatTechnique() throws Exception {
        aAsksForB("bare", "symmetric", "routed");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        assertHardNatOpenedThePath();
        String remote = (String) lab.peer("hp-h1", "10.1.0.2").get("remote");
        assertTrue(remote.startsWith("203.0.113.12:") && !remote.equals("203.0.113.12:4000"), "one of the extra sockets' mappings: " + remote);
    }

    /**
     * Behind two NATs (a home router, then a carrier's symmetric NAT): the hard side's primed opening
     * probes die before the carrier's NAT, so the technique sends them again at the normal TTL
     * half-way through the burst; the path ends direct, and only one extra socket per path stays.
     */
    @Test
    void coneToCarrierGradeNat_isDirectThroughTheHardNatTechnique() throws Exception {
        aAsksForB("cone", "cgnat", "routed");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        assertHardNatOpenedThePath();
    }

    /**
     * The carrier's NAT one hop further (an access router between it and the home router): the hard
     * side's second round of opening probes, one hop past the priming TTL, dies before it too, so the
     * first attempt ends on the relay; the retry sends that round one more hop further, and the path
     * ends direct, still without a probe reaching the peer's NAT unasked.
     */
    @Test
    void coneToDeeperCarrierGradeNat_isDirectOnTheRetry_whoseOpeningProbesGoOneHopFurther() throws Exception {
        aAsksForB(Map.of("P2P_RETRY_DIRECT_SEC", "1"), "cone", "cgnat-deep", "routed");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        assertHardNatOpenedThePath();
        String logs = lab.logs();
        assertTrue(logs.contains("no direct path to lab-b"), "the first attempt ended on the relay:\n" + logs);
    }

    /** The same pair with the technique off on both sides ends on the relay: the technique is what opens it. */
    @Test
    void coneToSymmetric_withoutTheHardNatTechnique_endsOnTheRelay() throws Exception {
        aAsksForB(Map.of("P2P_HARD_NAT", "false"), "cone", "symmetric");
        awaitState("hp-h1", "10.1.0.2", "relay", 60);
        String detail = (String) lab.peer("hp-h1", "10.1.0.2").get("detail");
        assertTrue(detail.contains("maps endpoint-dependently"), detail);
    }

    @Test
    void coneToSymmetric_isDirectThroughTheHardNatTechnique() throws Exception {
        aAsksForB("cone", "symmetric");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        assertHardNatOpenedThePath();
    }

    /** The rules miniupnpd holds on router 2 (its iptables backend uses the legacy tables). */
    private String miniupnpdRules() throws Exception {
        return Tools.run(10, List.of("ip", "netns", "exec", "hp-r2", "iptables-legacy", "-t", "nat", "-S", "MINIUPNPD"));
    }

    /**
     * Each protocol alone against Debian's miniupnpd on the worker's router: the worker maps its UDP
     * port, shows the mapping in /status, and deletes it when stopped.
     */
    @Test
    @SuppressWarnings("unchecked")
    void portMapping_eachProtocolMapsThePort_andDeletesItOnShutdown() throws Exception {
        lab = new Lab("cone", "symmetric-upnp");
        lab.rendezvous();
        for (String protocol : List.of("pcp", "nat-pmp", "upnp")) {
            Process w = lab.worker("hp-h2", "lab-b", null, Map.of("PORT_MAPPING", protocol));
            java.util.concurrent.atomic.AtomicReference<Map<String, Object>> mapping = new java.util.concurrent.atomic.AtomicReference<>();
            try {
                Await.until(Duration.ofSeconds(30), Lab.POLL, protocol + " mapping", () -> {
                    Object m = lab.status("hp-h2", "10.2.0.2").get("port_mapping");
                    mapping.set(m instanceof Map<?, ?> map ? (Map<String, Object>) map : null);
                    return mapping.get() != null && protocol.equals(mapping.get().get("protocol"));
                });
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\n" + mapping.get() + "\n" + lab.logs(), e);
            }
            String external = (String) mapping.get().get("external");
            assertTrue(external.startsWith("11.0.0.12:"), external);
            assertTrue(miniupnpdRules().contains("--dport " + external.substring(external.indexOf(':') + 1)), miniupnpdRules());
            w.destroy();                                           // SIGTERM: a clean shutdown
            assertTrue(w.waitFor(20, java.util.concurrent.TimeUnit.SECONDS));
            Await.until(Duration.ofSeconds(10), Lab.POLL, "mapping deleted", () -> !miniupnpdRules().contains("-j DNAT"));
        }
    }

    /**
     * Symmetric on both sides, one with miniupnpd: the mapped endpoint lets the peer in. The
     * hard-NAT technique is off here: once mapped, miniupnpd's router maps the worker's port
     * endpoint-independently, so the technique could race the mapped endpoint to the first answer.
     */
    @Test
    void symmetricToSymmetricWithMiniupnpd_isDirectThroughThePortMapping() throws Exception {
        aAsksForB(Map.of("P2P_HARD_NAT", "false"), "symmetric", "symmetric-upnp");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        Map<String, Object> a = lab.peer("hp-h1", "10.1.0.2");
        assertEquals("port-mapping", a.get("technique"));
        assertTrue(((String) a.get("remote")).startsWith("11.0.0.12:"), (String) a.get("remote"));
    }

    /**
     * Dual stack, IPv4 symmetric on both sides (so IPv4 alone would end on the relay), IPv6 behind
     * stateful firewalls that drop what comes unasked: the workers learn their IPv6 endpoints with
     * STUN over IPv6, offer them, and punch through both firewalls.
     */
    @Test
    void ipv6OnBothSides_isDirectThroughStatefulFirewalls_thoughIpv4IsSymmetric() throws Exception {
        lab = new Lab("ipv6", "ipv6");
        lab.rendezvous();
        String unasked = lab.python("hp-h2", 20, "import socket,subprocess\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n"
                + "s.bind(('::',7001)); s.settimeout(2)\n"
                + "subprocess.run(['ip','netns','exec','hp-pub','/usr/bin/python3','-c',"
                + "\"import socket;socket.socket(socket.AF_INET6,socket.SOCK_DGRAM).sendto(b'x',('2001:db8:2::2',7001))\"])\n"
                + "try:\n s.recvfrom(10); print('let in')\nexcept socket.timeout:\n print('dropped')").trim();
        assertEquals("dropped", unasked, "the lab's IPv6 firewall drops what comes unasked");
        String report = lab.runJar("hp-h1", 60, Map.of("STUN_HOST_ENV", "203.0.113.1", "STUN_PORT_ENV", "3478",
                "STUN_SERVERS", "[2001:db8::1]:3478", "INTERNAL_UDP_PORT_ENV", "4001", "STUN_RTO_MS", "200"), "worker", "--netcheck");
        assertTrue(report.contains("IPv6:           [2001:db8:1::2]:4001 (this host's own address: no NAT)"), report);

        lab.aAsksForB(Map.of());
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        Map<String, Object> a = lab.peer("hp-h1", "10.1.0.2");
        assertEquals("ipv6", a.get("technique"));
        assertEquals("[2001:db8:2::2]:4000", a.get("remote"));
        assertEquals("[2001:db8:1::2]:4000", lab.status("hp-h1", "10.1.0.2").get("ipv6_endpoint"));
    }

    @Test
    void fullConeToSymmetric_isDirectThroughThePeerReflexiveAddress() throws Exception {
        lab = new Lab("fullcone", "symmetric");
        lab.rendezvous();
        lab.worker("hp-h1", "lab-a", null, Map.of());
        lab.worker("hp-h2", "lab-b", "lab-a", Map.of());
        awaitState("hp-h2", "10.2.0.2", "direct", 60);
        awaitState("hp-h1", "10.1.0.2", "direct", 20);
        String remoteSeenByA = (String) lab.peer("hp-h1", "10.1.0.2").get("remote");
        assertTrue(remoteSeenByA.startsWith("203.0.113.12:"), remoteSeenByA);
        assertNotEquals("203.0.113.12:4000", remoteSeenByA, "not the STUN-reported port: the symmetric NAT mapped anew");
    }

    @Test
    void twoWorkersBehindOneNat_connectOverTheirLan() throws Exception {
        lab = new Lab("cone", "cone", "same");
        lab.rendezvous();
        lab.worker("hp-h3", "lab-c", null, Map.of());
        lab.worker("hp-h1", "lab-a", "lab-c", Map.of());
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h3", "10.1.0.3", "direct", 20);
        assertEquals("10.1.0.3:4000", lab.peer("hp-h1", "10.1.0.2").get("remote"));
    }

    @Test
    void flushedNatMappings_recoverByThemselves() throws Exception {
        aAsksForB("cone", "cone");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        long flushedAt = System.nanoTime();
        Tools.run(10, List.of("ip", "netns", "exec", "hp-r1", "conntrack", "-F"));
        Tools.run(10, List.of("ip", "netns", "exec", "hp-r2", "conntrack", "-F"));
        Await.until(Duration.ofSeconds(30), Lab.POLL, "direct again, with answers since the flush", () -> {
            Map<String, Object> p = lab.peer("hp-h1", "10.1.0.2");
            long sinceFlush = (System.nanoTime() - flushedAt) / 1_000_000;
            return "direct".equals(p.get("state")) && p.get("last_answer_ms_ago") instanceof Long ago && ago < sinceFlush;
        });
    }

    /**
     * Issue 28: with 200 datagrams a second flowing through a forward, UDP between the two NATs is
     * dropped (a firewall rule on router 1): delivery resumes over the relay within 3 s, where it
     * stopped for about 15 s before (a keepalive every 15 s, its 3 s wait, then punching). Healed,
     * the pair is direct again within 10 s (it was retried every P2P_RETRY_DIRECT_SEC, 30 s, and more
     * seldom after each failure).
     */
    @Test
    void directPathDropped_underTraffic_resumesOverTheRelayWithinThreeSeconds_andIsDirectAgainSoonAfterItHeals() throws Exception {
        lab = new Lab("cone", "cone");
        lab.rendezvous();
        lab.udpEcho("hp-h2", 7000);
        Map<String, String> keepalivesAsDeployed = Map.of("P2P_KEEPALIVE_SEC", "15", "P2P_ANSWER_WAIT_MS", "3000");
        lab.worker("hp-h2", "lab-b", null, keepalivesAsDeployed);
        Map<String, String> a = new java.util.HashMap<>(keepalivesAsDeployed);
        a.put("FORWARD", "5000=lab-b:127.0.0.1:7000");
        lab.worker("hp-h1", "lab-a", null, a);
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        java.nio.file.Path replies = java.nio.file.Files.createTempFile("replies", ".txt");
        try {
            // 200 a second through the forward for 14 s; each echoed reply's arrival time, one per line
            Process sender = replySender(replies, 14);
            try {
                Await.until(Duration.ofSeconds(10), Lab.POLL, "replies flowing", () -> java.nio.file.Files.size(replies) > 100);
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\n" + lab.logs(), e);
            }
            Thread.sleep(2000);                          // two seconds of steady traffic before the drop: the measurement's baseline
            double droppedAt = System.currentTimeMillis() / 1000.0;
            for (String rule : List.of("-d", "-s")) {
                Tools.run(10, List.of("ip", "netns", "exec", "hp-r1", "iptables", "-I", "FORWARD", "-p", "udp", rule, "203.0.113.12", "-j", "DROP"));
            }
            assertTrue(sender.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "the sender's 14 s are over");
            List<Double> times = java.nio.file.Files.readAllLines(replies).stream().filter(l -> !l.isBlank()).map(Double::parseDouble).toList();
            double lastBefore = times.stream().filter(t -> t <= droppedAt).mapToDouble(Double::doubleValue).max().orElse(droppedAt);
            double firstAfter = times.stream().filter(t -> t > droppedAt + 0.05).mapToDouble(Double::doubleValue).min().orElse(Double.MAX_VALUE);
            double gap = firstAfter - lastBefore;
            System.out.printf("path dropped under traffic: delivery resumed %.2f s after the last reply before the drop%n", gap);
            assertTrue(gap <= 3.0, "delivery stopped for " + gap + " s\n" + lab.peer("hp-h1", "10.1.0.2") + "\n" + lab.logs());
            Object state = lab.peer("hp-h1", "10.1.0.2").get("state");
            assertTrue(List.of("relay", "connecting").contains(state), "traffic is relayed while direct is tried again: " + state);

            // Healed: direct again within 10 s (a pair that was direct is retried within seconds, not every P2P_RETRY_DIRECT_SEC).
            for (String rule : List.of("-d", "-s")) {
                Tools.run(10, List.of("ip", "netns", "exec", "hp-r1", "iptables", "-D", "FORWARD", "-p", "udp", rule, "203.0.113.12", "-j", "DROP"));
            }
            long healedAt = System.nanoTime();
            awaitState("hp-h1", "10.1.0.2", "direct", 10);
            System.out.printf("healed: direct again after %.1f s%n", (System.nanoTime() - healedAt) / 1e9);
        } finally {
            java.nio.file.Files.deleteIfExists(replies);
        }
    }

    /**
     * Roaming (issue 28): worker A's host changes its address under traffic (a new address on its
     * interface, the old one removed: a DHCP renewal), so its NAT maps it anew. The pair is direct
     * again, and replies flow again, within 10 s, without a restart.
     */
    @Test
    void addressChange_underTraffic_isDirectAgainWithinTenSeconds() throws Exception {
        lab = new Lab("cone", "cone");
        lab.rendezvous();
        lab.udpEcho("hp-h2", 7000);
        lab.worker("hp-h2", "lab-b", null, Map.of());
        lab.worker("hp-h1", "lab-a", null, Map.of("FORWARD", "5000=lab-b:127.0.0.1:7000", "STUN_REFRESH_SEC", "5"));
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        String before = String.valueOf(lab.status("hp-h1", "10.1.0.2").get("public_endpoint"));
        java.nio.file.Path replies = java.nio.file.Files.createTempFile("replies", ".txt");
        try {
            Process sender = replySender(replies, 16);
            Await.until(Duration.ofSeconds(10), Lab.POLL, "replies flowing", () -> java.nio.file.Files.size(replies) > 100);
            double movedAt = System.currentTimeMillis() / 1000.0;
            // The new address stays when the old (primary) one goes, as a DHCP client's change leaves it.
            Tools.run(10, List.of("ip", "netns", "exec", "hp-h1", "sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"));
            Tools.run(10, List.of("ip", "netns", "exec", "hp-h1", "ip", "addr", "add", "10.1.0.3/24", "dev", "eth0"));
            Tools.run(10, List.of("ip", "netns", "exec", "hp-h1", "ip", "addr", "del", "10.1.0.2/24", "dev", "eth0"));
            try {
                Await.until(Duration.ofSeconds(10), Lab.POLL, "direct again from the new address, replies flowing",
                        () -> "direct".equals(lab.peer("hp-h1", "10.1.0.3").get("state"))
                                && java.nio.file.Files.readAllLines(replies).stream().filter(l -> !l.isBlank())
                                .mapToDouble(Double::parseDouble).filter(t -> t > movedAt + 1).count() > 50
                                && !before.equals(String.valueOf(lab.status("hp-h1", "10.1.0.3").get("public_endpoint"))));
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\n" + lab.peer("hp-h1", "10.1.0.3") + "\n" + lab.status("hp-h1", "10.1.0.3")
                        + "\n" + lab.logs(), e);
            }
            System.out.printf("address changed under traffic: direct again, replies flowing, after %.1f s%n",
                    System.currentTimeMillis() / 1000.0 - movedAt);
            sender.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
        } finally {
            java.nio.file.Files.deleteIfExists(replies);
        }
    }

    /**
     * 200 datagrams a second from beside A into its forwarding port (5000) for {@code seconds};
     * each echoed reply's arrival time is written to {@code replies}, one per line.
     */
    private Process replySender(java.nio.file.Path replies, int seconds) throws Exception {
        return lab.inNamespace("hp-h1", List.of("/usr/bin/python3", "-c", """
                    import socket, time, sys
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); s.setblocking(False)
                    out = open(sys.argv[1], 'w', buffering=1); end = time.time() + float(sys.argv[2]); nxt = time.time()
                    while time.time() < end:
                        if time.time() >= nxt:
                            s.sendto(b'x' * 200, ('127.0.0.1', 5000)); nxt += 0.005
                        try:
                            while True:
                                s.recvfrom(2048); out.write('%.3f\\n' % time.time())
                        except BlockingIOError:
                            pass
                        time.sleep(0.001)
                    out.close()
                    """, replies.toString(), String.valueOf(seconds)), Map.of());
    }
}
