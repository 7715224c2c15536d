package holepunch.lab;

import holepunch.json.Json;
import holepunch.testing.Tools;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The NAT lab from Java: natlab.sh builds the namespaces; the built jar runs inside them
 * (rendezvous and a second STUN server on the "public" side, workers behind the NATs).
 * {@link #close} stops every process and removes every namespace.
 */
public final class Lab implements AutoCloseable {
    static final String SCRIPT = "test/holepunch/lab/natlab.sh";
    /** The jar the lab runs (-Dholepunch.jar=...: a copy, so that a long grid run survives a rebuild). */
    static final String JAR = System.getProperty("holepunch.jar", "build/holepunch.jar");
    /** How often tests check a lab worker's state: often enough for the figures, rarely enough to leave the CPU to the workers. */
    public static final java.time.Duration POLL = java.time.Duration.ofMillis(100);
    private final List<Process> processes = new ArrayList<>();
    private final List<Path> logs = new ArrayList<>();

    /** Whether a router of the lab routes IPv6 (type ipv6): a STUN server then listens on 2001:db8::1 too. */
    private final boolean ipv6;

    public Lab(String... natTypes) throws Exception {
        ipv6 = List.of(natTypes).contains("ipv6");
        List<String> cmd = new ArrayList<>(List.of("bash", SCRIPT, "up"));
        cmd.addAll(List.of(natTypes));
        Tools.run(60, cmd);
    }

    public Process inNamespace(String ns, List<String> command, Map<String, String> env) throws Exception {
        Path log = Files.createTempFile("natlab-" + ns, ".log");
        logs.add(log);
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    private Process jar(String ns, String role, Map<String, String> env) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return inNamespace(ns, List.of(java, "-XX:TieredStopAtLevel=1", "-jar", JAR, role), env);
    }

    public void rendezvous() throws Exception {
        rendezvous(Map.of());
    }

    /** The TURN server of the lab: Debian's coturn on the "internet", 203.0.113.1:3479, with the TURN REST secret {@code secret}. */
    public static final String TURN_URL = "turn:203.0.113.1:3479";

    public void coturn(String secret) throws Exception {
        Tools.require("turnserver", "coturn");
        inNamespace("hp-pub", List.of("turnserver", "-n", "--listening-ip", "203.0.113.1", "--relay-ip", "203.0.113.1",
                "--listening-port", "3479", "--min-port", "50000", "--max-port", "50999", "--use-auth-secret", "--static-auth-secret", secret,
                "--realm", "holepunch.lab", "--no-cli", "--no-tls", "--no-dtls", "--log-file", "stdout", "--simple-log", "--verbose",
                "--pidfile", "/tmp/holepunch-lab-coturn.pid"), Map.of());
    }

    /** The rendezvous (with {@code extra} settings) and a second STUN server. */
    public void rendezvous(Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("PORT", "8080", "BIND_ADDRESS", "203.0.113.1", "STUN_UDP_PORT", "3478",
                "PING_INTERVAL_SEC", "5", "PING_TIMEOUT_SEC", "5", "RELAY_BYTES_PER_SEC", "10000000", "MAX_MESSAGES_PER_SEC", "100000"));
        env.putAll(extra);
        jar("hp-pub", "rendezvous", env);
        // a second STUN server on another address, so workers can tell their NAT's mapping behaviour
        jar("hp-pub", "rendezvous", Map.of("PORT", "8081", "BIND_ADDRESS", "203.0.113.2", "STUN_UDP_PORT", "3478"));
        if (ipv6) jar("hp-pub", "rendezvous", Map.of("PORT", "8082", "BIND_ADDRESS", "2001:db8::1", "STUN_UDP_PORT", "3478"));
    }

    public Process worker(String ns, String id, String connectTo, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("RENDEZVOUS_SERVICE_URL", "http://203.0.113.1:8080", "WORKER_ID", id,
                "STUN_HOST_ENV", "203.0.113.1", "STUN_PORT_ENV", "3478", "STUN_SERVERS", ipv6 ? "203.0.113.2:3478,[2001:db8::1]:3478" : "203.0.113.2:3478",
                "INTERNAL_UDP_PORT_ENV", "4000", "PORT", "8090", "IP_ECHO_URL", "", "STUN_RTO_MS", "200"));
        env.putAll(Map.of("P2P_KEEPALIVE_SEC", "1", "P2P_ANSWER_WAIT_MS", "700", "P2P_DEADLINE_MS", "5000"));
        // The lab's workers all trust each other, and the far side of the lab's forwarding rule
        // delivers to the lab's echo service: opened deliberately, as a deployment would.
        env.putAll(Map.of("P2P_ALLOW", "*", "FORWARD_ALLOW", "127.0.0.1:7000"));
        if (connectTo != null) env.put("P2P_CONNECT_TO", connectTo);
        env.putAll(extra);
        return jar(ns, "worker", env);
    }

    /** Worker B behind NAT 2, then worker A behind NAT 1 asking for it; both with {@code extra} settings. */
    public void aAsksForB(Map<String, String> extra) throws Exception {
        worker("hp-h2", "lab-b", null, extra);
        worker("hp-h1", "lab-a", "lab-b", extra);
    }

    /** Runs the jar to its end inside a namespace ({@code worker --netcheck}, say); returns its output. */
    public String runJar(String ns, int seconds, Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns, "env"));
        env.forEach((k, v) -> cmd.add(k + "=" + v));
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", JAR));
        cmd.addAll(List.of(args));
        return Tools.run(seconds, cmd);
    }

    /** Runs a short Python program inside a namespace (no extra tools needed there). */
    public String python(String ns, int seconds, String program) throws Exception {
        return Tools.run(seconds, List.of("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", program));
    }

    /** A UDP echo service on 127.0.0.1:PORT inside a namespace, until the lab closes. */
    public void udpEcho(String ns, int port) throws Exception {
        inNamespace(ns, List.of("/usr/bin/python3", "-c", "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                + "s.bind(('127.0.0.1'," + port + "))\nwhile True:\n d,a=s.recvfrom(4096)\n s.sendto(d,a)"), Map.of());
    }

    /**
     * GETs the URLs written to it, one per line, from inside a namespace: each answer is its length
     * in bytes on a line, then the body (length 0 when the GET failed). One process per namespace,
     * so polling a worker's /status starts no process: a Python start per poll took most of a core
     * from the workers under test on a two-core machine.
     */
    private static final String FETCHER = """
            import sys, urllib.request
            out = sys.stdout.buffer
            for line in sys.stdin:
                try:
                    body = urllib.request.urlopen(line.strip(), timeout=3).read()
                except Exception:
                    body = b''
                out.write(b'%d\\n' % len(body))
                out.write(body)
                out.flush()
            """;
    private final Map<String, Process> fetchers = new HashMap<>();

    /** GET a URL from inside a namespace, as JSON; an empty map while it is not up (each GET is bounded by the fetcher's 3 s timeout). */
    public synchronized Map<String, Object> getJson(String ns, String url) {
        Process f = fetchers.get(ns);
        try {
            if (f == null || !f.isAlive()) {
                f = new ProcessBuilder("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", FETCHER)
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
                processes.add(f);
                fetchers.put(ns, f);
            }
            f.getOutputStream().write((url + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            f.getOutputStream().flush();
            java.io.InputStream in = f.getInputStream();
            int length = 0;
            for (int c = in.read(); c != '\n'; c = in.read()) {
                if (c < '0' || c > '9' || length > 10_000_000) throw new java.io.IOException("fetcher: bad length line");
                length = length * 10 + (c - '0');
            }
            byte[] body = in.readNBytes(length);
            if (body.length != length) throw new java.io.IOException("fetcher ended");
            return length == 0 ? Map.of() : Json.parseObject(new String(body, java.nio.charset.StandardCharsets.UTF_8));
        } catch (Throwable e) {
            if (f != null) f.destroyForcibly();
            fetchers.remove(ns);
            return Map.of();
        }
    }

    public Map<String, Object> status(String ns, String ip) {
        return getJson(ns, "http://" + ip + ":8090/status");
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> peer(String ns, String ip) {
        Object peers = status(ns, ip).get("peers");
        return peers instanceof List<?> l && !l.isEmpty() ? (Map<String, Object>) l.getFirst() : Map.of();
    }

    public String logs() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (Path l : logs) sb.append("---- ").append(l).append('\n').append(Files.readString(l));
        return sb.toString();
    }

    @Override
    public void close() throws Exception {
        for (Process p : processes) p.destroyForcibly();
        for (Process p : processes) p.waitFor(10, TimeUnit.SECONDS);
        Tools.run(30, List.of("bash", SCRIPT, "down"));
        for (Path l : logs) Files.deleteIfExists(l);
    }
}
