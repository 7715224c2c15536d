package holepunch.testing;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/** Free loopback ports for tests that must name a port before binding it. */
public final class Ports {
    private Ports() {
    }

    public static int freeUdp() throws IOException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            return s.getLocalPort();
        }
    }

    public static int freeTcp() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** A port free for UDP and for TCP (coturn listens on both with the one number), within 100 tries. */
    public static int freeUdpAndTcp() throws IOException {
        for (int i = 0; i < 100; i++) {
            try (DatagramSocket u = new DatagramSocket(0);
                 ServerSocket t = new ServerSocket(u.getLocalPort(), 1, java.net.InetAddress.getByName("127.0.0.1"))) {
                return t.getLocalPort();
            } catch (java.net.BindException taken) {
                // that number is taken for TCP: another
            }
        }
        throw new IOException("no port free for both UDP and TCP in 100 tries");
    }
}
