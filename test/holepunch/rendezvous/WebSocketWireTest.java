package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.RawWebSocket.Frame;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RFC 6455 on the wire against the running rendezvous: every error with its close code. */
class WebSocketWireTest {
    static TestRendezvous rv;

    @BeforeAll
    static void start() throws Exception {
        rv = new TestRendezvous(Map.of("MAX_MESSAGE_BYTES", "4096"));
    }

    @AfterAll
    static void stop() {
        rv.close();
    }

    /** Sends {@code frames} and expects a Close frame with {@code code}, then the end of TCP. */
    private static void expectClose(int code, String id, byte[]... frames) throws Exception {
        try (RawWebSocket ws = RawWebSocket.connect(rv.port, id)) {
            ws.send(frames);
            Frame close = ws.readClose();
            assertEquals(code, close.closeCode(), "close reason: " + close.closeReason());
            assertTrue(ws.awaitEof(), "server must end the TCP connection after failing it");
        }
        Await.until(Duration.ofSeconds(5), id + " removed", () -> rv.worker(id) == null);
    }

    @Test
    void unmaskedFrame_closes1002() throws Exception {
        expectClose(1002, "wire-unmasked", RawWebSocket.frame(0x1, true, "{}".getBytes(), false, -1, 0));
    }

    @Test
    void reservedBitsAndOpcodes_close1002() throws Exception {
        expectClose(1002, "wire-rsv", RawWebSocket.frame(0x1, true, "{}".getBytes(), true, -1, 2));
        expectClose(1002, "wire-op3", RawWebSocket.frame(0x3, true, new byte[0]));
        expectClose(1002, "wire-opB", RawWebSocket.frame(0xB, true, new byte[0]));
    }

    @Test
    void badControlFrames_close1002() throws Exception {
        expectClose(1002, "wire-bigping", RawWebSocket.frame(0x9, true, new byte[126]));
        expectClose(1002, "wire-fragping", RawWebSocket.frame(0x9, false, new byte[1]));
        expectClose(1002, "wire-close1", RawWebSocket.frame(0x8, true, new byte[] {1}));
        expectClose(1002, "wire-close1005", RawWebSocket.close(1005, new byte[0]));
    }

    @Test
    void nonMinimalLength_closes1002() throws Exception {
        expectClose(1002, "wire-nonmin", RawWebSocket.frame(0x1, true, "{}".getBytes(), true, 2, 0));
    }

    @Test
    void fragmentationErrors_close1002() throws Exception {
        expectClose(1002, "wire-cont", RawWebSocket.frame(0x0, true, "{}".getBytes()));
        expectClose(1002, "wire-interleave", RawWebSocket.frame(0x1, false, "{".getBytes()), RawWebSocket.text("{}"));
    }

    @Test
    void binaryFrame_closes1003() throws Exception {
        expectClose(1003, "wire-binary", RawWebSocket.frame(0x2, true, new byte[] {1, 2, 3}));
    }

    @Test
    void invalidUtf8_closes1007_alsoAcrossFragmentsAndInCloseReason() throws Exception {
        expectClose(1007, "wire-utf8", RawWebSocket.frame(0x1, true, new byte[] {'"', (byte) 0xFE}));
        expectClose(1007, "wire-utf8-frag", RawWebSocket.frame(0x1, false, new byte[] {(byte) 0xE2, (byte) 0x82}),
                RawWebSocket.frame(0x0, true, new byte[] {'x'}));
        expectClose(1007, "wire-utf8-close", RawWebSocket.close(1000, new byte[] {(byte) 0xC3}));
    }

    @Test
    void oversizeMessage_closes1009FromTheHeaderWithoutTheBody() throws Exception {
        // The header announces 1 MB against a 4 KB limit; no body is ever sent.
        byte[] header = {(byte) 0x81, (byte) (0x80 | 127), 0, 0, 0, 0, 0, 0x10, 0, 0, 9, 9, 9, 9};
        expectClose(1009, "wire-big", header);
    }

    @Test
    void fragmentedTextWithInterleavedPing_isAssembledAndPingIsAnswered() throws Exception {
        try (RawWebSocket ws = RawWebSocket.connect(rv.port, "wire-frag")) {
            String msg = Json.write(Json.obj("type", "echo_request", "payload", "fragmented"));
            byte[] b = msg.getBytes(StandardCharsets.UTF_8);
            ws.send(RawWebSocket.frame(0x1, false, java.util.Arrays.copyOfRange(b, 0, 10)),
                    RawWebSocket.frame(0x9, true, new byte[] {42, 43}),
                    RawWebSocket.frame(0x0, false, java.util.Arrays.copyOfRange(b, 10, 20)),
                    RawWebSocket.frame(0xA, true, new byte[] {1}),              // unsolicited pong: ignored
                    RawWebSocket.frame(0x0, true, java.util.Arrays.copyOfRange(b, 20, b.length)));
            Frame pong = ws.readSkippingPings();
            assertEquals(0xA, pong.opcode());
            assertArrayEquals(new byte[] {42, 43}, pong.payload());
            Frame reply = ws.readSkippingPings();
            assertEquals(0x1, reply.opcode());
            assertEquals("fragmented", Json.parseObject(reply.text()).get("original_payload"));
        }
    }

