package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mutated HTTP requests against the live rendezvous: request heads and bodies go through the
 * rendezvous's own connection streams into the JDK server's parser, and on to the upgrade. Every
 * connection gets an HTTP response or is closed: one whose client ends its side after the request
 * is closed by the server, one whose client keeps it open is answered or closed by the request
 * timeout. None leaves a connection behind (the {@code holepunch_http_connections} gauge), and the
 * service answers a plain client afterwards.
 */
@Tag("slow")
class HttpFuzzTest {
    static final int INPUTS = 1000;
    static final int PARALLEL = 64;
    /** Each connection must end within this; the test JVM's request timeout is 2 s (Makefile). */
    static final int END_MILLIS = 8000;

    private static String[] seeds(int port, String id) {
        String key = Base64.getEncoder().encodeToString(new byte[16]);
        return new String[] {
            "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /debug/list_workers HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /ws/register/" + id + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
                    + new String(RawWebSocket.text(Json.write(Json.obj("type", "echo_request", "payload", "fuzz"))), StandardCharsets.ISO_8859_1),
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        };
    }

    /** One to four mutations: a byte changed, a range removed, duplicated or replaced by random bytes, or the end cut. */
    static byte[] mutate(byte[] seed, Random r) {
        byte[] b = seed.clone();
        for (int n = 1 + r.nextInt(4); n > 0 && b.length > 1; n--) {
            int at = r.nextInt(b.length), len = 1 + r.nextInt(Math.min(40, b.length - at));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            switch (r.nextInt(6)) {
                case 0 -> {
                    b[at] = (byte) r.nextInt(256);
                    continue;
                }
                case 1 -> {
                    b[at] = (byte) "\r\n :/0123456789".charAt(r.nextInt(15));
                    continue;
                }
                case 2 -> {        // remove
                    out.write(b, 0, at);
                    out.write(b, at + len, b.length - at - len);
                }
                case 3 -> {        // duplicate
                    out.write(b, 0, at + len);
                    out.write(b, at, b.length - at);
                }
                case 4 -> {        // random bytes in place of a range
                    byte[] junk = new byte[r.nextInt(3 * len + 1)];
                    r.nextBytes(junk);
                    out.write(b, 0, at);
                    out.write(junk, 0, junk.length);
                    out.write(b, at + len, b.length - at - len);
                }
                default -> out.write(b, 0, at);     // cut
            }
            b = out.toByteArray();
        }
        return b;
    }

    /**
     * What one connection saw: its first bytes, and whether it settled in time: ended, or, when the
     * client kept its side open, answered or ended.
     */
    record Outcome(byte[] input, boolean halfClosed, String start, boolean ended) {
    }

    static Outcome send(int port, byte[] input, boolean halfClose) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            s.setSoTimeout(END_MILLIS);
            s.getOutputStream().write(input);
            if (halfClose) s.shutdownOutput();
            InputStream in = s.getInputStream();
            byte[] first = new byte[12];
            int got = 0;
            long deadline = System.nanoTime() + END_MILLIS * 1_000_000L;
            try {
                while (true) {
                    if (System.nanoTime() > deadline) return new Outcome(input, halfClose, new String(first, 0, got, StandardCharsets.ISO_8859_1), false);
                    int b = in.read();
                    if (b < 0) break;
                    if (got < first.length) first[got++] = (byte) b;
                    if (!halfClose && got == first.length) break;     // answered; its keep-alive may go on
                }
            } catch (SocketTimeoutException e) {
                return new Outcome(input, halfClose, new String(first, 0, got, StandardCharsets.ISO_8859_1), false);
            } catch (IOException e) {
                // reset by the server: ended
            }
            return new Outcome(input, halfClose, new String(first, 0, got, StandardCharsets.ISO_8859_1), true);
        }
    }

    @Test
    void mutatedRequests_getAResponseOrAClose_andLeaveNothingBehind() throws Exception {
        long seed = Long.getLong("fuzz.seed", System.nanoTime());
        Random random = new Random(seed);
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_PENDING_PER_IP", "1000", "MAX_SESSIONS_PER_IP", "100000"));
             ExecutorService pool = Executors.newFixedThreadPool(PARALLEL)) {
            List<Future<Outcome>> results = new ArrayList<>();
            for (int i = 0; i < INPUTS; i++) {
                String[] seeds = seeds(rv.port, "fuzz-" + i);
                byte[] input = mutate(seeds[random.nextInt(seeds.length)].getBytes(StandardCharsets.ISO_8859_1), random);
                boolean halfClose = random.nextBoolean();
                results.add(pool.submit(() -> send(rv.port, input, halfClose)));
            }
            int answered = 0, closedUnanswered = 0;
            for (Future<Outcome> f : results) {
                Outcome o = f.get(60, TimeUnit.SECONDS);
                String input = new String(o.input(), StandardCharsets.ISO_8859_1).replace("\r", "\\r").replace("\n", "\\n");
                assertTrue(o.ended(), "seed " + seed + ": connection " + (o.halfClosed() ? "still open " : "neither answered nor closed ")
                        + END_MILLIS + " ms after the request: " + input);
                if (o.start().isEmpty()) closedUnanswered++;
                else {
                    assertTrue(o.start().matches("HTTP/1\\.1 [1-5]\\d\\d"),
                            "seed " + seed + ": not an HTTP response: '" + o.start() + "' to " + input);
                    answered++;
                }
            }
            System.out.printf("http fuzz, seed %d: %d of %d answered, %d closed unanswered%n", seed, answered, INPUTS, closedUnanswered);
            assertTrue(answered > INPUTS / 4, "seed " + seed + ": only " + answered + " of " + INPUTS + " answered (" + closedUnanswered + " closed)");
            Await.until(Duration.ofSeconds(15), "the fuzzed connections are all gone", () -> httpConnections(rv.port) <= 1);
            try (RawWebSocket ws = RawWebSocket.connect(rv.port, "after-fuzz")) {
                ws.sendText(Json.write(Json.obj("type", "echo_request", "payload", "still here")));
                assertEquals("still here", Json.parseObject(ws.readSkippingPings().text()).get("original_payload"));
            }
        }
    }

    /** The gauge, read over a connection of its own (counted in it) that closes after the answer. */
    static long httpConnections(int port) throws IOException {
        try (RawWebSocket r = RawWebSocket.raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) {
            Matcher m = Pattern.compile("(?m)^holepunch_http_connections (\\d+)").matcher(r.readBody());
            if (!m.find()) throw new AssertionError("no holepunch_http_connections in /metrics");
            return Long.parseLong(m.group(1));
        }
    }
}
