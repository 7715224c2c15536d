package holepunch.lab;

import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.Tools;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real NATs: Linux MASQUERADE in network namespaces made by natlab.sh, the built jar running
 * inside them (rendezvous and STUN on the "public" 203.0.113.0/24, workers on private LANs).
 * Every scenario tears the lab down afterwards, also when it fails. Needs root (CI runs as root).
 */
class NatLabTest {
    static final String LAB = "test/holepunch/lab/natlab.sh";
    final List<Process> processes = new ArrayList<>();
    final List<Path> logs = new ArrayList<>();

    @BeforeAll
    static void requireRoot() throws Exception {
        String uid = Tools.run(10, List.of("id", "-u")).trim();
        assertEquals("0", uid, "the NAT lab needs root (network namespaces and iptables)");
        Tools.require("iptables", "iptables");
        Tools.require("conntrack", "conntrack");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : processes) p.destroyForcibly();
        for (Process p : processes) p.waitFor(10, TimeUnit.SECONDS);
        Tools.run(30, List.of("bash", LAB, "down"));
        for (Path l : logs) Files.deleteIfExists(l);
    }

    private void lab(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("bash", LAB, "up"));
        cmd.addAll(List.of(args));
        Tools.run(60, cmd);
    }

    private Process inNamespace(String ns, String role, Map<String, String> env) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = Files.createTempFile("natlab-" + ns, ".log");
        logs.add(log);
        ProcessBuilder pb = new ProcessBuilder("ip", "netns", "exec", ns, java, "-XX:TieredStopAtLevel=1", "-jar", "build/holepunch.jar", role)
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    private void rendezvous() throws Exception {
        inNamespace("hp-pub", "rendezvous", Map.of("PORT", "8080", "BIND_ADDRESS", "203.0.113.1", "STUN_UDP_PORT", "3478",
                "PING_INTERVAL_SEC", "5", "PING_TIMEOUT_SEC", "5"));
        // a second STUN server on another address, so workers can tell their NAT's mapping behaviour
        inNamespace("hp-pub", "rendezvous", Map.of("PORT", "8081", "BIND_ADDRESS", "203.0.113.2", "STUN_UDP_PORT", "3478"));
    }

    private void worker(String ns, String id, String connectTo) throws Exception {
        worker(ns, id, connectTo, Map.of());
    }

    private void worker(String ns, String id, String connectTo, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("RENDEZVOUS_SERVICE_URL", "http://203.0.113.1:8080", "WORKER_ID", id,
                "STUN_HOST_ENV", "203.0.113.1", "STUN_PORT_ENV", "3478", "STUN_SERVERS", "203.0.113.2:3478",
                "INTERNAL_UDP_PORT_ENV", "4000", "PORT", "8090", "IP_ECHO_URL", "", "STUN_RTO_MS", "200"));
        env.putAll(Map.of("P2P_KEEPALIVE_SEC", "1", "P2P_ANSWER_WAIT_MS", "700", "P2P_DEADLINE_MS", "5000"));
        if (connectTo != null) env.put("P2P_CONNECT_TO", connectTo);
        env.putAll(extra);
        inNamespace(ns, "worker", env);
    }

    /** The worker's /status, read from inside its namespace. */
    private Map<String, Object> status(String ns, String ip) {
        try {
            String out = Tools.run(10, List.of("ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                    "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://" + ip + ":8090/status', timeout=3).read().decode())"));
            return Json.parseObject(out);
        } catch (Throwable e) {
            return Map.of();     // not up yet
        }
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> peer(String ns, String ip) {
        Object peers = status(ns, ip).get("peers");
        return peers instanceof List<?> l && !l.isEmpty() ? (Map<String, Object>) l.getFirst() : Map.of();
    }

    private String logsText() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (Path l : logs) sb.append("---- ").append(l).append('\n').append(Files.readString(l));
        return sb.toString();
    }

    private void awaitState(String ns, String ip, String state, int seconds) throws Exception {
        try {
            Await.until(Duration.ofSeconds(seconds), ns + " " + state, () -> state.equals(peer(ns, ip).get("state")));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + peer(ns, ip) + "\n" + logsText(), e);
        }
    }

    @Test
    void coneToCone_isDirect() throws Exception {
        lab("cone", "cone");
        rendezvous();
        worker("hp-h2", "lab-b", null);
        worker("hp-h1", "lab-a", "lab-b");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        assertEquals("203.0.113.12:4000", peer("hp-h1", "10.1.0.2").get("remote"), "through the peer's NAT, port preserved");
        assertEquals("endpoint-independent", status("hp-h1", "10.1.0.2").get("nat_mapping"));
    }

    @Test
    void symmetricToSymmetric_fallsBackToTheRelayAndSaysWhy() throws Exception {
        lab("symmetric", "symmetric");
        rendezvous();
        worker("hp-h2", "lab-b", null);
        worker("hp-h1", "lab-a", "lab-b");
        awaitState("hp-h1", "10.1.0.2", "relay", 60);
        String detail = (String) peer("hp-h1", "10.1.0.2").get("detail");
        assertTrue(detail.contains("endpoint-dependent"), detail);
        assertEquals("endpoint-dependent", status("hp-h1", "10.1.0.2").get("nat_mapping"));
    }

    @Test
    void symmetricToSymmetric_forwardedTrafficStillFlowsOverTheRelay() throws Exception {
        lab("symmetric", "symmetric");
        rendezvous();
        // a UDP echo service beside worker B, reached from beside worker A through A's forwarding port
        Process echo = new ProcessBuilder("ip", "netns", "exec", "hp-h2", "/usr/bin/python3", "-c",
                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('127.0.0.1',7000))\n"
                        + "while True:\n d,a=s.recvfrom(2048)\n s.sendto(d,a)").redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        processes.add(echo);
        worker("hp-h2", "lab-b", null);
        worker("hp-h1", "lab-a", null, Map.of("FORWARD", "5000=lab-b:127.0.0.1:7000"));
        awaitState("hp-h1", "10.1.0.2", "relay", 60);
        String out = Tools.run(60, List.of("ip", "netns", "exec", "hp-h1", "/usr/bin/python3", "-c",
                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(1)\n"
                        + "for i in range(30):\n"
                        + " s.sendto(b'through the relay',('127.0.0.1',5000))\n"
                        + " try:\n  print(s.recvfrom(2048)[0].decode()); break\n"
                        + " except socket.timeout:\n  pass\n"));
        assertEquals("through the relay", out.trim(), logsText());
    }

    @Test
    void fullConeToSymmetric_isDirectThroughThePeerReflexiveAddress() throws Exception {
        lab("fullcone", "symmetric");
        rendezvous();
        worker("hp-h1", "lab-a", null);
        worker("hp-h2", "lab-b", "lab-a");
        awaitState("hp-h2", "10.2.0.2", "direct", 60);
        awaitState("hp-h1", "10.1.0.2", "direct", 20);
        String remoteSeenByA = (String) peer("hp-h1", "10.1.0.2").get("remote");
        assertTrue(remoteSeenByA.startsWith("203.0.113.12:"), remoteSeenByA);
        assertNotEquals("203.0.113.12:4000", remoteSeenByA, "not the STUN-reported port: the symmetric NAT mapped anew");
    }

    @Test
    void twoWorkersBehindOneNat_connectOverTheirLan() throws Exception {
        lab("cone", "cone", "same");
        rendezvous();
        worker("hp-h3", "lab-c", null);
        worker("hp-h1", "lab-a", "lab-c");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h3", "10.1.0.3", "direct", 20);
        assertEquals("10.1.0.3:4000", peer("hp-h1", "10.1.0.2").get("remote"));
    }

    @Test
    void flushedNatMappings_recoverByThemselves() throws Exception {
        lab("cone", "cone");
        rendezvous();
        worker("hp-h2", "lab-b", null);
        worker("hp-h1", "lab-a", "lab-b");
        awaitState("hp-h1", "10.1.0.2", "direct", 60);
        awaitState("hp-h2", "10.2.0.2", "direct", 20);
        long flushedAt = System.nanoTime();
        Tools.run(10, List.of("ip", "netns", "exec", "hp-r1", "conntrack", "-F"));
        Tools.run(10, List.of("ip", "netns", "exec", "hp-r2", "conntrack", "-F"));
        Await.until(Duration.ofSeconds(30), "direct again, with answers since the flush", () -> {
            Map<String, Object> p = peer("hp-h1", "10.1.0.2");
            long sinceFlush = (System.nanoTime() - flushedAt) / 1_000_000;
            return "direct".equals(p.get("state")) && p.get("last_answer_ms_ago") instanceof Long ago && ago < sinceFlush;
        });
    }
}
