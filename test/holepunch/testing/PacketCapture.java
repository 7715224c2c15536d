package holepunch.testing;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code tcpdump} (Debian's) capturing one interface, in this network namespace or a lab's, until
 * stopped; for tests that assert what crosses the wire. The capture file is deleted on close.
 */
public final class PacketCapture implements AutoCloseable {
    private final Process process;
    private final Path file;

    private PacketCapture(List<String> prefix, String iface, String filter, Runnable canary) throws Exception {
        file = Files.createTempFile("hp-capture", ".pcap");
        List<String> cmd = new ArrayList<>(prefix);
        // --immediate-mode: packets reach the file as they come, not when a kernel buffer block fills
        cmd.addAll(List.of("tcpdump", "-Z", "root", "-i", iface, "--immediate-mode", "-U", "-n", "-s", "0", "-w", file.toString(), filter));
        process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = out.readLine()) != null && !line.contains("listening on")) {
            // the first line saying it captures
        }
        if (line == null) throw new AssertionError("tcpdump did not start on " + iface);
        Thread.ofVirtual().start(() -> {
            try {
                out.transferTo(java.io.Writer.nullWriter());
            } catch (java.io.IOException e) {
                // gone
            }
        });
        // "listening" comes before the filter sees packets: a canary is sent until the file grows.
        canary.run();
        Await.until(Duration.ofSeconds(10), "tcpdump capturing on " + iface, () -> {
            if (Files.size(file) > 24) return true;           // more than the pcap file header: a packet
            canary.run();
            return false;
        });
    }

    /** Captures {@code filter} on loopback here (plus a canary port of its own). */
    public static PacketCapture loopback(String filter) throws Exception {
        int canary = Ports.freeUdp();
        return new PacketCapture(List.of(), "lo", "udp port " + canary + " or " + filter, () -> {
            try (DatagramSocket s = new DatagramSocket()) {
                byte[] hello = "canary".getBytes(StandardCharsets.US_ASCII);
                s.send(new DatagramPacket(hello, hello.length, new InetSocketAddress("127.0.0.1", canary)));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /** Captures everything on {@code iface} inside network namespace {@code ns}; {@code canary} makes a packet cross it. */
    public static PacketCapture inNamespace(String ns, String iface, Runnable canary) throws Exception {
        return new PacketCapture(List.of("ip", "netns", "exec", ns), iface, "ip", canary);
    }

    /** Stops the capture and returns what it wrote. */
    public byte[] stop() throws Exception {
        process.destroy();                 // SIGTERM: tcpdump flushes and exits
        if (!process.waitFor(10, TimeUnit.SECONDS)) throw new AssertionError("tcpdump did not stop");
        return Files.readAllBytes(file);
    }

    @Override
    public void close() throws Exception {
        process.destroyForcibly();
        Files.deleteIfExists(file);
    }

    /**
     * Whether {@code marker} is in {@code capture} as bytes or as base64 at any alignment (the
     * relay carries payloads base64-encoded in JSON; the server's frames are not masked).
     */
    public static boolean revealed(byte[] capture, String marker) {
        byte[] raw = marker.getBytes(StandardCharsets.UTF_8);
        if (contains(capture, raw)) return true;
        for (int shift = 0; shift < 3; shift++) {
            byte[] padded = new byte[shift + raw.length];
            System.arraycopy(raw, 0, padded, shift, raw.length);
            String b64 = Base64.getEncoder().encodeToString(padded);
            String stable = b64.substring(4, b64.length() - 4);      // the characters no neighbouring byte changes
            if (contains(capture, stable.getBytes(StandardCharsets.US_ASCII))) return true;
        }
        return false;
    }

    /** Whether {@code needle} occurs in {@code haystack}. */
    public static boolean contains(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) if (haystack[i + j] != needle[j]) continue outer;
            return true;
        }
        return false;
    }
}
