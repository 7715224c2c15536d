package holepunch.worker;

import holepunch.testing.Await;
import holepunch.testing.Coturn;
import holepunch.testing.FakeStunServer;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import holepunch.testing.TestWorkers;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TURN as the tier between direct and the WebSocket relay (issue 22), with Debian's coturn on
 * loopback and credentials the rendezvous makes (TURN_URLS, TURN_SECRET). The two workers' STUN
 * answer points where nobody listens, so nothing direct can answer: the pair ends on TURN, traffic
 * crosses it, and with no TURN server it ends on the WebSocket relay.
 */
@org.junit.jupiter.api.Tag("slow")
class TurnPathTest {
    private static Worker worker(TestRendezvous rv, FakeStunServer stun, String id, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("P2P_DEADLINE_MS", "1500"));
        env.putAll(extra);
        return TestWorkers.start(rv, stun.port(), id, env);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> turnStatus(Worker w) {
        return (Map<String, Object>) w.status().get("turn");
    }

    /** Whether {@code w} holds a TURN allocation over {@code transport} (one snapshot of its status). */
    private static boolean allocatedOver(Worker w, String transport) {
        Map<String, Object> t = turnStatus(w);
        return t != null && transport.equals(t.get("transport")) && t.get("relayed_address") != null;
    }

