package holepunch.turn;

import holepunch.stun.AttributeType;
import holepunch.stun.StunClass;
import holepunch.stun.StunMessage;
import holepunch.testing.Coturn;
import holepunch.timer.Scheduler;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The TURN client against Debian's coturn on loopback, with credentials of the TURN REST scheme. */
class TurnClientTest {
    record Got(InetSocketAddress peer, String text) {
    }

    /** A TurnClient on its own UDP channel, with a reader feeding it what the server sends. */
    static final class Side implements AutoCloseable {
        final DatagramChannel channel = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        final LinkedBlockingQueue<Got> got = new LinkedBlockingQueue<>();
        final CompletableFuture<InetSocketAddress> relayed = new CompletableFuture<>();
        final TurnClient client;
        private final Thread reader;

        /** STUN Binding indications this side sent (its keepalives). */
        final java.util.concurrent.atomic.AtomicInteger bindingIndications = new java.util.concurrent.atomic.AtomicInteger();

        Side(InetSocketAddress server, TurnCredentials credentials) throws IOException {
            this(server, credentials, Scheduler.system());
        }

        Side(InetSocketAddress server, TurnCredentials credentials, Scheduler scheduler) throws IOException {
            client = new TurnClient("t", server, credentials, scheduler, new TurnClient.Host() {
                @Override
                public void send(ByteBuffer datagram, InetSocketAddress to) throws IOException {
                    if (datagram.remaining() >= 2 && datagram.getShort(datagram.position()) == 0x0011) bindingIndications.incrementAndGet();
                    channel.send(datagram, to);
                }

                @Override
                public void deliver(InetSocketAddress peer, byte[] data, int length) {
                    got.add(new Got(peer, new String(data, 0, length, StandardCharsets.UTF_8)));
                }

                @Override
                public void relayed(InetSocketAddress address) {
                    if (address != null) relayed.complete(address);
                }
            });
            reader = Thread.ofVirtual().start(() -> {
                ByteBuffer buf = ByteBuffer.allocate(2048);
                try {
                    while (true) {
                        buf.clear();
                        channel.receive(buf);
                        client.onDatagram(buf.flip());
                    }
                } catch (IOException closed) {
                    // done
                }
            });
        }

        @Override
        public void close() throws Exception {
            client.close();
            channel.close();
            reader.join(2000);
        }
    }

    /**
     * Over UDP the client keeps the NAT's mapping towards the server open with a Binding indication every 15 s while
     * its allocation lives. Without them (the NAT lab found it) a NAT forgot the mapping after 30 s of quiet and the
     * peers' datagrams through the server never reached the worker again.
     */
    @Test
    @org.junit.jupiter.api.Tag("slow")
    void overUdp_aBindingIndicationKeepsTheMappingEvery15Seconds() throws Exception {
        holepunch.testing.FakeScheduler clock = new holepunch.testing.FakeScheduler();
        try (Coturn turn = new Coturn("127.0.0.1", "s3cret");
             Side side = new Side(new InetSocketAddress("127.0.0.1", turn.port),
                     TurnCredentials.forWorker("s3cret", "worker-k", 600, System.currentTimeMillis() / 1000), clock)) {
            side.client.start();
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (!side.relayed.isDone() && System.nanoTime() < deadline) {      // the client's timers run on this clock
                clock.advance(100);                  // retransmissions too, should the first request be lost
                Thread.sleep(5);
            }
            assertTrue(side.relayed.isDone(), "allocated: " + side.client.status());
            assertEquals(0, side.bindingIndications.get());
            clock.advance(TurnClient.KEEPALIVE_MILLIS);
            assertEquals(1, side.bindingIndications.get(), "one after 15 s of allocation");
            clock.advance(TurnClient.KEEPALIVE_MILLIS);
            assertEquals(2, side.bindingIndications.get(), "and every 15 s");
            side.client.close();
            clock.advance(3 * TurnClient.KEEPALIVE_MILLIS);
            assertEquals(2, side.bindingIndications.get(), "none once closed");
        }
    }

