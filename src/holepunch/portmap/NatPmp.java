package holepunch.portmap;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;

/**
 * NAT-PMP messages (RFC 6886): the external-address request and the UDP mapping request, and
 * their answers. Byte syntax only; {@link PortMapper} runs the exchanges (RFC 6886 §3.1
 * retransmissions, §3.3 renewal at half the lifetime, §3.4 deletion with lifetime 0).
 */
final class NatPmp {
    static final int PORT = 5351;
    static final int VERSION = 0;
    static final int OP_EXTERNAL_ADDRESS = 0;
    static final int OP_MAP_UDP = 1;
    /** A response's opcode is the request's plus 128 (RFC 6886 §3.2, §3.3). */
    static final int RESPONSE = 128;

    private NatPmp() {
    }

    /** RFC 6886 §3.2: version, opcode 0. */
    static byte[] externalAddressRequest() {
        return new byte[] {VERSION, OP_EXTERNAL_ADDRESS};
    }

    /** RFC 6886 §3.3: version, opcode 1 (UDP), reserved, internal port, suggested external port, lifetime (0 deletes). */
    static byte[] mapRequest(int internalPort, int suggestedExternalPort, long lifetimeSeconds) {
        return ByteBuffer.allocate(12).put((byte) VERSION).put((byte) OP_MAP_UDP).putShort((short) 0)
                .putShort((short) internalPort).putShort((short) suggestedExternalPort).putInt((int) lifetimeSeconds).array();
    }

    /** The answer to an external-address request (12 bytes, opcode 128). */
    record ExternalAddress(int result, long epochSeconds, InetAddress address) {
    }

    /** The answer to a mapping request (16 bytes, opcode 129). */
    record Mapped(int result, long epochSeconds, int internalPort, int externalPort, long lifetimeSeconds) {
    }

    static ExternalAddress parseExternalAddress(byte[] d, int length) throws PortMapException {
        ByteBuffer b = header(d, length, OP_EXTERNAL_ADDRESS, 12);
        int result = b.getShort() & 0xFFFF;
        long epoch = b.getInt() & 0xFFFFFFFFL;
        byte[] ip = new byte[4];
        b.get(ip);
        try {
            return new ExternalAddress(result, epoch, Inet4Address.getByAddress(ip));
        } catch (UnknownHostException e) {
            throw new PortMapException("NAT-PMP: bad external address");
        }
    }

    static Mapped parseMapped(byte[] d, int length) throws PortMapException {
        ByteBuffer b = header(d, length, OP_MAP_UDP, 16);
        int result = b.getShort() & 0xFFFF;
        long epoch = b.getInt() & 0xFFFFFFFFL;
        return new Mapped(result, epoch, b.getShort() & 0xFFFF, b.getShort() & 0xFFFF, b.getInt() & 0xFFFFFFFFL);
    }

    /**
     * Version and opcode checked; a short answer with result code 1 (unsupported version) is what a
     * PCP-only server may send back (RFC 6887 §9), and is reported as such.
     */
    private static ByteBuffer header(byte[] d, int length, int op, int size) throws PortMapException {
        if (length >= 4 && d[0] == VERSION && (d[1] & 0xFF) == RESPONSE + op && length < size) {
            throw new PortMapException("NAT-PMP: result " + describe(((d[2] & 0xFF) << 8) | (d[3] & 0xFF)));
        }
        if (length < size) throw new PortMapException("NAT-PMP: answer of " + length + " bytes, " + size + " expected");
        if (d[0] != VERSION) throw new PortMapException("NAT-PMP: answer of version " + (d[0] & 0xFF));
        if ((d[1] & 0xFF) != RESPONSE + op) throw new PortMapException("NAT-PMP: answer with opcode " + (d[1] & 0xFF));
        return ByteBuffer.wrap(d, 2, length - 2);
    }

    /** RFC 6886 §3.5 result codes. */
    static String describe(int result) {
        return switch (result) {
            case 0 -> "0 (success)";
            case 1 -> "1 (unsupported version)";
            case 2 -> "2 (not authorized or refused)";
            case 3 -> "3 (network failure)";
            case 4 -> "4 (out of resources)";
            case 5 -> "5 (unsupported opcode)";
            default -> result + " (unknown)";
        };
    }
}
