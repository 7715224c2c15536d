package holepunch.worker;

import holepunch.metrics.Metrics;
import holepunch.net.UdpSockets;
import holepunch.testing.Ports;
import org.junit.jupiter.api.Test;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The forwarding data plane, batched ({@code recvmmsg}/{@code sendmmsg}) and one datagram per
 * call (the fallback): sizes up to the limit go whole, a larger one is dropped and counted (never
 * cut), and a datagram with no path is counted too.
 */
class ForwarderDataPlaneTest {
    record Sent(String peer, byte[] payload) {
    }

    private static final UdpSockets.Buffers BUFFERS = new UdpSockets.Buffers(1 << 20, 1 << 20);

    @Test
    void listener_carriesUpToTheLimitWhole_dropsLargerAndPathless_countingEach() throws Exception {
        for (boolean batch : List.of(true, false)) {
            LinkedBlockingQueue<Sent> toPeer = new LinkedBlockingQueue<>();
            AtomicBoolean path = new AtomicBoolean(true);
            int local = Ports.freeUdp();
            Metrics metrics = new Metrics();
            try (Forwarder f = new Forwarder("me", (peer, buf, off, len) -> path.get()
                    && toPeer.add(new Sent(peer, Arrays.copyOfRange(buf, off, off + len))),
                    List.of(new Forwarder.Rule(local, "b", "127.0.0.1", 7000)), List.of(), metrics, BUFFERS, batch);
                 DatagramSocket app = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
                InetSocketAddress to = new InetSocketAddress("127.0.0.1", local);
                byte[] max = new byte[Forwarder.MAX_DATAGRAM], over = new byte[Forwarder.MAX_DATAGRAM + 1];
                Arrays.fill(max, (byte) 7);
                app.send(new DatagramPacket(over, over.length, to));
                app.send(new DatagramPacket(max, max.length, to));
                Sent s = toPeer.poll(5, TimeUnit.SECONDS);
                assertNotNull(s, "batch " + batch);
                String target = "127.0.0.1:7000";
                assertEquals(7 + target.length() + max.length, s.payload().length, "the largest carried whole");
                assertArrayEquals(max, Arrays.copyOfRange(s.payload(), 7 + target.length(), s.payload().length));
                holepunch.testing.Await.until(java.time.Duration.ofSeconds(5), "too_large counted, batch " + batch,
                        () -> metrics.value("holepunch_worker_dropped_total", "reason", "too_large") == 1);
                assertNull(toPeer.poll(200, TimeUnit.MILLISECONDS), "the larger one was not cut and sent");
                path.set(false);
                app.send(new DatagramPacket(new byte[10], 10, to));
                holepunch.testing.Await.until(java.time.Duration.ofSeconds(5), "no_path counted, batch " + batch,
                        () -> metrics.value("holepunch_worker_dropped_total", "reason", "no_path") >= 1);
                assertEquals(1, metrics.value("holepunch_worker_dropped_total", "reason", "no_path"), "batch " + batch);
            }
        }
    }

    /** The far side: held deliveries (one system call for many) reach the target whole and in order, as unheld ones do. */
    @Test
    void farSide_deliversHeldAndUnheldDatagramsWhole() throws Exception {
        for (boolean batch : List.of(true, false)) {
            try (DatagramSocket target = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
                target.setSoTimeout(5000);
                String name = "127.0.0.1:" + target.getLocalPort();
                Metrics metrics = new Metrics();
                try (Forwarder f = new Forwarder("far", (peer, buf, off, len) -> true, List.of(), List.of(name), metrics, BUFFERS, batch)) {
                    f.hold();
                    for (int i = 0; i < 40; i++) {
                        byte[] p = payload(7, name, i, i == 39 ? 5 : 1200);
                        f.onData("near", p, 0, p.length);
                    }
                    f.release();
                    for (int i = 0; i < 40; i++) {
                        DatagramPacket got = new DatagramPacket(new byte[2048], 2048);
                        target.receive(got);
                        byte[] want = payload(7, name, i, i == 39 ? 5 : 1200);
                        assertArrayEquals(Arrays.copyOfRange(want, 7 + name.length(), want.length), Arrays.copyOf(got.getData(), got.getLength()),
                                "datagram " + i + ", batch " + batch);
                    }
                    f.forgetThread();
                }
            }
        }
    }

    private static byte[] payload(int flow, String target, int seq, int len) {
        byte[] t = target.getBytes();
        byte[] p = new byte[7 + t.length + len];
        p[0] = Forwarder.TO_TARGET;
        p[4] = (byte) flow;
        p[6] = (byte) t.length;
        System.arraycopy(t, 0, p, 7, t.length);
        for (int i = 0; i < len; i++) p[7 + t.length + i] = (byte) (seq + i);
        return p;
    }
}
