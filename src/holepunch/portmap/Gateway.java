package holepunch.portmap;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The IPv4 default gateway, from the kernel's routing table ({@code /proc/net/route} on Linux):
 * where NAT-PMP, PCP and UPnP requests go.
 */
public final class Gateway {
    static final Path ROUTES = Path.of("/proc/net/route");

    private Gateway() {
    }

    /** The default route's gateway, or null when there is none (or no such table on this system). */
    public static InetAddress find() {
        try {
            return parse(Files.readAllLines(ROUTES));
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Lines of /proc/net/route: Iface, Destination, Gateway, Flags, ... in hex, addresses in the
     * host's (little-endian) byte order; the default route has destination and mask 0 and the
     * gateway flag (0x2) set. The lowest metric wins.
     */
    static InetAddress parse(List<String> lines) {
        InetAddress best = null;
        long bestMetric = Long.MAX_VALUE;
        for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 8) continue;
            try {
                long dest = Long.parseLong(f[1], 16), gw = Long.parseLong(f[2], 16), flags = Long.parseLong(f[3], 16);
                long metric = Long.parseLong(f[6]), mask = Long.parseLong(f[7], 16);
                if (dest != 0 || mask != 0 || (flags & 0x2) == 0 || gw == 0 || metric >= bestMetric) continue;
                byte[] ip = {(byte) gw, (byte) (gw >> 8), (byte) (gw >> 16), (byte) (gw >> 24)};
                best = Inet4Address.getByAddress(ip);
                bestMetric = metric;
            } catch (NumberFormatException | UnknownHostException e) {
                // not a route line
            }
        }
        return best;
    }
}
