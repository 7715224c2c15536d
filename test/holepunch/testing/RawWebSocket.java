package holepunch.testing;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A deliberately low-level WebSocket client for tests: it writes whatever frame bytes a test wants
 * (masked or not, any opcode, any length encoding) and reads the server's frames back. Every read
 * has a timeout, so a test never hangs.
 */
public final class RawWebSocket implements AutoCloseable {
    public record Frame(boolean fin, int opcode, byte[] payload) {
        public String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }

        public int closeCode() {
            return payload.length >= 2 ? ((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF) : 1005;
        }

        public String closeReason() {
            return payload.length > 2 ? new String(payload, 2, payload.length - 2, StandardCharsets.UTF_8) : "";
        }
    }

    public final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    public final String responseHead;

    private RawWebSocket(Socket socket, String responseHead, DataInputStream in) throws IOException {
        this.socket = socket;
        this.in = in;
        this.out = socket.getOutputStream();
        this.responseHead = responseHead;
    }

    /** Connects and sends {@code request} verbatim; returns the client with the response head read. */
    public static RawWebSocket raw(int port, String request) throws IOException {
        return rawFrom(null, port, request);
    }

    /** As {@link #raw}, from {@code localIp} (another loopback address, say 127.0.0.2: a second client host; null: any). */
    public static RawWebSocket rawFrom(String localIp, int port, String request) throws IOException {
        Socket s = new Socket();
        if (localIp != null) s.bind(new InetSocketAddress(localIp, 0));
        s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        s.setSoTimeout(10_000);
        s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
        s.getOutputStream().flush();
        DataInputStream in = new DataInputStream(s.getInputStream());
        return new RawWebSocket(s, readHead(in), in);
    }

    public static RawWebSocket connect(int port, String workerId) throws IOException {
        return connect(port, workerId, new byte[0]);
    }

    /** A proper upgrade; {@code extra} bytes are sent in the same write, right after the request head. */
    public static RawWebSocket connect(int port, String workerId, byte[] extra) throws IOException {
        return connect(port, workerId, extra, "");
    }

    /** The refusal of an upgrade for {@code workerId} proving {@code identity} (null: keyless): its message, with the status; an upgrade that succeeds fails the test. */
    public static String refusal(int port, String workerId, holepunch.crypto.Identity identity) {
        try {
            connect(port, workerId, new byte[0], identity == null ? "" : proofHeader(port, workerId, identity)).close();
        } catch (IOException refused) {
            return refused.getMessage();
        }
        throw new AssertionError("the upgrade for '" + workerId + "' was taken; a refusal was expected");
    }

    /** A proper upgrade proving {@code identity} (the Holepunch-Proof header), as a holepunch worker makes it. */
    public static RawWebSocket connectKeyed(int port, String workerId, holepunch.crypto.Identity identity) throws IOException {
        return connect(port, workerId, new byte[0], proofHeader(port, workerId, identity));
    }

    public static String proofHeader(int port, String workerId, holepunch.crypto.Identity identity) {
        return proofHeader(port, workerId, identity, false);
    }

    /** As above; {@code ephemeral}: the proof says the key is the process's alone (a worker without WORKER_KEY_FILE). */
    public static String proofHeader(int port, String workerId, holepunch.crypto.Identity identity, boolean ephemeral) {
        return holepunch.crypto.UpgradeProof.HEADER + ": " + holepunch.crypto.UpgradeProof.create(identity, workerId, "127.0.0.1:" + port,
                challenge(port), ephemeral) + "\r\n";
    }

