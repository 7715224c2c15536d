package holepunch.bench;

import holepunch.lab.Lab;
import holepunch.testing.Await;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Peer-path figures in the NAT lab (root only): time from request_p2p_connection to direct, and
 * UDP forwarding latency and throughput over a direct path (cone-cone) and over the relay
 * (symmetric-symmetric).
 */
final class LabBench {
    private LabBench() {
    }

    static final String CLIENT = """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
            addr = ('127.0.0.1', 5000)
            for i in range(60):
                s.sendto(b'w', addr)
                try:
                    s.recvfrom(4096); break
                except socket.timeout:
                    pass
            lat = []
            for i in range(300):
                t = time.perf_counter(); s.sendto(b'x' * 64, addr)
                try:
                    s.recvfrom(4096); lat.append((time.perf_counter() - t) * 1000)
                except socket.timeout:
                    pass
            lat.sort()
            s.settimeout(0.3); payload = b'y' * 1000; n = 0; t0 = time.time(); end = t0 + 3
            for i in range(32): s.sendto(payload, addr)
            while time.time() < end:
                try:
                    s.recvfrom(4096); n += 1; s.sendto(payload, addr)
                except socket.timeout:
                    for i in range(32): s.sendto(payload, addr)
            print(len(lat), lat[len(lat) // 2], lat[max(0, int(len(lat) * 0.99) - 1)], n / (time.time() - t0))
            """;

    static void run() throws Exception {
        scenario("direct (cone-cone)", "cone", "direct");
        scenario("relay (symmetric-symmetric)", "symmetric", "relay");
    }

    @SuppressWarnings("unchecked")
    private static void scenario(String name, String nat, String expected) throws Exception {
        try (Lab lab = new Lab(nat, nat)) {
            lab.rendezvous();
            lab.udpEcho("hp-h2", 7000);
            lab.worker("hp-h2", "lab-b", null, Map.of());
            lab.worker("hp-h1", "lab-a", null, Map.of("FORWARD", "5000=lab-b:127.0.0.1:7000"));
            Await.until(Duration.ofSeconds(60), Lab.POLL, name, () -> expected.equals(lab.peer("hp-h1", "10.1.0.2").get("state")));
            if (expected.equals("direct")) {
                List<Map<String, Object>> pairs = (List<Map<String, Object>>) lab.getJson("hp-pub",
                        "http://203.0.113.1:8080/debug/list_workers").get("pairs");
                Map<String, Object> pair = pairs.getFirst();
                Map<String, Object> outcome = (Map<String, Object>) ((Map<String, Object>) pair.get("outcomes")).get("lab-a");
                System.out.printf(Locale.ROOT, "p2p %s: %d ms from request_p2p_connection to direct (rendezvous clock)%n",
                        name, (Long) outcome.get("at") - (Long) pair.get("created_ms"));
            }
            String[] f = lab.python("hp-h1", 120, CLIENT).trim().split("\\s+");
            System.out.printf(Locale.ROOT, "forwarding over %s: round trip p50 %.2f ms, p99 %.2f ms (%s of 300 answered); %.0f datagrams/s of 1000 bytes echoed (32 outstanding)%n",
                    name, Double.parseDouble(f[1]), Double.parseDouble(f[2]), f[0], Double.parseDouble(f[3]));
        }
    }
}
