package holepunch.websocket;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The HTTP connection streams that replace the JDK server's, on a real loopback TCP pair. */
class ConnectionStreamsTest {
    private SocketChannel ours;
    private SocketChannel peer;

    @BeforeEach
    void connect() throws IOException {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            peer = SocketChannel.open(listener.getLocalAddress());
            ours = listener.accept();
        }
    }

    @AfterEach
    void close() throws IOException {
        ours.close();
        peer.close();
    }

    /** Reads exactly {@code n} bytes on the peer (blocking). */
    private byte[] peerReads(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (peer.read(b) < 0) throw new IOException("ended after " + b.position() + " of " + n + " bytes");
        }
        return b.array();
    }

    @Test
    void out_sendsNothingUntilFlush_thenTheHeadAndTheBodyInOneWrite() throws IOException {
        // Sent apart, a body waits for the head's ACK (Nagle) and a client delaying its ACKs holds it 40 ms.
        ConnectionStreams.Out out = new ConnectionStreams.Out(ours);
        byte[] head = "HTTP/1.1 200 OK\r\nContent-length: 5\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        out.write(head);
        out.write("hello".getBytes(StandardCharsets.US_ASCII));
        peer.configureBlocking(false);
        assertEquals(0, peer.read(ByteBuffer.allocate(64)), "nothing may leave before flush");
        peer.configureBlocking(true);
        out.flush();
        assertArrayEquals((new String(head, StandardCharsets.US_ASCII) + "hello").getBytes(StandardCharsets.US_ASCII), peerReads(head.length + 5));
    }

    @Test
    void out_writesMoreThanItsBufferInFull() throws IOException {
        ConnectionStreams.Out out = new ConnectionStreams.Out(ours);
        byte[] big = new byte[3 * ConnectionStreams.Out.OUT_MAX_BYTES + 17];
        for (int i = 0; i < big.length; i++) big[i] = (byte) i;
        out.write(big, 0, 100);
        out.write(big, 100, big.length - 100);
        out.flush();
        assertArrayEquals(big, peerReads(big.length));
        assertThrows(IOException.class, () -> {
            out.close();
            out.write(1);
        });
    }

    @Test
    void in_availableIsWhatIsBuffered_andTheEndIsMinusOne() throws IOException {
        ConnectionStreams.In in = new ConnectionStreams.In(ours);
        peer.write(ByteBuffer.wrap("GET /".getBytes(StandardCharsets.US_ASCII)));
        assertEquals('G', in.read());
        assertEquals(4, in.available(), "the rest of what one read took, without asking the socket");
        byte[] rest = new byte[10];
        assertEquals(4, in.read(rest, 0, 10));
        assertEquals(0, in.available());
        peer.shutdownOutput();
        assertEquals(-1, in.read());
        assertEquals(-1, in.read(rest, 0, 10));
    }

    @Test
    void in_closeFromAnotherThread_wakesABlockedReader() throws Exception {
        // The server's request timer closes a connection whose head never came while its reader blocks
        // in read, holding the stream's lock: close must not wait for that lock.
        ConnectionStreams.In in = new ConnectionStreams.In(ours);
        java.util.concurrent.atomic.AtomicReference<Object> outcome = new java.util.concurrent.atomic.AtomicReference<>();
        Thread reader = Thread.ofPlatform().start(() -> {
            try {
                outcome.set(in.read());
            } catch (IOException e) {
                outcome.set(e);
            }
        });
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (java.util.Arrays.stream(reader.getStackTrace()).noneMatch(f -> f.getMethodName().equals("fill"))) {
            if (System.nanoTime() > deadline) throw new AssertionError("the reader never reached its read");
            Thread.onSpinWait();
        }
        CompletableFuture.runAsync(() -> {
            try {
                in.close();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).get(5, TimeUnit.SECONDS);
        reader.join(5000);
        assertFalse(reader.isAlive(), "the reader is still blocked after close");
        assertInstanceOf(IOException.class, outcome.get(), "read returned " + outcome.get());
        assertThrows(IOException.class, in::available);
    }
}
