package holepunch.net;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What the kernel does for a data plane's UDP sockets: their buffer sizes (SO_RCVBUF, SO_SNDBUF,
 * socket(7)) and the datagrams it dropped because a socket's receive buffer was full (the
 * {@code drops} column of {@code /proc/net/udp}, udp(7)), which no Java API reports.
 */
public final class UdpSockets {
    private UdpSockets() {
    }

    /** The buffer sizes asked for; the kernel may give less (net.core.rmem_max, wmem_max). */
    public record Buffers(int receive, int send) {
    }

    /**
     * Asks for {@code b}'s sizes on {@code ch}; returns what the kernel cut, in words (null when it
     * gave what was asked). (Linux doubles the value set for its bookkeeping; the JDK halves what it reads back.)
     */
    public static String size(DatagramChannel ch, Buffers b) throws IOException {
        ch.setOption(StandardSocketOptions.SO_RCVBUF, b.receive());
        ch.setOption(StandardSocketOptions.SO_SNDBUF, b.send());
        int rcv = ch.getOption(StandardSocketOptions.SO_RCVBUF), snd = ch.getOption(StandardSocketOptions.SO_SNDBUF);
        String cut = "";
        if (rcv < b.receive()) cut += "SO_RCVBUF to " + rcv + " bytes (asked " + b.receive() + "; net.core.rmem_max)";
        if (snd < b.send()) cut += (cut.isEmpty() ? "" : " and ") + "SO_SNDBUF to " + snd + " bytes (asked " + b.send() + "; net.core.wmem_max)";
        return cut.isEmpty() ? null : cut;
    }

    /** The socket inode of {@code ch} ({@code /proc/self/fd}), or -1 where that cannot be read. */
    public static long inode(DatagramChannel ch) {
        try {
            java.lang.reflect.Method m = ch.getClass().getMethod("getFDVal");
            m.setAccessible(true);
            String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + m.invoke(ch))).toString();   // socket:[12345]
            return link.startsWith("socket:[") ? Long.parseLong(link.substring(8, link.length() - 1)) : -1;
        } catch (ReflectiveOperationException | IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * Datagrams the kernel dropped at the receive buffers of the sockets with these inodes, since
     * each was opened; 0 where {@code /proc/net/udp} cannot be read.
     */
    public static long drops(Collection<Long> inodes) {
        if (inodes.isEmpty()) return 0;
        Set<Long> wanted = new HashSet<>(inodes);
        long sum = 0;
        for (String table : List.of("/proc/net/udp", "/proc/net/udp6")) {
            try {
                for (String line : Files.readAllLines(Path.of(table))) {
                    String[] f = line.trim().split("\\s+");
                    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
                    if (f.length < 13 || !f[0].endsWith(":")) continue;
                    if (wanted.contains(Long.parseLong(f[9]))) sum += Long.parseLong(f[12]);
                }
            } catch (IOException | RuntimeException e) {
                // not Linux, or no such table: nothing to add
            }
        }
        return sum;
    }
}
