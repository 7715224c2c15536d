package holepunch.net;

import org.junit.jupiter.api.Test;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** recvmmsg/sendmmsg, UDP_SEGMENT and UDP_GRO through FFM, on real loopback sockets, byte for byte. */
class UdpBatchTest {
    private static byte[] datagram(int seq, int len) {
        byte[] d = new byte[len];
        for (int i = 0; i < len; i++) d[i] = (byte) (seq * 31 + i);
        return d;
    }

    private static DatagramChannel bound(boolean dualStack) throws Exception {
        DatagramChannel ch = dualStack ? DatagramChannel.open() : DatagramChannel.open(StandardProtocolFamily.INET);
        ch.bind(new InetSocketAddress(dualStack ? "::" : "127.0.0.1", 0));
        return ch;
    }

    @Test
    void available_onThisLinux() {
        assertNull(UdpBatch.unavailable(), "the batched calls should be there on Linux x86-64/AArch64");
    }

    @Test
    void receive_takesManyDatagramsPerCall_withTheirSendersAndBytes() throws Exception {
        try (DatagramChannel ch = bound(false);
             DatagramSocket a = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
             DatagramSocket b = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
             UdpBatch batch = UdpBatch.open(ch, 1500)) {
            InetSocketAddress to = (InetSocketAddress) ch.getLocalAddress();
            for (int i = 0; i < 40; i++) {
                byte[] d = datagram(i, 100 + i);
                (i % 2 == 0 ? a : b).send(new DatagramPacket(d, d.length, to));
            }
            Map<Integer, InetSocketAddress> from = new HashMap<>();
            int got = 0, calls = 0;
            byte[] buf = new byte[1500];
            while (got < 40 && calls < 50) {
                int n = batch.receive();
                calls++;
                for (int i = 0; i < n; i++) {
                    int len = batch.copy(i, buf, 0);
                    int seq = len - 100;
                    assertArrayEquals(datagram(seq, len), Arrays.copyOf(buf, len), "datagram " + seq);
                    from.put(seq, batch.source(i));
                    got++;
                }
            }
            assertEquals(40, got);
            assertTrue(calls < 40, "several datagrams per call (" + calls + " calls)");
            for (int i = 0; i < 40; i++) assertEquals(i % 2 == 0 ? a.getLocalSocketAddress() : b.getLocalSocketAddress(), from.get(i));
        }
    }

    @Test
    void receive_returnsNothingAfterItsWait_whenNothingCame() throws Exception {
        try (DatagramChannel ch = bound(false); UdpBatch batch = UdpBatch.open(ch, 1500)) {
            assertEquals(0, batch.receive());
        }
    }

    /**
     * The JDK makes a channel's descriptor non-blocking for good once a virtual thread uses it (the
     * worker's session handlers send on the worker's socket), and recvmmsg then returned at once with
     * nothing: the worker's reader spun, a whole core and ~800 MB/s of garbage from an idle worker,
     * which also slowed every forward beside it. An idle receive on such a descriptor must wait, and
     * one with a datagram there must still take it.
     */
    @Test
    void receive_onANonBlockingDescriptor_waitsInsteadOfSpinning() throws Exception {
        try (DatagramChannel ch = bound(false); DatagramSocket peer = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            ch.configureBlocking(false);                              // O_NONBLOCK, as the JDK leaves it after a virtual thread
            try (UdpBatch batch = UdpBatch.open(ch, 1500)) {
                java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
                long wall0 = System.nanoTime(), cpu0 = threads.getCurrentThreadCpuTime();
                int calls = 0;
                while (System.nanoTime() - wall0 < 600_000_000L && calls < 100_000) {
                    assertEquals(0, batch.receive());
                    calls++;
                }
                long cpuMillis = (threads.getCurrentThreadCpuTime() - cpu0) / 1_000_000;
                assertTrue(calls <= 600 / UdpBatch.RECEIVE_WAIT_MILLIS + 1, calls + " receives in 0.6 s: each should wait up to "
                        + UdpBatch.RECEIVE_WAIT_MILLIS + " ms");
                assertTrue(cpuMillis < 100, cpuMillis + " ms of CPU in 0.6 s of waiting");
                byte[] d = datagram(7, 300);
                peer.send(new DatagramPacket(d, d.length, ch.getLocalAddress()));
                assertEquals(1, batch.receive(), "a datagram that is there is taken");
                byte[] buf = new byte[1500];
                assertArrayEquals(d, Arrays.copyOf(buf, batch.copy(0, buf, 0)));
            }
        }
    }

