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

    /**
     * {@code n} distinct free TCP ports: each is held until all are chosen, so none is handed out twice (single
     * calls may return a port just closed again).
     */
    public static int[] freeTcp(int n) throws IOException {
        java.util.List<ServerSocket> held = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < n; i++) held.add(new ServerSocket(0));
            return held.stream().mapToInt(ServerSocket::getLocalPort).toArray();
        } finally {
            for (ServerSocket s : held) s.close();
        }
    }

    /** {@code n} distinct free UDP ports on loopback, chosen as {@link #freeTcp(int)}. */
    public static int[] freeUdp(int n) throws IOException {
        java.util.List<DatagramSocket> held = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < n; i++) held.add(new DatagramSocket(new InetSocketAddress("127.0.0.1", 0)));
            return held.stream().mapToInt(DatagramSocket::getLocalPort).toArray();
        } finally {
            for (DatagramSocket s : held) s.close();
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
