package holepunch.stun;

import holepunch.testing.FakeScheduler;
import holepunch.timer.Scheduler;
import holepunch.testing.Tools;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StunClientTest {
    static final InetSocketAddress SERVER = new InetSocketAddress("127.0.0.1", 3478);

    /** Records what the client sends and when, on the fake clock. */
    static final class Recorder implements StunClient.Transport {
        final FakeScheduler clock;
        final List<Long> times = new ArrayList<>();
        final List<byte[]> datagrams = new ArrayList<>();

        Recorder(FakeScheduler clock) {
            this.clock = clock;
        }

        @Override
        public void send(ByteBuffer datagram, InetSocketAddress to) {
            times.add(clock.nowMillis());
            byte[] b = new byte[datagram.remaining()];
            datagram.get(b);
            datagrams.add(b);
        }
    }

    final FakeScheduler clock = new FakeScheduler();
    final Recorder sent = new Recorder(clock);

    private StunClient client(StunClient.Retransmission params) {
        return new StunClient(sent, clock, params);
    }

    @Test
    void bind_silentServerGetsRfc8489RetransmissionsThenFails() {
        StunClient client = client(StunClient.Retransmission.RFC_DEFAULT);
        CompletableFuture<StunClient.Binding> f = client.bind(SERVER);
        clock.advance(39_499);
        assertFalse(f.isDone(), "still waiting Rm x RTO after the last request");
        // §6.2.1: with RTO 500 ms and Rc 7, requests at 0, 500, 1500, 3500, 7500, 15500 and 31500 ms ...
        assertEquals(List.of(0L, 500L, 1500L, 3500L, 7500L, 15500L, 31500L), sent.times);
        clock.advance(1);
        // ... and failure at 39500 ms.
        ExecutionException e = assertThrows(ExecutionException.class, f::get);
        assertInstanceOf(StunClient.StunFailure.class, e.getCause());
        assertEquals(0, client.outstanding());
        for (byte[] d : sent.datagrams) assertEquals(new String(sent.datagrams.get(0)), new String(d), "retransmissions repeat the request");
    }

    @Test
    void bind_customParametersAreHonoured() {
        StunClient client = client(new StunClient.Retransmission(100, 3, 2));
        CompletableFuture<StunClient.Binding> f = client.bind(SERVER);
        clock.advance(499);
        assertEquals(List.of(0L, 100L, 300L), sent.times);
        assertFalse(f.isDone());
        clock.advance(1);
        assertTrue(f.isCompletedExceptionally());
    }

    private static byte[] answer(byte[] request, InetSocketAddress mapped) {
        return StunServer.respond(request, request.length, mapped);
    }

    @Test
    void onDatagram_acceptsTheAnswerFromTheServerAskedAndStopsRetransmitting() throws Exception {
        StunClient client = client(StunClient.Retransmission.RFC_DEFAULT);
        CompletableFuture<StunClient.Binding> f = client.bind(SERVER);
        clock.advance(600);
        InetSocketAddress mapped = new InetSocketAddress("198.51.100.7", 40001);
        byte[] reply = answer(sent.datagrams.get(0), mapped);
        assertFalse(client.onDatagram(new InetSocketAddress("127.0.0.1", 9999), reply, reply.length), "wrong source");
        assertFalse(f.isDone());
        assertTrue(client.onDatagram(SERVER, reply, reply.length));
        assertEquals(mapped, f.get().mapped());
        assertEquals(600, f.get().rttMillis());
        clock.advance(60_000);
        assertEquals(2, sent.times.size(), "no more requests after the answer");
        assertFalse(client.onDatagram(SERVER, reply, reply.length), "a duplicate answer is not outstanding any more");
    }

    @Test
    void onDatagram_ignoresUnknownTransactions() throws Exception {
        StunClient client = client(StunClient.Retransmission.RFC_DEFAULT);
        client.bind(SERVER);
        byte[] stray = answer(StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(true), SERVER);
        assertFalse(client.onDatagram(SERVER, stray, stray.length));
        assertEquals(1, client.outstanding());
    }

    @Test
    void onDatagram_errorResponseFailsWithItsCode() throws Exception {
        StunClient client = client(StunClient.Retransmission.RFC_DEFAULT);
        CompletableFuture<StunClient.Binding> f = client.bind(SERVER);
        StunMessage req = StunMessage.parse(sent.datagrams.get(0));
        byte[] err = new StunMessage(StunClass.ERROR_RESPONSE, StunMessage.BINDING, req.transactionId(), List.of(
                new StunAttribute(AttributeType.ERROR_CODE, StunMessageTest.hex("00000500", "6f6f7073")))).encode(true);
        assertTrue(client.onDatagram(SERVER, err, err.length));
        ExecutionException e = assertThrows(ExecutionException.class, f::get);
        assertTrue(e.getCause().getMessage().contains("500 oops"), e.getCause().getMessage());
    }

    @Test
    @org.junit.jupiter.api.Tag("slow")
    void interop_againstCoturnOnLoopback_mappingIsTheSocketsOwnAddress() throws Exception {
        Tools.require("turnserver", "coturn");
        int port = holepunch.testing.Ports.freeUdpAndTcp();      // coturn binds both: a port free for TCP alone may be taken for UDP
        Process turn = new ProcessBuilder("turnserver", "--stun-only", "-n", "--listening-ip", "127.0.0.1",
                "--listening-port", String.valueOf(port), "--no-cli", "--no-tls", "--no-dtls", "--log-file", "stdout",
                "--pidfile", "/tmp/holepunch-test-turnserver-" + port + ".pid").redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try (DatagramChannel ch = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            StunClient client = new StunClient((d, to) -> ch.send(d, to), Scheduler.system(), new StunClient.Retransmission(100, 7, 4));
            Thread reader = Thread.ofVirtual().start(() -> {
                ByteBuffer buf = ByteBuffer.allocate(1500);
                try {
                    while (true) {
                        buf.clear();
                        InetSocketAddress from = (InetSocketAddress) ch.receive(buf);
                        client.onDatagram(from, buf.array(), buf.position());
                    }
                } catch (IOException | StunException e) {
                    // channel closed at the end of the test
                }
            });
            // coturn needs a moment to open its port; retransmissions cover that.
            StunClient.Binding b = client.bind(new InetSocketAddress("127.0.0.1", port)).get(20, TimeUnit.SECONDS);
            assertEquals(ch.getLocalAddress(), b.mapped());
            ch.close();
            reader.join(5000);
        } finally {
            turn.destroy();
            if (!turn.waitFor(5, TimeUnit.SECONDS)) turn.destroyForcibly();
        }
    }
}
