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
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A loop's adopted connection: its socket sends small frames at once, and what is sent arrives as frames. */
class ConnectionLoopTest {

    @Test
    void adoptedConnection_hasNagleOff_andSendsTextFramesAsGiven() throws Exception {
        ConnectionLoop loop = new ConnectionLoop("test-loop", new ConnectionLoop.Settings(20_000_000_000L, 20_000_000_000L, 1 << 16, 1 << 20,
                2_000_000_000L), line -> { });
        loop.start();
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             Socket client = new Socket("127.0.0.1", ((InetSocketAddress) server.getLocalAddress()).getPort())) {
            client.setSoTimeout(5000);
            SocketChannel accepted = server.accept();
            WebSocketConnection c = new WebSocketConnection(accepted, (InetSocketAddress) accepted.getRemoteAddress(), new WebSocketConnection.Handler() {
                @Override
                public void onText(WebSocketConnection connection, String text) {
                }

                @Override
                public void onClosed(WebSocketConnection connection, int code, String reason) {
                }
            }, 1 << 16, new ByteBudget(1 << 20));
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
