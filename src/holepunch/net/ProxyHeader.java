package holepunch.net;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The PROXY protocol header a load balancer puts before a connection's first byte (HAProxy's
 * "The PROXY protocol", versions 1 and 2; what {@code send-proxy} and {@code send-proxy-v2} and most
 * cloud balancers send): the client's address and port. Byte syntax only; who may send one is
 * decided by the caller ({@code TRUSTED_PROXIES}).
 *
 * @param version 1 (text) or 2 (binary)
 * @param source  the client, or null when the header says to keep the connection's own endpoints
 *                (v2 {@code LOCAL}, as in a balancer's health check; v1 {@code UNKNOWN}; v2 {@code AF_UNSPEC})
 * @param length  the header's bytes, which the connection's data follows
 */
public record ProxyHeader(int version, InetSocketAddress source, int length) {
    /** v2's 12-byte signature (spec §2.2). */
    static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    private static final byte[] V1_PREFIX = "PROXY ".getBytes(StandardCharsets.US_ASCII);
    /** A v1 line is at most 107 bytes with its CRLF (spec §2.1). */
    static final int V1_MAX = 107;
    /** v2: 16 bytes, then the address block and TLVs; longer ones are refused here (the spec's UNIX block is 216). */
    public static final int MAX_BYTES = 1024;

    /**
     * The header at {@code b[off..off+len)}, or null when those bytes are a correct beginning of one but
     * more are needed.
     *
     * @throws ProtocolException when they are not a PROXY header, naming what is wrong
     */
    public static ProxyHeader parse(byte[] b, int off, int len) throws ProtocolException {
        if (len == 0) return null;
        if (b[off] == 0x0D) return parseV2(b, off, len);
        if (b[off] == 'P') return parseV1(b, off, len);
        throw new ProtocolException("PROXY header expected: the connection began with neither \"PROXY \" nor the v2 signature");
    }

    private static ProxyHeader parseV1(byte[] b, int off, int len) throws ProtocolException {
        int n = Math.min(len, V1_PREFIX.length);
        if (!Arrays.equals(b, off, off + n, V1_PREFIX, 0, n)) throw new ProtocolException("PROXY v1: the line does not begin with \"PROXY \"");
        int end = -1;
        for (int i = off; i + 1 < off + len && i + 1 < off + V1_MAX; i++) {
            if (b[i] == '\r' && b[i + 1] == '\n') {
                end = i;
                break;
            }
        }
        if (end < 0) {
            if (len >= V1_MAX) throw new ProtocolException("PROXY v1: no CRLF within " + V1_MAX + " bytes");
            return null;
        }
        String line = new String(b, off, end - off, StandardCharsets.US_ASCII);
        String[] f = line.split(" ", -1);
        int length = end - off + 2;
        if (f.length >= 2 && f[1].equals("UNKNOWN")) return new ProxyHeader(1, null, length);     // the rest is ignored (§2.1)
        if (f.length != 6 || !(f[1].equals("TCP4") || f[1].equals("TCP6"))) {
            throw new ProtocolException("PROXY v1: expected \"PROXY TCP4|TCP6 src dst sport dport\", got \"" + printable(line) + "\"");
        }
        InetAddress src = literal(f[2], f[1].equals("TCP4") ? 4 : 16);
        literal(f[3], f[1].equals("TCP4") ? 4 : 16);
        int sport = port(f[4]);
        port(f[5]);
        return new ProxyHeader(1, new InetSocketAddress(src, sport), length);
    }

    private static ProxyHeader parseV2(byte[] b, int off, int len) throws ProtocolException {
        int n = Math.min(len, V2_SIGNATURE.length);
        if (!Arrays.equals(b, off, off + n, V2_SIGNATURE, 0, n)) throw new ProtocolException("PROXY v2: the signature does not match");
        if (len < 16) return null;
        int verCmd = b[off + 12] & 0xFF;
        if (verCmd >> 4 != 2) throw new ProtocolException("PROXY v2: version " + (verCmd >> 4) + ", expected 2");
        int command = verCmd & 0x0F;
        if (command > 1) throw new ProtocolException("PROXY v2: unknown command " + command);
        int family = (b[off + 13] & 0xFF) >> 4;
        int blockLength = ((b[off + 14] & 0xFF) << 8) | (b[off + 15] & 0xFF);
        int length = 16 + blockLength;
        if (length > MAX_BYTES) throw new ProtocolException("PROXY v2: a header of " + length + " bytes (at most " + MAX_BYTES + " taken)");
        if (len < length) return null;
        if (command == 0) return new ProxyHeader(2, null, length);       // LOCAL: the connection's own endpoints (§2.2)
        int addressBytes = switch (family) {
            case 1 -> 4;
            case 2 -> 16;
            default -> 0;                    // AF_UNSPEC or AF_UNIX: no IP address to take
        };
        if (addressBytes == 0) return new ProxyHeader(2, null, length);
        if (blockLength < 2 * addressBytes + 4) {
            throw new ProtocolException("PROXY v2: an address block of " + blockLength + " bytes, too short for its family");
        }
        byte[] src = Arrays.copyOfRange(b, off + 16, off + 16 + addressBytes);
        int sport = ((b[off + 16 + 2 * addressBytes] & 0xFF) << 8) | (b[off + 17 + 2 * addressBytes] & 0xFF);
        try {
            return new ProxyHeader(2, new InetSocketAddress(InetAddress.getByAddress(src), sport), length);
        } catch (UnknownHostException e) {
            throw new ProtocolException("PROXY v2: " + e.getMessage());
        }
    }

    private static InetAddress literal(String text, int bytes) throws ProtocolException {
        InetAddress a = Addresses.literal(text);
        if (a == null || a.getAddress().length != bytes) throw new ProtocolException("PROXY v1: '" + printable(text) + "' is not an IPv" + (bytes == 4 ? 4 : 6) + " address");
        return a;
    }

    private static int port(String text) throws ProtocolException {
        if (!text.matches("0|[1-9][0-9]{0,4}") || Integer.parseInt(text) > 65535) throw new ProtocolException("PROXY v1: '" + printable(text) + "' is not a port");
        return Integer.parseInt(text);
    }

    private static String printable(String s) {
        return s.length() > 60 ? s.substring(0, 60).replaceAll("[^\\x20-\\x7e]", "?") + "..." : s.replaceAll("[^\\x20-\\x7e]", "?");
    }

    /** A v1 line for a TCP connection from {@code source} to {@code destination}. */
    public static byte[] encodeV1(InetSocketAddress source, InetSocketAddress destination) {
        String family = source.getAddress().getAddress().length == 4 ? "TCP4" : "TCP6";
        return ("PROXY " + family + " " + Addresses.text(source.getAddress()) + " " + Addresses.text(destination.getAddress()) + " "
                + source.getPort() + " " + destination.getPort() + "\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** A v2 PROXY header (stream) for a connection from {@code source} to {@code destination}, same family. */
    public static byte[] encodeV2(InetSocketAddress source, InetSocketAddress destination) {
        byte[] s = source.getAddress().getAddress(), d = destination.getAddress().getAddress();
        byte[] out = new byte[16 + 2 * s.length + 4];
        System.arraycopy(V2_SIGNATURE, 0, out, 0, 12);
        out[12] = 0x21;
        out[13] = (byte) (s.length == 4 ? 0x11 : 0x21);
        int block = 2 * s.length + 4;
        out[14] = (byte) (block >> 8);
        out[15] = (byte) block;
        System.arraycopy(s, 0, out, 16, s.length);
        System.arraycopy(d, 0, out, 16 + s.length, d.length);
        int p = 16 + 2 * s.length;
        out[p] = (byte) (source.getPort() >> 8);
        out[p + 1] = (byte) source.getPort();
        out[p + 2] = (byte) (destination.getPort() >> 8);
        out[p + 3] = (byte) destination.getPort();
        return out;
    }
}