    /** Runs of equal datagrams to one destination go segmented (UDP_SEGMENT), others one by one: every one arrives whole and in order. */
    @Test
    void flush_mixedSizesAndDestinations_eachArrivesWhole() throws Exception {
        for (boolean dualStack : List.of(false, true)) {
            try (DatagramChannel out = bound(dualStack);
                 DatagramSocket r1 = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
                 DatagramSocket r2 = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
                UdpBatch batch = UdpBatch.forSending(2048);
                assertNotNull(batch);
                try (batch) {
                    batch.switchTo(out);
                    List<byte[]> toR1 = new ArrayList<>(), toR2 = new ArrayList<>();
                    int[] sizes = {1200, 1200, 1200, 700, 1200, 1200, 50, 1300, 1300, 1300, 1300};
                    for (int i = 0; i < sizes.length; i++) {
                        byte[] d = datagram(i, sizes[i]);
                        boolean first = i != 4;
                        (first ? toR1 : toR2).add(d);
                        batch.add(d, 0, d.length, (InetSocketAddress) (first ? r1 : r2).getLocalSocketAddress());
                    }
                    assertEquals(sizes.length, batch.flush());
                    r1.setSoTimeout(2000);
                    r2.setSoTimeout(2000);
                    for (byte[] want : toR1) assertArrayEquals(want, receive(r1), "dual stack " + dualStack);
                    for (byte[] want : toR2) assertArrayEquals(want, receive(r2));
                }
            }
        }
    }

    private static byte[] receive(DatagramSocket s) throws Exception {
        DatagramPacket p = new DatagramPacket(new byte[4096], 4096);
        s.receive(p);
        return Arrays.copyOf(p.getData(), p.getLength());
    }

    /** A segmented send to a socket that asked for coalescing (UDP_GRO) arrives as one buffer, which segmentSize splits. */
    @Test
    void coalescedReceive_splitsBackIntoTheDatagramsSent() throws Exception {
        try (DatagramChannel in = bound(true); DatagramChannel out = bound(true);
             UdpBatch rx = UdpBatch.open(in, 2048, true); UdpBatch tx = UdpBatch.forSending(2048)) {
            tx.switchTo(out);
            InetSocketAddress to = new InetSocketAddress("127.0.0.1", ((InetSocketAddress) in.getLocalAddress()).getPort());
            List<byte[]> sent = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                byte[] d = datagram(i, i == 19 ? 333 : 1000);
                sent.add(d);
                tx.add(d, 0, d.length, to);
            }
            assertEquals(20, tx.flush());
            List<byte[]> got = new ArrayList<>();
            boolean coalesced = false;
            for (int calls = 0; got.size() < 20 && calls < 20; calls++) {
                int n = rx.receive();
                for (int i = 0; i < n; i++) {
                    int len = rx.length(i), seg = rx.segmentSize(i);
                    coalesced |= seg > 0;
                    if (seg <= 0) seg = len;
                    for (int at = 0; at < len; at += seg) {
                        byte[] d = new byte[Math.min(seg, len - at)];
                        rx.copy(i, at, d.length, d, 0);
                        got.add(d);
                    }
                    assertEquals(((InetSocketAddress) out.getLocalAddress()).getPort(), rx.source(i).getPort());
                }
            }
            assertEquals(20, got.size());
            for (int i = 0; i < 20; i++) assertArrayEquals(sent.get(i), got.get(i), "datagram " + i);
            assertTrue(coalesced, "on loopback the kernel hands a segmented send to a UDP_GRO socket in one piece");
        }
    }

    @Test
    void connectedSends_switchBetweenChannels() throws Exception {
        try (DatagramSocket r1 = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
             DatagramSocket r2 = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
             DatagramChannel c1 = DatagramChannel.open().connect(r1.getLocalSocketAddress());
             DatagramChannel c2 = DatagramChannel.open().connect(r2.getLocalSocketAddress());
             UdpBatch tx = UdpBatch.forSending(2048)) {
            r1.setSoTimeout(2000);
            r2.setSoTimeout(2000);
            tx.switchTo(c1);
            tx.addConnected(datagram(1, 10), 0, 10);
            tx.addConnected(datagram(2, 10), 0, 10);
            assertEquals(0, tx.switchTo(c2), "the first channel's two went out");
            tx.addConnected(datagram(3, 20), 0, 20);
            assertEquals(1, tx.flush());
            assertArrayEquals(datagram(1, 10), receive(r1));
            assertArrayEquals(datagram(2, 10), receive(r1));
            DatagramPacket p = new DatagramPacket(new byte[64], 64);
            r2.receive(p);
            assertArrayEquals(datagram(3, 20), Arrays.copyOf(p.getData(), p.getLength()));
            assertEquals(((InetSocketAddress) c2.getLocalAddress()).getPort(), p.getPort(), "sent from the connected channel's own port");
        }
    }

    @Test
    void sameSenderTwice_isTheSameAddressObject() throws Exception {
        try (DatagramChannel ch = bound(false);
             DatagramChannel a = DatagramChannel.open().connect(ch.getLocalAddress());
             UdpBatch batch = UdpBatch.open(ch, 1500)) {
            a.write(ByteBuffer.wrap(new byte[] {1}));
            a.write(ByteBuffer.wrap(new byte[] {2}));
            int n = 0;
            InetSocketAddress[] seen = new InetSocketAddress[2];
            for (int calls = 0; n < 2 && calls < 10; calls++) {
                int k = batch.receive();
                for (int i = 0; i < k; i++) seen[n++] = batch.source(i);
            }
            assertSame(seen[0], seen[1], "no address object per datagram from the same sender");
        }
    }
}