    /** A new challenge from the rendezvous on {@code port} ({@code GET /challenge}), as a worker fetches one before each upgrade. */
    public static String challenge(int port) {
        try {
            java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(
                    java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/challenge"))
                            .timeout(java.time.Duration.ofSeconds(10)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) throw new AssertionError("GET /challenge: HTTP " + r.statusCode() + " " + r.body());
            return (String) holepunch.json.Json.parseObject(r.body()).get("challenge");
        } catch (IOException | holepunch.json.Json.ParseException e) {
            throw new java.io.UncheckedIOException(new IOException("GET /challenge failed", e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /** An upgrade with {@code headers} (each ending in CRLF) added to the request head. */
    public static RawWebSocket connect(int port, String workerId, byte[] extra, String headers) throws IOException {
        byte[] nonce = new byte[16];
        ThreadLocalRandom.current().nextBytes(nonce);
        String head = "GET /ws/register/" + workerId + " HTTP/1.1\r\nHost: 127.0.0.1:" + port
                + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                + Base64.getEncoder().encodeToString(nonce) + "\r\n" + headers + "\r\n";
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.writeBytes(head.getBytes(StandardCharsets.ISO_8859_1));
        all.writeBytes(extra);
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        s.setSoTimeout(10_000);
        s.getOutputStream().write(all.toByteArray());
        DataInputStream in = new DataInputStream(s.getInputStream());
        RawWebSocket ws = new RawWebSocket(s, readHead(in), in);
        if (!ws.responseHead.startsWith("HTTP/1.1 101")) throw new IOException("upgrade refused: " + ws.responseHead);
        return ws;
    }

    private static String readHead(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        while (!sb.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) break;
            sb.append((char) b);
            if (sb.length() > 65536) throw new IOException("response head too long");
        }
        return sb.toString();
    }

    /** Reads the body of an HTTP response (Content-Length bytes after the head). */
    public String readBody() throws IOException {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)").matcher(responseHead);
        if (!m.find()) throw new IOException("no Content-Length in " + responseHead);
        return new String(in.readNBytes(Integer.parseInt(m.group(1))), StandardCharsets.UTF_8);
    }

    // ---- frames out

    /** A client frame, masked with a random key, the length in its minimal encoding. */
    public static byte[] frame(int opcode, boolean fin, byte[] payload) {
        return frame(opcode, fin, payload, true, -1, 0);
    }

    public static byte[] text(String s) {
        return frame(0x1, true, s.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Full control: {@code lengthBytes} -1 for minimal, else 0, 2 or 8 extended bytes (possibly
     * non-minimal); {@code rsv} the three reserved bits.
     */
    public static byte[] frame(int opcode, boolean fin, byte[] payload, boolean masked, int lengthBytes, int rsv) {
        int n = payload.length;
        int lb = lengthBytes >= 0 ? lengthBytes : n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
        ByteBuffer b = ByteBuffer.allocate(2 + lb + (masked ? 4 : 0) + n);
        b.put((byte) ((fin ? 0x80 : 0) | (rsv << 4) | opcode));
        int maskBit = masked ? 0x80 : 0;
        switch (lb) {
            case 0 -> b.put((byte) (maskBit | n));
            case 2 -> b.put((byte) (maskBit | 126)).putShort((short) n);
            default -> b.put((byte) (maskBit | 127)).putLong(n);
        }
        byte[] key = new byte[4];
        if (masked) {
            ThreadLocalRandom.current().nextBytes(key);
            b.put(key);
        }
        for (int i = 0; i < n; i++) b.put((byte) (payload[i] ^ key[i & 3]));
        return b.array();
    }

    public static byte[] close(int code, byte[] reason) {
        ByteBuffer p = ByteBuffer.allocate(2 + reason.length).putShort((short) code).put(reason);
        return frame(0x8, true, p.array());
    }

    public void send(byte[]... frames) throws IOException {
        for (byte[] f : frames) out.write(f);
        out.flush();
    }

    public void sendText(String s) throws IOException {
        send(text(s));
    }

    // ---- frames in

    public Frame read() throws IOException {
        int b0 = in.readUnsignedByte();
        int b1 = in.readUnsignedByte();
        if ((b1 & 0x80) != 0) throw new IOException("server frame is masked");
        long len = b1 & 0x7F;
        if (len == 126) len = in.readUnsignedShort();
        else if (len == 127) len = in.readLong();
        if (len > 1 << 24) throw new IOException("frame too large: " + len);
        byte[] payload = new byte[(int) len];
        in.readFully(payload);
        return new Frame((b0 & 0x80) != 0, b0 & 0xF, payload);
    }

    /** The next frame that is not a ping (pings are answered). */
    public Frame readSkippingPings() throws IOException {
        while (true) {
            Frame f = read();
            if (f.opcode() != 0x9) return f;
            send(frame(0xA, true, f.payload()));
        }
    }

    /** Reads until the server's Close frame; returns it. */
    public Frame readClose() throws IOException {
        while (true) {
            Frame f = read();
            if (f.opcode() == 0x8) return f;
        }
    }

    /** True when the server ends the TCP connection within the socket timeout. */
    public boolean awaitEof() throws IOException {
        try {
            while (true) {
                if (in.read() < 0) return true;
            }
        } catch (SocketTimeoutException e) {
            return false;
        } catch (EOFException | java.net.SocketException e) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