    @Test
    void nothingDirect_thePairEndsOnTurn_andTrafficCrossesIt() throws Exception {
        try (FakeStunServer nowhere = new FakeStunServer();
             Coturn coturn = new Coturn("127.0.0.1", "lab-secret");
             RelayDataPlaneTest.Sink sink = new RelayDataPlaneTest.Sink();
             TestRendezvous rv = new TestRendezvous(Map.of("TURN_URLS", coturn.url(), "TURN_SECRET", "lab-secret"))) {
            nowhere.pointNowhere();
            int forward = Ports.freeUdp();
            try (Worker d = worker(rv, nowhere, "tp-d", Map.of("P2P_ALLOW", "tp-c", "FORWARD_ALLOW", sink.address()));
                 Worker c = worker(rv, nowhere, "tp-c", Map.of("FORWARD", forward + "=tp-d:" + sink.address(), "P2P_CONNECT_TO", "tp-d"))) {
                Await.until(Duration.ofSeconds(30), "both workers hold a TURN allocation", () -> allocatedOver(c, "udp") && allocatedOver(d, "udp"));
                Await.until(Duration.ofSeconds(30), "the pair on TURN", () -> {
                    Map<String, Object> p = TestWorkers.peer(c);
                    return "turn".equals(p.get("technique")) && Boolean.TRUE.equals(p.get("encrypted"));
                });
                Map<String, Object> p = TestWorkers.peer(c);
                assertEquals("relay", p.get("state"), "relayed, by the TURN server");
                assertNotNull(p.get("detail"));
                long before = c.metrics().value("holepunch_worker_path_bytes_total", "peer", "tp-d", "path", "relay", "direction", "sent");
                RelayDataPlaneTest.stream(forward, 1000, 1000);
                long got = RelayDataPlaneTest.settled(sink, 1000);
                assertTrue(got >= 990, "at most 1 % lost over TURN: " + got + " of 1000");
                assertEquals(before, c.metrics().value("holepunch_worker_path_bytes_total", "peer", "tp-d", "path", "relay", "direction", "sent"),
                        "nothing went over the WebSocket relay");
                assertTrue(c.metrics().value("holepunch_worker_path_bytes_total", "peer", "tp-d", "path", "direct", "direction", "sent") > 0,
                        "it went over the UDP path (through TURN)");
            }
            try {
                Await.until(Duration.ofSeconds(10), "coturn saw the allocations released", () -> coturn.output().contains("lifetime=0")
                        || coturn.output().toLowerCase().contains("delete"));
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "\n" + coturn.output(), e);
            }
        }
    }

    /**
     * A TURN server that carries less than the pair offers (coturn's {@code --max-bps}, 150 KB/s a session: about
     * 120 datagrams of 1,200 bytes a second), offered 800 a second. Before, the sender sealed and sent all of it and
     * the server dropped five in six. Now the receiver's receipts say how much arrived, so the sender paces the
     * path to that: the excess is dropped at the sender before it is sealed, counted ({@code turn_paced}), and the
     * pair stays on TURN. A slower stream afterwards is not held back.
     */
    @Test
    void aTurnServerCarryingLessThanOffered_theSenderPacesToWhatArrives() throws Exception {
        try (FakeStunServer nowhere = new FakeStunServer();
             Coturn coturn = new Coturn("127.0.0.1", "lab-secret", "--max-bps", "150000");
             RelayDataPlaneTest.Sink sink = new RelayDataPlaneTest.Sink();
             TestRendezvous rv = new TestRendezvous(Map.of("TURN_URLS", coturn.url(), "TURN_SECRET", "lab-secret"))) {
            nowhere.pointNowhere();
            int forward = Ports.freeUdp();
            try (Worker d = worker(rv, nowhere, "tq-d", Map.of("P2P_ALLOW", "tq-c", "FORWARD_ALLOW", sink.address()));
                 Worker c = worker(rv, nowhere, "tq-c", Map.of("FORWARD", forward + "=tq-d:" + sink.address(), "P2P_CONNECT_TO", "tq-d"))) {
                Await.until(Duration.ofSeconds(60), "the pair on TURN", () -> "turn".equals(TestWorkers.peer(c).get("technique")));
                long sentBefore = c.metrics().value("holepunch_worker_path_bytes_total", "peer", "tq-d", "path", "direct", "direction", "sent");
                RelayDataPlaneTest.stream(forward, 4000, 800);
                RelayDataPlaneTest.settled(sink, 4000);
                long paced = c.metrics().value("holepunch_worker_dropped_total", "reason", "turn_paced");
                long sentToTurn = (c.metrics().value("holepunch_worker_path_bytes_total", "peer", "tq-d", "path", "direct", "direction", "sent")
                        - sentBefore) / 1200;
                assertTrue(paced >= 1500, paced + " of 4,000 offered were dropped at the sender (turn_paced), " + sentToTurn
                        + " sent to the TURN server, " + sink.count.get() + " arrived");
                assertTrue(sentToTurn <= 2500, sentToTurn + " of 4,000 were sealed and sent to a server carrying ~120/s");
                assertEquals("turn", TestWorkers.peer(c).get("technique"), "the pair stays on TURN");
                Object rate = TestWorkers.peer(c).get("turn_paced_per_sec");
                assertTrue(rate instanceof Number n && n.longValue() >= 100 && n.longValue() < 800, "/status shows the paced rate: " + rate);
                long before = sink.count.get();
                RelayDataPlaneTest.stream(forward, 100, 50);
                long got = RelayDataPlaneTest.settled(sink, before + 100) - before;
                assertTrue(got >= 95, got + " of 100 arrived at 50 a second, within what the server carries");
                assertTrue(c.metrics().value("holepunch_worker_dropped_total", "reason", "turn_paced") <= paced + 2,
                        "the slower stream is not held back");
                Await.until(Duration.ofSeconds(5), "pacing lifted", () -> TestWorkers.peer(c).get("turn_paced_per_sec") == null);
            }
        }
    }

    /**
     * A network that lets no UDP through to the TURN server: the UDP URI goes unanswered, the TCP
     * one takes over (the same coturn, over a TCP connection), and the pair still ends on TURN.
     */
    @Test
    void noUdpToTheTurnServer_turnOverTcpTakesOver() throws Exception {
        int deadUdp = Ports.freeUdp();                               // the UDP URI: nobody answers there
        try (FakeStunServer nowhere = new FakeStunServer();
             Coturn coturn = new Coturn("127.0.0.1", "tcp-secret");
             RelayDataPlaneTest.Sink sink = new RelayDataPlaneTest.Sink();
             TestRendezvous rv = new TestRendezvous(Map.of("TURN_URLS", "turn:127.0.0.1:" + deadUdp + "?transport=udp,turn:127.0.0.1:"
                     + coturn.port + "?transport=tcp", "TURN_SECRET", "tcp-secret"))) {
            nowhere.pointNowhere();
            int forward = Ports.freeUdp();
            try (Worker d = worker(rv, nowhere, "tt-d", Map.of("P2P_ALLOW", "tt-c", "FORWARD_ALLOW", sink.address()));
                 Worker c = worker(rv, nowhere, "tt-c", Map.of("FORWARD", forward + "=tt-d:" + sink.address(), "P2P_CONNECT_TO", "tt-d"))) {
                Await.until(Duration.ofSeconds(40), "both workers allocated over TCP", () -> allocatedOver(c, "tcp") && allocatedOver(d, "tcp"));
                Await.until(Duration.ofSeconds(60), "the pair on TURN", () -> "turn".equals(TestWorkers.peer(c).get("technique")));
                RelayDataPlaneTest.stream(forward, 500, 500);
                assertTrue(RelayDataPlaneTest.settled(sink, 500) >= 495, "over TURN on TCP");
            }
        }
    }

    /**
     * TURN over TLS ({@code turns:}) to a coturn whose certificate comes from a CA made here: taken
     * when UDP goes unanswered, with TURN_CA_FILE naming the CA (and the host name checked).
     */
    @Test
    void turnsWithAPrivateCa_carriesThePair(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        holepunch.testing.Tools.require("openssl", "openssl");
        String ec = "ec_paramgen_curve:prime256v1";
        holepunch.testing.Tools.run(30, java.util.List.of("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout",
                dir + "/ca.key", "-out", dir + "/ca.pem", "-days", "2", "-subj", "/CN=holepunch test CA"));
        holepunch.testing.Tools.run(30, java.util.List.of("openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout",
                dir + "/srv.key", "-out", dir + "/srv.csr", "-subj", "/CN=127.0.0.1"));
        java.nio.file.Files.writeString(dir.resolve("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
        holepunch.testing.Tools.run(30, java.util.List.of("openssl", "x509", "-req", "-in", dir + "/srv.csr", "-CA", dir + "/ca.pem",
                "-CAkey", dir + "/ca.key", "-CAcreateserial", "-out", dir + "/srv.crt", "-days", "2", "-extfile", dir + "/ext.cnf"));
        int deadUdp = Ports.freeUdp();
        try (FakeStunServer nowhere = new FakeStunServer();
             Coturn coturn = Coturn.withTls("127.0.0.1", "tls-secret", dir.resolve("srv.crt"), dir.resolve("srv.key"));
             RelayDataPlaneTest.Sink sink = new RelayDataPlaneTest.Sink();
             TestRendezvous rv = new TestRendezvous(Map.of("TURN_URLS", "turn:127.0.0.1:" + deadUdp + "?transport=udp,turns:127.0.0.1:"
                     + coturn.tlsPort, "TURN_SECRET", "tls-secret"))) {
            nowhere.pointNowhere();
            int forward = Ports.freeUdp();
            String ca = dir.resolve("ca.pem").toString();
            try (Worker d = worker(rv, nowhere, "ts-d", Map.of("P2P_ALLOW", "ts-c", "FORWARD_ALLOW", sink.address(), "TURN_CA_FILE", ca));
                 Worker c = worker(rv, nowhere, "ts-c", Map.of("FORWARD", forward + "=ts-d:" + sink.address(), "P2P_CONNECT_TO", "ts-d",
                         "TURN_CA_FILE", ca))) {
                Await.until(Duration.ofSeconds(40), "both workers allocated over TLS", () -> allocatedOver(c, "tls") && allocatedOver(d, "tls"));
                Await.until(Duration.ofSeconds(60), "the pair on TURN", () -> "turn".equals(TestWorkers.peer(c).get("technique")));
                RelayDataPlaneTest.stream(forward, 300, 300);
                assertTrue(RelayDataPlaneTest.settled(sink, 300) >= 297, "over TURN on TLS");
            }
        }
    }

    @Test
    void noTurnServer_thePairEndsOnTheWebSocketRelay_withOneLine() throws Exception {
        int deadPort = Ports.freeUdpAndTcp();                           // nobody answers TURN there
        try (FakeStunServer nowhere = new FakeStunServer();
             RelayDataPlaneTest.Sink sink = new RelayDataPlaneTest.Sink();
             TestRendezvous rv = new TestRendezvous(Map.of("TURN_URLS", "turn:127.0.0.1:" + deadPort, "TURN_SECRET", "x"))) {
            nowhere.pointNowhere();
            int forward = Ports.freeUdp();
            try (Worker d = worker(rv, nowhere, "tn-d", Map.of("P2P_ALLOW", "tn-c", "FORWARD_ALLOW", sink.address()));
                 Worker c = worker(rv, nowhere, "tn-c", Map.of("FORWARD", forward + "=tn-d:" + sink.address(), "P2P_CONNECT_TO", "tn-d"))) {
                Await.until(Duration.ofSeconds(30), "the pair on the WebSocket relay", () -> {
                    Map<String, Object> p = TestWorkers.peer(c);
                    return "relay".equals(p.get("state")) && Boolean.TRUE.equals(p.get("encrypted"));
                });
                assertNull(TestWorkers.peer(c).get("technique"));
                RelayDataPlaneTest.stream(forward, 200, 1000);
                assertTrue(RelayDataPlaneTest.settled(sink, 200) >= 198);
                Await.until(Duration.ofSeconds(20), "the TURN failure is said", () -> {
                    Map<String, Object> t = turnStatus(c);
                    return t != null && t.get("last_error") != null;
                });
                String error = String.valueOf(turnStatus(c).get("last_error"));
                assertTrue(error.contains("no answer") || error.contains("cannot connect"), error);
            }
        }
    }
}
