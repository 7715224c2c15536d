package holepunch.portmap;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * PCP MAP requests and responses (RFC 6887 §7.1, §7.2, §11.1), for one UDP port. Byte syntax
 * only; {@link PortMapper} runs the exchange. IPv4 addresses travel as IPv4-mapped IPv6 addresses
 * (RFC 6887 §5); a request for a new mapping suggests the all-zeros address (::ffff:0.0.0.0).
 */
final class Pcp {
    static final int PORT = 5351;
    static final int VERSION = 2;
    static final int OP_MAP = 1;
    static final int PROTOCOL_UDP = 17;
    static final int REQUEST_SIZE = 24 + 36;
    static final int RESPONSE_SIZE = 24 + 36;
    static final int MAX_SIZE = 1100;          // RFC 6887 §7: a PCP message is at most 1100 bytes

    private Pcp() {
    }

    /** RFC 6887 §7.1 header and §11.1 MAP opcode: lifetime 0 deletes the mapping (§15). */
    static byte[] mapRequest(InetAddress client, byte[] nonce, int internalPort, int suggestedExternalPort, long lifetimeSeconds) {
        if (nonce.length != 12) throw new IllegalArgumentException("a PCP mapping nonce is 96 bits");
        return ByteBuffer.allocate(REQUEST_SIZE)
                .put((byte) VERSION).put((byte) OP_MAP).putShort((short) 0).putInt((int) lifetimeSeconds).put(mapped(client))
                .put(nonce).put((byte) PROTOCOL_UDP).put(new byte[3]).putShort((short) internalPort).putShort((short) suggestedExternalPort)
                .put(mapped(null)).array();
    }

    /** A MAP response (RFC 6887 §7.2, §11.1). */
    record MapResponse(int result, long lifetimeSeconds, long epochSeconds, byte[] nonce, int internalPort, int externalPort,
                       InetAddress externalAddress) {
    }

    static MapResponse parseMapResponse(byte[] d, int length) throws PortMapException {
        if (length < 4) throw new PortMapException("PCP: answer of " + length + " bytes");
        if ((d[0] & 0xFF) != VERSION) {
            // A NAT-PMP-only server answers a PCP request with its own version 0 and result 1 (RFC 6887 §9).
            throw new PortMapException("PCP: answer of version " + (d[0] & 0xFF) + " (the gateway speaks NAT-PMP, not PCP)");
        }
        if ((d[1] & 0xFF) != (0x80 | OP_MAP)) throw new PortMapException("PCP: answer with opcode byte " + (d[1] & 0xFF));
        int result = d[3] & 0xFF;
        if (result != 0 && length >= 24 && length < RESPONSE_SIZE) {
            return new MapResponse(result, 0, 0, new byte[12], 0, 0, null);
        }
        if (length < RESPONSE_SIZE || length > MAX_SIZE || length % 4 != 0) {
            throw new PortMapException("PCP: MAP answer of " + length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(d, 0, length);
        long lifetime = b.getInt(4) & 0xFFFFFFFFL;
        long epoch = b.getInt(8) & 0xFFFFFFFFL;
        byte[] nonce = Arrays.copyOfRange(d, 24, 36);
        if ((d[36] & 0xFF) != PROTOCOL_UDP) throw new PortMapException("PCP: MAP answer for protocol " + (d[36] & 0xFF));
        int internal = b.getShort(40) & 0xFFFF;
        int external = b.getShort(42) & 0xFFFF;
        return new MapResponse(result, lifetime, epoch, nonce, internal, external, unmapped(Arrays.copyOfRange(d, 44, 60)));
    }

    /** An address as the 128-bit field: IPv4 as ::ffff:a.b.c.d, null as ::ffff:0.0.0.0. */
    static byte[] mapped(InetAddress a) {
        if (a instanceof Inet6Address) return a.getAddress();
        byte[] out = new byte[16];
        out[10] = (byte) 0xFF;
        out[11] = (byte) 0xFF;
        if (a != null) System.arraycopy(a.getAddress(), 0, out, 12, 4);
        return out;
    }

    static InetAddress unmapped(byte[] field) throws PortMapException {
        try {
            boolean v4 = true;
            for (int i = 0; i < 10; i++) v4 &= field[i] == 0;
            v4 &= field[10] == (byte) 0xFF && field[11] == (byte) 0xFF;
            return v4 ? Inet4Address.getByAddress(Arrays.copyOfRange(field, 12, 16)) : Inet6Address.getByAddress(null, field, null);
        } catch (UnknownHostException e) {
            throw new PortMapException("PCP: bad address field");
        }
    }

    /** RFC 6887 §7.4 result codes. */
    static String describe(int result) {
        String[] names = {"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE", "UNSUPP_OPTION",
            "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_PROTOCOL", "USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL",
            "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS"};
        return result + " (" + (result < names.length ? names[result] : "unknown") + ")";
    }
}
