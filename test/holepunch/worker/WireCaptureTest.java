package holepunch.worker;

import holepunch.testing.TestWorkers;
import holepunch.testing.Await;
import holepunch.testing.FakeStunServer;
import holepunch.testing.PacketCapture;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import holepunch.testing.UdpEcho;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 10: application data is never in clear on the wire. A unique marker is forwarded over a
 * direct path and over the relay while {@code tcpdump} (Debian's) captures the workers' UDP
 * sockets and the rendezvous's TCP port on loopback; the marker must not appear in that capture,
 * while a second capture of the application's own leg (the echo service) shows it does see it.
 */
@org.junit.jupiter.api.Tag("slow")
class WireCaptureTest {

    private static Worker worker(TestRendezvous rv, String id, int stunPort, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("P2P_DEADLINE_MS", "500"));
        env.putAll(extra);
        return TestWorkers.start(rv, stunPort, id, env);
    }

    private static Map<String, Object> peer(Worker w) {
        return TestWorkers.peer(w);
    }

    /** Sends {@code marker} into a forwarding port until the echo of it comes back (bounded). */
    private static void forwardAndAwaitEcho(int forwardPort, String marker) throws Exception {
        try (DatagramSocket app = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            app.setSoTimeout(300);
            byte[] msg = marker.getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < 30; i++) {
                app.send(new DatagramPacket(msg, msg.length, new InetSocketAddress("127.0.0.1", forwardPort)));
                DatagramPacket p = new DatagramPacket(new byte[2048], 2048);
                try {
                    app.receive(p);
                    assertEquals(marker, new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8));
                    return;
                } catch (java.net.SocketTimeoutException e) {
                    // again
                }
            }
            throw new AssertionError("the marker never came back through the forward");
        }
    }

    @Test
    void marker_neverAppearsOnTheWire_overADirectPathOrTheRelay() throws Exception {
        String marker = "HOLEPUNCH-MARKER-" + UUID.randomUUID();
        try (UdpEcho echo = new UdpEcho();
             FakeStunServer bogus = new FakeStunServer();
             TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp())))) {
            int echoPort = echo.port();
            bogus.pointNowhere();     // nobody listens there: no direct path
            int fwdDirect = Ports.freeUdp();
            int fwdRelay = Ports.freeUdp();
            String allow = "127.0.0.1:" + echoPort;
            try (Worker b = worker(rv, "cap-b", rv.server.stunPort(), Map.of("P2P_ALLOW", "cap-a", "FORWARD_ALLOW", allow));
                 Worker a = worker(rv, "cap-a", rv.server.stunPort(), Map.of("FORWARD", fwdDirect + "=cap-b:" + allow));
                 Worker d = worker(rv, "cap-d", bogus.port(), Map.of("P2P_ALLOW", "cap-c", "FORWARD_ALLOW", allow));
                 Worker c = worker(rv, "cap-c", bogus.port(), Map.of("FORWARD", fwdRelay + "=cap-d:" + allow))) {
                Await.until(Duration.ofSeconds(30), "a direct, encrypted path a-b and a relayed, encrypted one c-d", () ->
                        "direct".equals(peer(a).get("state")) && Boolean.TRUE.equals(peer(a).get("encrypted"))
                                && "relay".equals(peer(c).get("state")) && Boolean.TRUE.equals(peer(c).get("encrypted")));
                List<String> ports = new ArrayList<>();
                for (Worker w : List.of(a, b, c, d)) ports.add("udp port " + w.udpPort());
                ports.add("tcp port " + rv.port);
                try (PacketCapture path = PacketCapture.loopback(String.join(" or ", ports)); PacketCapture app = PacketCapture.loopback("udp port " + echoPort)) {
                    forwardAndAwaitEcho(fwdDirect, marker);
                    forwardAndAwaitEcho(fwdRelay, marker);
                    byte[] onPath = path.stop();
                    byte[] onAppLeg = app.stop();
                    if (System.getenv("HP_KEEP_CAPTURE") != null) {
                        Files.write(Path.of("/tmp/hp-path.pcap"), onPath);
                        Files.write(Path.of("/tmp/hp-app.pcap"), onAppLeg);
                    }
                    assertTrue(PacketCapture.revealed(onAppLeg, marker), "the capture sees the marker where it is in clear (the service's own leg): "
                            + onAppLeg.length + " bytes captured there, " + onPath.length + " on the path");
                    byte[] framed = ("{\"type\":\"relay_data\",\"data\":\"" + java.util.Base64.getEncoder().encodeToString(
                            ("xy" + marker + "z").getBytes(StandardCharsets.UTF_8)) + "\"}").getBytes(StandardCharsets.US_ASCII);
                    assertTrue(PacketCapture.revealed(framed, marker), "the detector finds a marker relayed in clear, base64-encoded");
                    // Four datagrams or frames at least (each marker there and back; binary relay frames are small): beyond the
                    // capture file's 24-byte header, over 60 bytes each.
                    assertTrue(onPath.length > 24 + 4 * 60, "the path capture holds the forwarded traffic: " + onPath.length + " bytes");
                    assertFalse(PacketCapture.revealed(onPath, marker), "the marker crossed a peer path or the relay in clear");
                }
                assertTrue(a.metrics().value("holepunch_worker_path_bytes_total", "peer", "cap-b", "path", "direct", "direction", "sent") > 0,
                        "the a-b marker went over the direct path");
                assertTrue(c.metrics().value("holepunch_worker_path_bytes_total", "peer", "cap-d", "path", "relay", "direction", "sent") > 0,
                        "the c-d marker went over the relay");
            }
        }
    }
}
