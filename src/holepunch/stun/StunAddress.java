package holepunch.stun;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;

/**
 * The address value shared by MAPPED-ADDRESS, XOR-MAPPED-ADDRESS (RFC 8489 §14.1-14.2),
 * ALTERNATE-SERVER, RESPONSE-ORIGIN and OTHER-ADDRESS (RFC 5780 §7.3-7.4).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |0 0 0 0 0 0 0 0|    Family     |         (X-)Port              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         (X-)Address (32 bits for 0x01, 128 bits for 0x02)     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * In the XOR form the port is XOR'd with the top 16 bits of the magic cookie and the address
 * with the cookie followed (for IPv6) by the transaction id.
 */
public final class StunAddress {
    static final int IPV4 = 0x01, IPV6 = 0x02;

    private StunAddress() {
    }

    public static InetSocketAddress decode(byte[] value, boolean xor, byte[] transactionId) throws StunException {
        int len = value.length;
        if (len != 8 && len != 20) throw StunException.malformed("address attribute of " + len + " bytes");
        int family = value[1] & 0xFF;
        if ((family == IPV4 && len != 8) || (family == IPV6 && len != 20) || (family != IPV4 && family != IPV6)) {
            throw StunException.malformed("address family " + family + " with " + len + " bytes");
        }
        int port = ((value[2] & 0xFF) << 8) | (value[3] & 0xFF);
        byte[] addr = new byte[len - 4];
        System.arraycopy(value, 4, addr, 0, addr.length);
        if (xor) {
            port ^= StunMessage.MAGIC_COOKIE >>> 16;
            byte[] pad = xorPad(transactionId);
            for (int i = 0; i < addr.length; i++) addr[i] ^= pad[i];
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(addr), port);
        } catch (UnknownHostException e) {
            throw StunException.malformed("bad address bytes");
        }
    }

    public static byte[] encode(InetSocketAddress address, boolean xor, byte[] transactionId) {
        InetAddress ip = address.getAddress();
        byte[] addr = ip.getAddress();
        ByteBuffer b = ByteBuffer.allocate(4 + addr.length);
        b.put((byte) 0).put((byte) (ip instanceof Inet4Address ? IPV4 : IPV6));
        int port = address.getPort();
        if (xor) {
            port ^= StunMessage.MAGIC_COOKIE >>> 16;
            byte[] pad = xorPad(transactionId);
            for (int i = 0; i < addr.length; i++) addr[i] ^= pad[i];
        }
        return b.putShort((short) port).put(addr).array();
    }

    /** The magic cookie followed by the 96-bit transaction id: 16 bytes, enough for IPv6. */
    private static byte[] xorPad(byte[] transactionId) {
        ByteBuffer pad = ByteBuffer.allocate(16).putInt(StunMessage.MAGIC_COOKIE);
        if (transactionId.length == 12) pad.put(transactionId);
        return pad.array();
    }
}