    @Test
    @org.junit.jupiter.api.Tag("slow")
    void allocates_relaysBothWays_andBindsAChannel() throws Exception {
        try (Coturn turn = new Coturn("127.0.0.1", "s3cret");
             Side side = new Side(new InetSocketAddress("127.0.0.1", turn.port),
                     TurnCredentials.forWorker("s3cret", "worker-1", 600, System.currentTimeMillis() / 1000));
             DatagramSocket peer = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            side.client.start();
            InetSocketAddress relayed = side.relayed.get(20, TimeUnit.SECONDS);
            assertEquals(InetAddress.getByName("127.0.0.1"), relayed.getAddress());
            assertTrue(relayed.getPort() != turn.port);

            // Without a permission the server drops the peer's datagrams (RFC 8656 §9).
            byte[] early = "before the permission".getBytes(StandardCharsets.UTF_8);
            peer.send(new DatagramPacket(early, early.length, relayed));
            assertNull(side.got.poll(500, TimeUnit.MILLISECONDS), "no permission: nothing delivered");

            side.client.permit(List.of(InetAddress.getByName("127.0.0.1")));
            InetSocketAddress peerAddress = new InetSocketAddress("127.0.0.1", peer.getLocalPort());
            byte[] hello = "hello through TURN".getBytes(StandardCharsets.UTF_8);
            Got got = null;
            for (int i = 0; i < 20 && got == null; i++) {             // the permission is on its way: send until it is in place
                peer.send(new DatagramPacket(hello, hello.length, relayed));
                got = side.got.poll(250, TimeUnit.MILLISECONDS);
            }
            assertNotNull(got, "the peer's datagram was relayed to the client");
            assertEquals(new Got(peerAddress, "hello through TURN"), got);
            // Data indications from a peer get it a channel, so the server sends ChannelData from then on.
            holepunch.testing.Await.until(java.time.Duration.ofSeconds(10), "a channel bound for the peer that sent",
                    () -> Integer.valueOf(1).equals(side.client.status().get("channels_bound")));
            side.got.clear();
            byte[] again = "over the channel".getBytes(StandardCharsets.UTF_8);
            peer.send(new DatagramPacket(again, again.length, relayed));
            Got next = side.got.poll(5, TimeUnit.SECONDS);
            while (next != null && next.text().equals("hello through TURN")) next = side.got.poll(5, TimeUnit.SECONDS);   // late copies of the first
            assertEquals(new Got(peerAddress, "over the channel"), next);

            peer.setSoTimeout(5000);
            side.got.clear();
            for (int i = 0; i < 5; i++) {                               // ChannelData on the bound channel
                side.client.send(ByteBuffer.wrap(("reply " + i).getBytes(StandardCharsets.UTF_8)), peerAddress);
                DatagramPacket p = new DatagramPacket(new byte[100], 100);
                peer.receive(p);
                assertEquals(relayed, p.getSocketAddress(), "it comes from the relayed address");
                assertEquals("reply " + i, new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8));
            }
            assertTrue(side.client.status().get("last_error") == null, side.client.status().toString());
        }
    }

    @Test
    @org.junit.jupiter.api.Tag("slow")
    void wrongSecret_isOneClearFailure() throws Exception {
        try (Coturn turn = new Coturn("127.0.0.1", "right");
             Side side = new Side(new InetSocketAddress("127.0.0.1", turn.port),
                     TurnCredentials.forWorker("wrong", "worker-2", 600, System.currentTimeMillis() / 1000))) {
            side.client.start();
            holepunch.testing.Await.until(java.time.Duration.ofSeconds(20), "the refusal is recorded",
                    () -> side.client.status().get("last_error") != null);
            assertTrue(String.valueOf(side.client.status().get("last_error")).contains("401"), side.client.status().toString());
            assertFalse(side.relayed.isDone());
            assertThrows(IOException.class, () -> side.client.send(ByteBuffer.wrap(new byte[1]), new InetSocketAddress("127.0.0.1", 9)));
        }
    }

    /** ChannelData on a channel this client never bound (a stranger spoofing the server, or a stale binding): dropped and counted. */
    @Test
    void channelDataOnAnUnboundChannel_isDroppedAndCounted() {
        java.util.List<String> drops = new java.util.ArrayList<>();
        java.util.List<String> delivered = new java.util.ArrayList<>();
        TurnClient c = new TurnClient("t", new InetSocketAddress("127.0.0.1", 3478), TurnCredentials.forWorker("s", "w", 60, 0),
                new holepunch.testing.FakeScheduler(), new TurnClient.Host() {
                    @Override public void send(ByteBuffer d, InetSocketAddress to) { }
                    @Override public void deliver(InetSocketAddress peer, byte[] data, int length) { delivered.add(peer.toString()); }
                    @Override public void relayed(InetSocketAddress a) { }
                    @Override public void dropped(String reason) { drops.add(reason); }
                });
        ByteBuffer channelData = ByteBuffer.allocate(8).putShort((short) 0x4001).putShort((short) 4).putInt(7).flip();
        assertTrue(c.onDatagram(channelData), "it is the TURN server's kind of datagram");
        assertEquals(List.of("turn_unknown_channel"), drops);
        assertTrue(delivered.isEmpty(), "nothing delivered");
    }

    @Test
    void restCredentials_areCoturnsScheme() {
        TurnCredentials c = TurnCredentials.forWorker("secret", "w-1", 3600, 1_700_000_000L);
        assertEquals("1700003600:w-1", c.username());
        // base64(HMAC-SHA1("secret", "1700003600:w-1")), computed independently with openssl:
        // printf '1700003600:w-1' | openssl dgst -sha1 -hmac secret -binary | base64
        assertEquals(OPENSSL_HMAC, c.password());
        assertFalse(c.toString().contains(c.password()), "the password is never printed");
    }

    static final String OPENSSL_HMAC = "ex+T+KjPXzHyemmEo1GiXig/R9Y=";

    @Test
    void messageIntegrity_verifiesAndRejectsATamperedByte() throws Exception {
        byte[] key = StunMessage.longTermKey("user", "realm", "pass");
        StunMessage m = new StunMessage(StunClass.REQUEST, 0x003, StunMessage.newTransactionId(),
                List.of(new holepunch.stun.StunAttribute(AttributeType.REQUESTED_TRANSPORT, new byte[] {17, 0, 0, 0})));
        byte[] wire = m.encode(true, key);
        assertTrue(StunMessage.integrityMatches(wire, wire.length, key));
        assertEquals(m.attributes().getFirst(), StunMessage.parse(wire).attributes().getFirst(), "it still parses, FINGERPRINT included");
        byte[] tampered = wire.clone();
        tampered[21] ^= 1;
        assertFalse(StunMessage.integrityMatches(tampered, tampered.length, key));
        assertFalse(StunMessage.integrityMatches(wire, wire.length, StunMessage.longTermKey("user", "realm", "other")));
        assertArrayEquals(key, java.security.MessageDigest.getInstance("MD5").digest("user:realm:pass".getBytes(StandardCharsets.UTF_8)));
    }
}
