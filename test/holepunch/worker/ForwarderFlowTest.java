package holepunch.worker;

import holepunch.metrics.Metrics;
import holepunch.testing.Ports;
import org.junit.jupiter.api.Test;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** Issue 9 finding 6: a peer cannot inject replies into a flow it does not own. */
class ForwarderFlowTest {
    record Sent(String peer, byte[] payload) {
    }

    private static byte[] reply(int flow, String data) {
        return ByteBuffer.allocate(5 + data.length()).put(Forwarder.FROM_TARGET).putInt(flow).put(data.getBytes()).array();
    }

    @Test
    void repliesAreTakenOnlyFromTheFlowsOwnPeer_andFlowIdsAreNotSequential() throws Exception {
        LinkedBlockingQueue<Sent> toPeers = new LinkedBlockingQueue<>();
        int local = Ports.freeUdp();
        Metrics metrics = new Metrics();
        try (Forwarder f = new Forwarder("me", (peer, buf, off, len) -> toPeers.add(new Sent(peer, java.util.Arrays.copyOfRange(buf, off, off + len))),
                List.of(new Forwarder.Rule(local, "owner", "127.0.0.1", 7000)), List.of(), metrics);
             DatagramSocket app = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
             DatagramSocket app2 = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            app.setSoTimeout(5000);
            app.send(new DatagramPacket(new byte[] {1}, 1, new InetSocketAddress("127.0.0.1", local)));
            app2.send(new DatagramPacket(new byte[] {2}, 1, new InetSocketAddress("127.0.0.1", local)));
            Sent first = toPeers.poll(5, TimeUnit.SECONDS);
            Sent second = toPeers.poll(5, TimeUnit.SECONDS);
            assertNotNull(first);
            assertNotNull(second);
            assertEquals("owner", first.peer());
            int flow = ByteBuffer.wrap(first.payload()).getInt(1);
            int flow2 = ByteBuffer.wrap(second.payload()).getInt(1);
            assertNotEquals(flow + 1, flow2, "flow ids are random, not sequential");

            byte[] injected = reply(flow, "injected"), genuine = reply(flow, "genuine");
            f.onData("intruder", injected, 0, injected.length);                 // knows the flow id, not its peer
            f.onData("owner", genuine, 0, genuine.length);
            DatagramPacket got = new DatagramPacket(new byte[64], 64);
            app.receive(got);
            assertEquals("genuine", new String(got.getData(), 0, got.getLength()), "the intruder's reply never reaches the app");
            assertEquals(1, metrics.value("holepunch_worker_dropped_total", "reason", "foreign_flow"));
        }
    }
}
