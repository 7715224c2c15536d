package holepunch.bench;

import holepunch.json.Json;
import holepunch.protocol.RelayFrame;
import holepunch.testing.Ports;
import holepunch.testing.RawWebSocket;

import java.io.DataInputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code BENCH_ONLY=relay}: what the relays carry.
 * <ol>
 *   <li>The rendezvous alone: 1 and 8 pairs of sessions that selected the binary relay, each sender
 *       writing 40 datagrams of 1,200 bytes a message as fast as its connection takes them, each
 *       receiver counting what arrives (budgets raised); then one pair across two cluster instances.</li>
 *   <li>End to end as a user runs it: a rendezvous with coturn as its TURN server and two workers
 *       (run.sh's JVM options), a forward from worker a to a UDP receiver beside worker b,
 *       {@code udpblast} at fixed rates; first over the direct path, then with UDP between the
 *       workers' ports dropped by iptables (root), so the same pair falls back to TURN, then with
 *       coturn's port dropped too, so it falls back to the WebSocket relay.</li>
 * </ol>
 */
final class RelayBench {
    static final int SIZE = 1200;
    static final int PER_MESSAGE = 40;
    static final double SECONDS = Double.parseDouble(System.getenv().getOrDefault("BENCH_RELAY_SECONDS", "3"));

    private RelayBench() {
    }

    static void run() throws Exception {
        rendezvousAlone();
        crossInstance();
        endToEnd();
    }

    /**
     * One pair whose two sessions are on two instances of a cluster (one Redis): each relayed
     * datagram crosses Redis (a PUBLISH to the other instance's channel, base64 in JSON), metered
     * once, where the responder is held.
     */
    private static void crossInstance() throws Exception {
        String runSh = Path.of("run.sh").toAbsolutePath().toString();
        List<RvServer> servers = new ArrayList<>();
        try (holepunch.testing.RedisServer redis = new holepunch.testing.RedisServer()) {
            for (int i = 0; i < 2; i++) {
                servers.add(RvServer.start("relay-instance-" + i, List.of(runSh, "rendezvous"), Map.of("REDIS_URL", redis.url(),
                        "RELAY_BYTES_PER_SEC", "1000000000", "RELAY_TOTAL_BYTES_PER_SEC", "2000000000")));
            }
            RawWebSocket a = session(servers.get(0).port, "xi-a");
            RawWebSocket b = session(servers.get(1).port, "xi-b");
            // The other instance's directory write takes up to its batch time: ask once instance 0 lists xi-b.
            long listed = System.nanoTime() + 5_000_000_000L;
            while (!ForwardBench.get("http://127.0.0.1:" + servers.get(0).port + "/debug/list_workers").contains("\"xi-b\"")
                    && System.nanoTime() < listed) {
                Thread.sleep(20);
            }
            try {
                a.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "xi-b")));
                Map<String, Object> offer = Json.parseObject(a.readSkippingPings().text());
                if (!"p2p_connection_offer".equals(offer.get("type"))) {
                    System.out.println("relay across instances: no offer (" + offer + "); skipped");
                    return;
                }
                long pair = Long.parseUnsignedLong((String) offer.get("pair_id"), 16);
                b.readSkippingPings();
                ByteBuffer m = ByteBuffer.allocate(1 + PER_MESSAGE * (RelayFrame.RECORD_HEADER + SIZE));
                RelayFrame.begin(m);
                for (int k = 0; k < PER_MESSAGE; k++) RelayFrame.append(m, pair, new byte[SIZE], 0, SIZE);
                byte[] frame = zeroMasked(m.array());
                AtomicLong received = new AtomicLong();
                Thread counter = Thread.ofPlatform().daemon().start(() -> count(b, received));
                long sent = 0;
                long t0 = System.nanoTime();
                long end = t0 + (long) (SECONDS * 1e9);
                OutputStream out = a.socket.getOutputStream();
                while (System.nanoTime() < end) {
                    out.write(frame);
                    sent += PER_MESSAGE;
                }
                double secs = (System.nanoTime() - t0) / 1e9;
                Thread.sleep(1000);
                long got = received.get();
                System.out.printf(Locale.ROOT, "relay across two instances (Redis between): sent %,.0f/s, delivered %,.0f datagrams/s (%.0f Mbit/s), %.2f%% dropped%n",
                        sent / secs, got / secs, got * SIZE * 8 / secs / 1e6, 100.0 * (sent - got) / Math.max(1, sent));
                a.close();
                b.close();
                counter.join(2000);
            } finally {
                a.close();
                b.close();
            }
        } finally {
            for (RvServer s : servers) s.stop();
        }
    }

    // ---- the rendezvous alone

    private static void awaitUp(int port) throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (ForwardBench.get("http://127.0.0.1:" + port + "/").isEmpty() && System.nanoTime() < deadline) Thread.sleep(100);
    }

    private static RawWebSocket session(int port, String id) throws Exception {
        RawWebSocket ws = RawWebSocket.connect(port, id, new byte[0], "Sec-WebSocket-Protocol: " + RelayFrame.SUBPROTOCOL + "\r\n");
        ws.readSkippingPings();                                         // relay_budget
        ws.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "127.0.0.1", "udp_port", 9)));
        ws.readSkippingPings();                                         // the ack
        ws.socket.setSoTimeout(0);
        return ws;
    }

    /** A client frame of {@code payload}, masked with the all-zero key (legal, and the same frame can be written again and again). */
    private static byte[] zeroMasked(byte[] payload) {
        ByteBuffer f = ByteBuffer.allocate(14 + payload.length);
        f.put((byte) 0x82);
        if (payload.length <= 0xFFFF) f.put((byte) (0x80 | 126)).putShort((short) payload.length);
        else f.put((byte) (0x80 | 127)).putLong(payload.length);
        f.putInt(0).put(payload);
        return java.util.Arrays.copyOf(f.array(), f.position());
    }

    private static void rendezvousAlone() throws Exception {
        int port = Ports.freeTcp();
        Path dir = Files.createTempDirectory("relay-bench");
        Process rv = ForwardBench.start("rendezvous", Map.of("PORT", String.valueOf(port), "STUN_UDP_PORT", "0", "BIND_ADDRESS", "127.0.0.1",
                "RELAY_BYTES_PER_SEC", "1000000000", "RELAY_TOTAL_BYTES_PER_SEC", "2000000000", "P2P_OFFERS_PER_MIN", "1000"), dir.resolve("rv.log"));
        try {
            awaitUp(port);
            System.out.printf(Locale.ROOT, "# WebSocket relay, the rendezvous alone: binary relay sessions, %d-byte datagrams, %d a message, %.0f s%n",
                    SIZE, PER_MESSAGE, SECONDS);
            for (int pairs : new int[] {1, 8}) {
                List<RawWebSocket> all = new ArrayList<>();
                List<Thread> threads = new ArrayList<>();
                AtomicLong received = new AtomicLong();
                AtomicLong sent = new AtomicLong();
                try {
                    long stop = 0;
                    List<Runnable> senders = new ArrayList<>();
                    for (int i = 0; i < pairs; i++) {
                        RawWebSocket a = session(port, "rb" + pairs + "-a" + i);
                        RawWebSocket b = session(port, "rb" + pairs + "-b" + i);
                        all.add(a);
                        all.add(b);
                        a.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", "rb" + pairs + "-b" + i)));
                        long pair = Long.parseUnsignedLong((String) Json.parseObject(a.readSkippingPings().text()).get("pair_id"), 16);
                        b.readSkippingPings();
                        ByteBuffer m = ByteBuffer.allocate(1 + PER_MESSAGE * (RelayFrame.RECORD_HEADER + SIZE));
                        RelayFrame.begin(m);
                        for (int k = 0; k < PER_MESSAGE; k++) RelayFrame.append(m, pair, new byte[SIZE], 0, SIZE);
                        byte[] frame = zeroMasked(m.array());
                        threads.add(Thread.ofPlatform().daemon().start(() -> count(b, received)));
                        senders.add(() -> {
                            try {
                                OutputStream out = a.socket.getOutputStream();
                                long end = System.nanoTime() + (long) (SECONDS * 1e9);
                                while (System.nanoTime() < end) {
                                    out.write(frame);
                                    sent.addAndGet(PER_MESSAGE);
                                }
                            } catch (Exception e) {
                                // the bench ends
                            }
                        });
                    }
                    long before = received.get();
                    long t0 = System.nanoTime();
                    List<Thread> running = new ArrayList<>();
                    for (Runnable s : senders) running.add(Thread.ofPlatform().daemon().start(s));
                    for (Thread t : running) t.join();
                    double secs = (System.nanoTime() - t0) / 1e9;
                    Thread.sleep(300);                                  // what is on its way arrives
                    long got = received.get() - before;
                    System.out.printf(Locale.ROOT, "relay, %d pair%s at once: sent %,.0f/s, delivered %,.0f datagrams/s (%.2f Gbit/s of payload), %.2f%% dropped%n",
                            pairs, pairs == 1 ? "" : "s", sent.get() / secs, got / secs, got * SIZE * 8 / secs / 1e9,
                            100.0 * (sent.get() - got) / Math.max(1, sent.get()));
                } finally {
                    for (RawWebSocket w : all) w.close();
                    for (Thread t : threads) t.join(2000);
                }
            }
            ForwardBench.get("http://127.0.0.1:" + port + "/metrics").lines()
                    .filter(l -> l.startsWith("holepunch_relay_dropped_total{") && !l.endsWith(" 0"))
                    .forEach(l -> System.out.println("  rendezvous counted: " + l));
        } finally {
            rv.destroy();
            if (!rv.waitFor(10, TimeUnit.SECONDS)) rv.destroyForcibly();
        }
    }

    /** Counts the datagrams in the binary frames a receiving session gets, until it ends. */
    private static void count(RawWebSocket ws, AtomicLong received) {
        try {
            DataInputStream in = new DataInputStream(ws.socket.getInputStream());
            byte[] buf = new byte[1 << 20];
            while (true) {
                int b0 = in.readUnsignedByte();
                int b1 = in.readUnsignedByte();
                long len = b1 & 0x7F;
                if (len == 126) len = in.readUnsignedShort();
                else if (len == 127) len = in.readLong();
                in.readFully(buf, 0, (int) len);
                if ((b0 & 0xF) == 0x2) {
                    received.addAndGet(RelayFrame.read(ByteBuffer.wrap(buf, 0, (int) len), (p, m, o, l) -> { }));
                } else if ((b0 & 0xF) == 0x9) {
                    return;                                         // no pings within a run: the server's first comes later
                }
            }
        } catch (Exception e) {
            // closed
        }
    }

    // ---- end to end

    /** Drops (-I) or allows again (-D) UDP from port {@code from} to port {@code to} on loopback, IPv4 and IPv6. */
    private static void iptables(String op, int from, int to) throws Exception {
        portRule(op, String.valueOf(from), String.valueOf(to));
    }

    /** Every drop counter of these processes, "process reason" to count. */
    private static Map<String, Long> drops(Map<String, Integer> where) {
        Map<String, Long> out = new java.util.TreeMap<>();
        where.forEach((name, port) -> ForwardBench.get("http://127.0.0.1:" + port + "/metrics").lines()
                .filter(l -> l.startsWith("holepunch_worker_dropped_total{") || l.startsWith("holepunch_relay_dropped_total{"))
                .forEach(l -> {
                    String reason = l.substring(l.indexOf("reason=\"") + 8, l.indexOf('"', l.indexOf("reason=\"") + 8));
                    out.put(name + " " + reason, (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)));
                }));
        return out;
    }

    private static String state(int health, String peer) {
        return ForwardBench.peers(health).stream().filter(p -> peer.equals(p.get("peer_worker_id"))).map(p -> String.valueOf(p.get("state")))
                .findFirst().orElse("none");
    }

    /** Inserts (-I) or deletes (-D) a loopback rule dropping UDP from port {@code sport} to {@code dport} ("0": any), IPv4 and IPv6. */
    private static void portRule(String op, String sport, String dport) throws Exception {
        for (String tool : new String[] {"iptables", "ip6tables"}) {
            List<String> cmd = new ArrayList<>(List.of(tool, op, "INPUT", "-i", "lo", "-p", "udp"));
            if (!sport.equals("0")) cmd.addAll(List.of("--sport", sport));
            if (!dport.equals("0")) cmd.addAll(List.of("--dport", dport));
            cmd.addAll(List.of("-j", "DROP"));
            new ProcessBuilder(cmd).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static Map<String, Object> peer(int health, String peer) {
        return ForwardBench.peers(health).stream().filter(p -> peer.equals(p.get("peer_worker_id"))).findFirst().orElse(Map.of());
    }

    /** Offers rates to the forward and prints what each delivered, and what was counted where. */
    private static void rates(String path, Path tool, int local, int target, Map<String, Integer> where) throws Exception {
        ForwardBench.blast(tool, local, target, 2000);                     // warm-up of this path
        for (long rate : new long[] {2_000, 10_000, 25_000, 0}) {
            Map<String, Long> before = drops(where);
            long[] r = ForwardBench.blast(tool, local, target, rate);
            Map<String, Long> after = drops(where);
            StringBuilder counted = new StringBuilder();
            after.forEach((k, v) -> {
                long d = v - before.getOrDefault(k, 0L);
                if (d > 0) counted.append(counted.isEmpty() ? "; counted: " : ", ").append(k).append(' ').append(d);
            });
            System.out.printf(Locale.ROOT, "%s, %s: sent %,d, delivered %,.0f/s (%.0f Mbit/s), lost %.2f%%%s%n", path,
                    rate == 0 ? "as fast as the sender can" : String.format(Locale.ROOT, "%,d/s offered", rate), r[0],
                    r[1] / ForwardBench.SECONDS, r[1] * SIZE * 8 / ForwardBench.SECONDS / 1e6, r[0] == 0 ? 0 : 100.0 * (r[0] - r[1]) / r[0], counted);
        }
    }

    /** Blasts a little (traffic makes a loss noticed) until worker a's path to b is in {@code state} with {@code technique}. */
    private static boolean await(Path tool, int local, int target, int health, String state, String technique) throws Exception {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
            Map<String, Object> p = peer(health, "relay-b");
            if (state.equals(p.get("state")) && java.util.Objects.equals(technique, p.get("technique"))) return true;
            ForwardBench.blast(tool, local, target, 200);
        }
        return false;
    }

    private static void endToEnd() throws Exception {
        if (!"0".equals(new String(new ProcessBuilder("id", "-u").start().getInputStream().readAllBytes()).trim())) {
            System.out.println("relay end to end: dropping the direct path needs root (iptables); skipped");
            return;
        }
        Path tool = ForwardBench.blaster();
        int[] tcp = Ports.freeTcp(3), udp = Ports.freeUdp(5);          // distinct: a run once had worker b's PORT the rendezvous's
        int rvPort = tcp[0], healthA = tcp[1], healthB = tcp[2];
        int stunPort = udp[0], local = udp[1], target = udp[2], udpA = udp[3], udpB = udp[4];
        Path dir = Files.createTempDirectory("relay-bench");
        List<Process> procs = new ArrayList<>();
        List<String[]> rules = new ArrayList<>();
        try (holepunch.testing.Coturn coturn = new holepunch.testing.Coturn("127.0.0.1", "bench-secret")) {
            procs.add(ForwardBench.start("rendezvous", Map.of("PORT", String.valueOf(rvPort), "STUN_UDP_PORT", String.valueOf(stunPort),
                    "BIND_ADDRESS", "127.0.0.1", "RELAY_BYTES_PER_SEC", "1000000000", "RELAY_TOTAL_BYTES_PER_SEC", "2000000000",
                    "TURN_URLS", coturn.url(), "TURN_SECRET", "bench-secret"), dir.resolve("rv.log")));
            awaitUp(rvPort);
            Map<String, String> common = Map.of("RENDEZVOUS_SERVICE_URL", "http://127.0.0.1:" + rvPort, "STUN_HOST_ENV", "127.0.0.1",
                    "STUN_PORT_ENV", String.valueOf(stunPort), "IP_ECHO_URL", "", "P2P_KEEPALIVE_SEC", "1", "P2P_DEADLINE_MS", "2000");
            Map<String, String> b = new HashMap<>(common);
            b.putAll(Map.of("WORKER_ID", "relay-b", "PORT", String.valueOf(healthB), "INTERNAL_UDP_PORT_ENV", String.valueOf(udpB),
                    "P2P_ALLOW", "relay-a", "FORWARD_ALLOW", "127.0.0.1:" + target));
            Map<String, String> a = new HashMap<>(common);
            a.putAll(Map.of("WORKER_ID", "relay-a", "PORT", String.valueOf(healthA), "INTERNAL_UDP_PORT_ENV", String.valueOf(udpA),
                    "FORWARD", local + "=relay-b:127.0.0.1:" + target, "P2P_CONNECT_TO", "relay-b", "P2P_RETRY_DIRECT_SEC", "3600"));
            procs.add(ForwardBench.start("worker", b, dir.resolve("b.log")));
            procs.add(ForwardBench.start("worker", a, dir.resolve("a.log")));
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!"direct".equals(state(healthA, "relay-b")) && System.nanoTime() < deadline) Thread.sleep(200);
            if (!"direct".equals(state(healthA, "relay-b"))) {
                System.out.println("relay end to end: the pair did not go direct first; skipped (logs in " + dir + ")");
                return;
            }
            Map<String, Integer> where = Map.of("worker a", healthA, "worker b", healthB, "rendezvous", rvPort);
            ForwardBench.blast(tool, local, target, 2000);                     // warm-up (JIT)
            System.out.printf(Locale.ROOT, "# end to end through two workers, %d-byte datagrams, %.0f s per rate, 2 cores shared with sender,"
                    + " receiver, coturn and the rendezvous%n", SIZE, ForwardBench.SECONDS);
            long[] direct = ForwardBench.blast(tool, local, target, 0);
            System.out.printf(Locale.ROOT, "direct path, as fast as the sender can: %,.0f/s delivered (%.2f Gbit/s)%n",
                    direct[1] / ForwardBench.SECONDS, direct[1] * SIZE * 8 / ForwardBench.SECONDS / 1e9);
            for (String[] r : new String[][] {{String.valueOf(udpA), String.valueOf(udpB)}, {String.valueOf(udpB), String.valueOf(udpA)}}) {
                iptables("-I", Integer.parseInt(r[0]), Integer.parseInt(r[1]));
                rules.add(r);
            }
            if (await(tool, local, target, healthA, "relay", "turn")) {
                System.out.println("direct path dropped with iptables: worker a is on TURN via " + peer(healthA, "relay-b").get("remote"));
                rates("TURN (coturn)", tool, local, target, where);
            } else {
                System.out.println("direct path dropped: worker a did not take TURN: " + peer(healthA, "relay-b"));
            }
            // And without TURN: coturn's port dropped too, so the pair falls back to the WebSocket relay.
            for (String[] r : new String[][] {{"0", String.valueOf(coturn.port)}, {String.valueOf(coturn.port), "0"}}) {
                portRule("-I", r[0], r[1]);
                rules.add(new String[] {"coturn", r[0], r[1]});
            }
            if (await(tool, local, target, healthA, "relay", null)) {
                System.out.println("coturn dropped too: worker a is on the WebSocket relay");
                rates("WebSocket relay", tool, local, target, where);
            } else {
                System.out.println("coturn dropped: worker a did not fall back to the WebSocket relay: " + peer(healthA, "relay-b"));
            }
            System.out.println("worker a: rendezvous session " + (ForwardBench.get("http://127.0.0.1:" + healthA + "/status")
                    .contains("\"rendezvous_connected\":true") ? "up" : "DOWN") + ", connect attempts "
                    + ForwardBench.get("http://127.0.0.1:" + healthA + "/metrics").lines()
                    .filter(l -> l.startsWith("holepunch_worker_connect_attempts_total")).findFirst().orElse("?"));
        } finally {
            for (String[] r : rules) {
                if (r[0].equals("coturn")) {
                    portRule("-D", r[1], r[2]);
                } else {
                    iptables("-D", Integer.parseInt(r[0]), Integer.parseInt(r[1]));
                }
            }
            for (Process p : procs) {
                p.destroy();
                if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly();
            }
        }
    }
}
