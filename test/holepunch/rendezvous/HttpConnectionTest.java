package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HTTP connections read and written through the rendezvous's own small streams
 * (websocket/ConnectionStreams) in place of the JDK server's buffers: a connection serves one
 * request after another, pipelined requests in order, a request body is drained before the next
 * request, a request head larger than the read buffer, or trickled a byte at a time, is read
 * whole, and a connection that served a plain request can upgrade.
 */
class HttpConnectionTest {
    static TestRendezvous rv;

    @BeforeAll
    static void start() throws Exception {
        rv = new TestRendezvous(Map.of());
    }

    @AfterAll
    static void stop() {
        rv.close();
    }

    private static Socket open() throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", rv.port), 5000);
        s.setSoTimeout(10_000);
        s.setTcpNoDelay(true);
        return s;
    }

    /** One response: its status line and its body (Content-Length bytes). */
    private record Response(String status, String body) {
        static Response read(InputStream in) throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) throw new IOException("connection ended after " + head.size() + " bytes of a response head");
                head.write(b);
                if (head.size() > 65536) throw new IOException("response head too long");
            }
            String h = head.toString(StandardCharsets.ISO_8859_1);
            Matcher m = Pattern.compile("(?i)content-length: *(\\d+)").matcher(h);
            int length = m.find() ? Integer.parseInt(m.group(1)) : 0;
            return new Response(h.substring(0, h.indexOf("\r\n")), new String(new DataInputStream(in).readNBytes(length), StandardCharsets.UTF_8));
        }
    }

    /** One unmasked text frame from the server (under 64 KB). */
    private static String readText(InputStream in) throws IOException {
        DataInputStream frames = new DataInputStream(in);
        assertEquals(0x81, frames.readUnsignedByte(), "a text frame");
        int len = frames.readUnsignedByte();
        if (len == 126) len = frames.readUnsignedShort();
        return new String(frames.readNBytes(len), StandardCharsets.UTF_8);
    }

    @Test
    void pipelinedRequests_areAnsweredInOrder_andTheConnectionServesMore() throws Exception {
        try (Socket s = open()) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /debug/list_workers HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            Response first = Response.read(in);
            assertEquals("HTTP/1.1 200 OK", first.status());
            assertEquals("Rendezvous Service (Step 3A Version) is running.", Json.parseObject(first.body()).get("message"));
            Response second = Response.read(in);
            assertEquals("HTTP/1.1 200 OK", second.status());
            assertTrue(Json.parseObject(second.body()).containsKey("connected_workers_count"), second.body());
            assertEquals("HTTP/1.1 404 Not Found", Response.read(in).status());
            // The same connection, once its pipeline is answered.
            out.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertEquals("HTTP/1.1 200 OK", Response.read(in).status());
        }
    }

    @Test
    void requestBody_isDrained_beforeTheNextRequestOnTheConnection() throws Exception {
        try (Socket s = open()) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            String body = "x".repeat(5000);       // several times the stream's read buffer
            out.write(("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length() + "\r\n\r\n" + body
                    + "GET / HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            assertEquals("HTTP/1.1 405 Method Not Allowed", Response.read(in).status());
            Response next = Response.read(in);
            assertEquals("HTTP/1.1 200 OK", next.status(), "the body was taken for the next request: " + next.body());
        }
    }

    @Test
    void upgradeHeadLargerThanTheReadBuffer_isReadWhole() throws Exception {
        String big = "X-Padding: " + "p".repeat(12_000) + "\r\n";      // under the 16 KB head limit
        byte[] early = RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", "after-a-big-head")));
        try (RawWebSocket ws = RawWebSocket.connect(rv.port, "http-big-head", early, big)) {
            assertEquals("after-a-big-head", Json.parseObject(ws.readSkippingPings().text()).get("original_payload"));
        }
    }

    @Test
    void upgradeHeadTrickledAByteAtATime_isReadWhole() throws Exception {
        byte[] nonce = new byte[16];
        String key = Base64.getEncoder().encodeToString(nonce);
        String head = "GET /ws/register/http-trickle HTTP/1.1\r\nHost: 127.0.0.1:" + rv.port
                + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n";
        byte[] echo = RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", "trickled")));
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.writeBytes(head.getBytes(StandardCharsets.ISO_8859_1));
        all.writeBytes(echo);
        try (Socket s = open()) {
            OutputStream out = s.getOutputStream();
            for (byte b : all.toByteArray()) {      // each its own segment (TCP_NODELAY)
                out.write(b);
                out.flush();
            }
            InputStream in = s.getInputStream();
            Response upgraded = Response.read(in);
            assertEquals("HTTP/1.1 101 Switching Protocols", upgraded.status());
            assertEquals("trickled", Json.parseObject(readText(in)).get("original_payload"));
        }
    }

    @Test
    void upgradeAfterAPlainRequestOnTheSameConnection_works() throws Exception {
        String upgrade = "GET /ws/register/http-second HTTP/1.1\r\nHost: 127.0.0.1:" + rv.port
                + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                + Base64.getEncoder().encodeToString(new byte[16]) + "\r\n\r\n";
        try (Socket s = open()) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertEquals("HTTP/1.1 200 OK", Response.read(in).status());
            ByteArrayOutputStream both = new ByteArrayOutputStream();
            both.writeBytes(upgrade.getBytes(StandardCharsets.ISO_8859_1));
            both.writeBytes(RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", "second"))));
            out.write(both.toByteArray());
            assertEquals("HTTP/1.1 101 Switching Protocols", Response.read(in).status());
            assertEquals("second", Json.parseObject(readText(in)).get("original_payload"));
        }
    }
}