    @Test
    void messageSentWithTheHandshake_isNotLost() throws Exception {
        byte[] first = RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", "early")));
        try (RawWebSocket ws = RawWebSocket.connect(rv.port, "wire-early", first)) {
            assertEquals("early", Json.parseObject(ws.readSkippingPings().text()).get("original_payload"));
        }
    }

    @Test
    void clientClose_isEchoedWithItsCodeThenTcpEnds() throws Exception {
        try (RawWebSocket ws = RawWebSocket.connect(rv.port, "wire-close")) {
            ws.send(RawWebSocket.close(4000, "done".getBytes()));
            Frame echo = ws.readClose();
            assertEquals(4000, echo.closeCode());
            assertEquals("done", echo.closeReason(), "the reason is echoed with the code");
            assertTrue(ws.awaitEof());
        }
        Await.until(Duration.ofSeconds(5), "removed", () -> rv.worker("wire-close") == null);
    }

    @Test
    void emptyClose_isAnsweredWithEmptyClose() throws Exception {
        try (RawWebSocket ws = RawWebSocket.connect(rv.port, "wire-close-empty")) {
            ws.send(RawWebSocket.frame(0x8, true, new byte[0]));
            assertEquals(0, ws.readClose().payload().length);
            assertTrue(ws.awaitEof());
        }
    }

    @Test
    void tcpReset_removesTheEntry() throws Exception {
        RawWebSocket ws = RawWebSocket.connect(rv.port, "wire-reset");
        assertTrue(rv.worker("wire-reset") != null);
        ws.socket.setSoLinger(true, 0);
        ws.close();
        Await.until(Duration.ofSeconds(5), "removed after reset", () -> rv.worker("wire-reset") == null);
    }

    @Test
    void invalidWorkerId_isRefusedWith400NamingTheRule() throws Exception {
        String longId = "x".repeat(65);
        for (String id : new String[] {"bad%20id", longId, "a%2Fb", "sp@ce"}) {
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, "GET /ws/register/" + id + " HTTP/1.1\r\nHost: x\r\n"
                    + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")) {
                assertTrue(ws.responseHead.startsWith("HTTP/1.1 400"), id + ": " + ws.responseHead);
                assertTrue(ws.readBody().contains("worker id"));
            }
        }
    }

    @Test
    void badHandshakes_getTheirHttpStatus() throws Exception {
        String base = "GET /ws/register/hs HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
        try (RawWebSocket ws = RawWebSocket.raw(rv.port, base + "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")) {
            assertTrue(ws.responseHead.startsWith("HTTP/1.1 426"), ws.responseHead);
            assertTrue(ws.responseHead.toLowerCase().contains("sec-websocket-version: 13"), ws.responseHead);
        }
        try (RawWebSocket ws = RawWebSocket.raw(rv.port, base + "Sec-WebSocket-Version: 13\r\n\r\n")) {
            assertTrue(ws.responseHead.startsWith("HTTP/1.1 400"), ws.responseHead);
        }
        try (RawWebSocket ws = RawWebSocket.raw(rv.port, "POST /ws/register/hs HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")) {
            assertTrue(ws.responseHead.startsWith("HTTP/1.1 405"), ws.responseHead);
        }
        try (RawWebSocket ws = RawWebSocket.raw(rv.port, "GET /ws/register/hs HTTP/1.1\r\nHost: x\r\n\r\n")) {
            assertTrue(ws.responseHead.startsWith("HTTP/1.1 426"), ws.responseHead);
        }
    }

    @Test
    void stalledHandshake_isDroppedWithinTheTimeout() throws Exception {
        // The test JVM runs with sun.net.httpserver.maxReqTime=2 (seconds); see the Makefile.
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", rv.port), 5000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write("GET /ws/register/slow HTTP/1.1\r\nHost: x\r\n".getBytes());   // never finished
            long t0 = System.nanoTime();
            int r;
            try {
                r = s.getInputStream().read();
            } catch (java.net.SocketTimeoutException e) {
                throw new AssertionError("still open after the 10 s read timeout: the handshake timeout did not act", e);
            } catch (IOException e) {
                r = -1;                                   // reset by the server: closed, as wanted
            }
            long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
            assertEquals(-1, r, "connection should be closed, not answered");
            assertTrue(seconds < 9, "dropped after " + seconds + " s");
        }
    }

    @Test
    void readerThatNeverReads_doesNotDelayOtherSessions() throws Exception {
        try (RawWebSocket stalled = RawWebSocket.connect(rv.port, "wire-stalled");
             RawWebSocket other = RawWebSocket.connect(rv.port, "wire-other")) {
            stalled.socket.setReceiveBufferSize(4096);
            // Ask for many echoes and never read them: the server's queue for it fills, and the
            // server stops reading from it; this sender then blocks in write until the socket closes.
            byte[] echo = RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", "p".repeat(3000))));
            Thread pump = Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 0; i < 2000; i++) stalled.send(echo);
                } catch (IOException e) {
                    // the socket was closed under us: expected at the end of the test
                }
            });
            for (int i = 0; i < 100; i++) {
                other.send(RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", i))));
                assertEquals((long) i, Json.parseObject(other.readSkippingPings().text()).get("original_payload"));
            }
            stalled.close();
            pump.join(10_000);
            assertTrue(!pump.isAlive(), "the stalled sender ends once its socket is closed");
        }
    }
}
