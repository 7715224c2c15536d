package holepunch.bench;

import holepunch.stun.StunMessage;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;

/** Binding requests from one client socket with a fixed number outstanding; counts answers per second. */
final class StunLoad {
    private StunLoad() {
    }

    /** Waits until the server answers a Binding request (at most 30 s). */
    static void awaitReady(InetSocketAddress server) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        try (java.net.DatagramSocket s = new java.net.DatagramSocket()) {
            s.setSoTimeout(200);
            byte[] req = StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(true);
            while (System.nanoTime() < deadline) {
                try {
                    s.send(new java.net.DatagramPacket(req, req.length, server));
                    s.receive(new java.net.DatagramPacket(new byte[1500], 1500));
                    return;
                } catch (IOException e) {
                    Thread.sleep(50);    // not listening yet
                }
            }
        }
        throw new IOException("STUN server " + server + " did not answer within 30 s");
    }

    /** Returns answers per second over {@code seconds}, keeping {@code window} requests outstanding. */
    static double run(InetSocketAddress server, int window, double seconds) throws IOException {
        try (DatagramChannel ch = DatagramChannel.open()) {
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            ch.connect(server);
            ch.socket().setSoTimeout(200);
            ch.socket().setReceiveBufferSize(1 << 20);
            byte[] request = StunMessage.bindingRequest(StunMessage.newTransactionId()).encode(true);
            ByteBuffer out = ByteBuffer.wrap(request);
            byte[] in = new byte[1500];
            java.net.DatagramPacket packet = new java.net.DatagramPacket(in, in.length);
            long counter = 0;
            long answers = 0;
            long start = System.nanoTime();
            long end = start + (long) (seconds * 1e9);
            for (int i = 0; i < window; i++) send(ch, out, request, counter++);
            while (System.nanoTime() < end) {
                try {
                    ch.socket().receive(packet);
                    answers++;
                    send(ch, out, request, counter++);
                } catch (SocketTimeoutException e) {
                    for (int i = 0; i < window; i++) send(ch, out, request, counter++);   // refill after losses
                }
            }
            return answers / ((System.nanoTime() - start) / 1e9);
        }
    }

    /** A fresh transaction id per request (the last 8 bytes count up); the FINGERPRINT is recomputed. */
    private static void send(DatagramChannel ch, ByteBuffer out, byte[] template, long n) throws IOException {
        byte[] tid = new byte[12];
        ByteBuffer.wrap(tid).putLong(4, n);
        byte[] req = StunMessage.bindingRequest(tid).encode(true);
        ch.write(ByteBuffer.wrap(req));
    }
}
