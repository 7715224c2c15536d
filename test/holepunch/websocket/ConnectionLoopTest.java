package holepunch.websocket;

import holepunch.limits.ByteBudget;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A loop's adopted connection: its socket sends small frames at once, and what is sent arrives as frames. */
class ConnectionLoopTest {
    static final WebSocketConnection.Handler IGNORE = new WebSocketConnection.Handler() {
        @Override
        public void onText(WebSocketConnection connection, String text) {
        }

        @Override
        public void onClosed(WebSocketConnection connection, int code, String reason) {
        }
    };

    static ConnectionLoop loop() {
        ConnectionLoop loop = new ConnectionLoop("test-loop", new ConnectionLoop.Settings(20_000_000_000L, 20_000_000_000L, 1 << 16, 1 << 20,
                2_000_000_000L), line -> { });
        loop.start();
        return loop;
    }

    /** A client's text frame (masked, RFC 6455 §5.3), short form. */
    static byte[] clientText(String text) {
        byte[] p = text.getBytes(StandardCharsets.UTF_8);
        byte[] mask = {1, 2, 3, 4};
        byte[] f = new byte[6 + p.length];
        f[0] = (byte) 0x81;
        f[1] = (byte) (0x80 | p.length);
        System.arraycopy(mask, 0, f, 2, 4);
        for (int i = 0; i < p.length; i++) f[6 + i] = (byte) (p[i] ^ mask[i % 4]);
        return f;
    }

    /**
     * New sessions one after another, as a registration burst brings them: the loop polls for them
     * rather than being woken for each (a wake-up costs the waker a system call and a cross-core
     * wake-up), and serves every one; one that comes alone after a quiet spell still wakes it.
     */
    @Test
    void adoptionsInABurst_areServedWithoutAWakeupEach_andALateOneStillWakesTheLoop() throws Exception {
        int n = 300;
        ConnectionLoop loop = loop();
        java.util.List<Socket> clients = new java.util.ArrayList<>();
        java.util.concurrent.LinkedBlockingQueue<String> heard = new java.util.concurrent.LinkedBlockingQueue<>();
        WebSocketConnection.Handler record = new WebSocketConnection.Handler() {
            @Override
            public void onText(WebSocketConnection connection, String text) {
                heard.add(text);
            }

            @Override
            public void onClosed(WebSocketConnection connection, int code, String reason) {
            }
        };
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0), n)) {
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            java.util.List<WebSocketConnection> connections = new java.util.ArrayList<>();
            for (int i = 0; i <= n; i++) {
                clients.add(new Socket("127.0.0.1", port));
                SocketChannel accepted = server.accept();
                connections.add(new WebSocketConnection(accepted, (InetSocketAddress) accepted.getRemoteAddress(), record, 1 << 16,
                        new ByteBudget(1 << 24)));
            }
            long before = loop.wakeups();
            for (int i = 0; i < n; i++) {
                loop.adopt(connections.get(i), clientText("s" + i));       // its first message came with the upgrade
                assertEquals("s" + i, heard.poll(5, TimeUnit.SECONDS), "session " + i + " served");
            }
            long burstWakeups = loop.wakeups() - before;
            // Each adoption here finds the loop idle (the one before is served): woken for each, that was 40-300 here.
            assertTrue(burstWakeups <= n / 10, burstWakeups + " wake-ups for " + n + " adoptions in a burst");
            // The loop falls back to its long sleep once adoptions stop; a later one must wake it.
            CompletableFuture<Void> quiet = new CompletableFuture<>();
            loop.execute(() -> quiet.complete(null));
            quiet.get(5, TimeUnit.SECONDS);
            loop.adopt(connections.get(n), clientText("late"));
            assertEquals("late", heard.poll(5, TimeUnit.SECONDS));
        } finally {
            loop.stop();
            for (Socket c : clients) c.close();
        }
    }

    @Test
    void adoptedConnection_hasNagleOff_andSendsTextFramesAsGiven() throws Exception {
        ConnectionLoop loop = loop();
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             Socket client = new Socket("127.0.0.1", ((InetSocketAddress) server.getLocalAddress()).getPort())) {
            client.setSoTimeout(5000);
            SocketChannel accepted = server.accept();
            WebSocketConnection c = new WebSocketConnection(accepted, (InetSocketAddress) accepted.getRemoteAddress(), IGNORE, 1 << 16,
                    new ByteBudget(1 << 20));
            assertTrue(!accepted.getOption(StandardSocketOptions.TCP_NODELAY), "a new socket starts with Nagle's algorithm on");
            loop.adopt(c, new byte[0]);
            CompletableFuture<Boolean> noDelay = new CompletableFuture<>();
            loop.execute(() -> {
                try {
                    noDelay.complete(accepted.getOption(StandardSocketOptions.TCP_NODELAY));
                } catch (Exception e) {
                    noDelay.completeExceptionally(e);
                }
            });
            assertTrue(noDelay.get(5, TimeUnit.SECONDS), "TCP_NODELAY once adopted");
            c.sendText("{\"a\":1}".getBytes(StandardCharsets.UTF_8));
            c.sendText("é");
            InputStream in = client.getInputStream();
            assertArrayEquals(new byte[] {(byte) 0x81, 7, '{', '"', 'a', '"', ':', '1', '}'}, in.readNBytes(9));
            assertArrayEquals(new byte[] {(byte) 0x81, 2, (byte) 0xC3, (byte) 0xA9}, in.readNBytes(4));
        } finally {
            loop.stop();
        }
    }
}
