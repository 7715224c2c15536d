package holepunch.stun;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32;

/**
 * A STUN message (RFC 8489 §5): immutable, with {@link #parse} and {@link #encode}.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |0 0|     STUN Message Type     |         Message Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         Magic Cookie                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Transaction ID (96 bits)                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Message type bits: M11..M7 C1 M6..M4 C0 M3..M0 (§5, figure 3).
 * Attributes: 16-bit type, 16-bit length, value padded to 4 bytes (§14).
 * </pre>
 *
 * A message from an RFC 3489 peer has no magic cookie: its transaction id is then the whole
 * 128 bits after the length, and {@link #transactionId} is 16 bytes long (RFC 8489 §12).
 */
public record StunMessage(StunClass messageClass, int method, byte[] transactionId, List<StunAttribute> attributes) {
    public static final int MAGIC_COOKIE = 0x2112A442;
    public static final int BINDING = 0x001;
    public static final int HEADER_BYTES = 20;
    /** §14.7: the CRC-32 is XOR'd with this so STUN is told apart from other CRC-carrying protocols. */
    static final int FINGERPRINT_XOR = 0x5354554E;
    private static final SecureRandom RANDOM = new SecureRandom();

    public StunMessage {
        if (method < 0 || method > 0xFFF) throw new IllegalArgumentException("method " + method);
        if (transactionId.length != 12 && transactionId.length != 16) throw new IllegalArgumentException("transaction id length");
        transactionId = transactionId.clone();
        attributes = List.copyOf(attributes);
    }

    public static byte[] newTransactionId() {
        byte[] id = new byte[12];
        RANDOM.nextBytes(id);
        return id;
    }

    public static StunMessage bindingRequest(byte[] transactionId) {
        return new StunMessage(StunClass.REQUEST, BINDING, transactionId, List.of());
    }

    @Override
    public byte[] transactionId() {
        return transactionId.clone();
    }

    /** True for an RFC 3489 message (no magic cookie). */
    public boolean isClassic() {
        return transactionId.length == 16;
    }

    /** The first value of {@code type}, or null. */
    public byte[] attribute(AttributeType type) {
        for (StunAttribute a : attributes) if (a.type() == type.code) return a.rawValue().clone();
        return null;
    }

    /** XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from servers that predate it; null when neither is present. */
    public InetSocketAddress mappedAddress() throws StunException {
        byte[] x = attribute(AttributeType.XOR_MAPPED_ADDRESS);
        if (x != null) return StunAddress.decode(x, true, transactionId);
        byte[] m = attribute(AttributeType.MAPPED_ADDRESS);
        return m == null ? null : StunAddress.decode(m, false, transactionId);
    }

    public InetSocketAddress address(AttributeType type) throws StunException {
        byte[] v = attribute(type);
        boolean xor = type == AttributeType.XOR_MAPPED_ADDRESS || type == AttributeType.XOR_PEER_ADDRESS
                || type == AttributeType.XOR_RELAYED_ADDRESS;
        return v == null ? null : StunAddress.decode(v, xor, transactionId);
    }

    /** ERROR-CODE's number (e.g. 401), or 0 without one. */
    public int errorNumber() {
        byte[] v = attribute(AttributeType.ERROR_CODE);
        return v == null ? 0 : (v[2] & 0x7) * 100 + (v[3] & 0xFF);
    }

    /** ERROR-CODE as "code reason", or null. */
    public String errorCode() {
        byte[] v = attribute(AttributeType.ERROR_CODE);
        if (v == null) return null;
        int code = (v[2] & 0x7) * 100 + (v[3] & 0xFF);
        return code + " " + new String(v, 4, v.length - 4, StandardCharsets.UTF_8);
    }

    public String software() {
        byte[] v = attribute(AttributeType.SOFTWARE);
        return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    // ---- encode

    /** The wire form; with {@code fingerprint}, a FINGERPRINT attribute is appended (§14.7). */
    public byte[] encode(boolean fingerprint) {
        int body = 0;
        for (StunAttribute a : attributes) body += 4 + padded(a.length());
        if (fingerprint) body += 8;
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES + body);
        int m = method;
        int c = messageClass.bits();
        int type = (m & 0x000F) | ((c & 1) << 4) | ((m & 0x0070) << 1) | ((c & 2) << 7) | ((m & 0x0F80) << 2);
        b.putShort((short) type).putShort((short) body);
        if (!isClassic()) b.putInt(MAGIC_COOKIE);
        b.put(transactionId);
        for (StunAttribute a : attributes) {
            b.putShort((short) a.type()).putShort((short) a.length()).put(a.rawValue());
            b.position(b.position() + padded(a.length()) - a.length());     // zero padding
        }
        if (fingerprint) {
            int crc = crc32(b.array(), b.position()) ^ FINGERPRINT_XOR;
            b.putShort((short) AttributeType.FINGERPRINT.code).putShort((short) 4).putInt(crc);
        }
        return b.array();
    }

    /**
     * The wire form with MESSAGE-INTEGRITY (§14.5: HMAC-SHA1 keyed with {@code key} over the message
     * up to the attribute, the length field already counting it), then FINGERPRINT when asked.
     */
    public byte[] encode(boolean fingerprint, byte[] key) {
        byte[] plain = encode(false);
        ByteBuffer b = ByteBuffer.allocate(plain.length + 24 + (fingerprint ? 8 : 0));
        b.put(plain);
        b.putShort(2, (short) (plain.length - HEADER_BYTES + 24));
        byte[] mac = hmacSha1(key, b.array(), plain.length);
        b.putShort((short) AttributeType.MESSAGE_INTEGRITY.code).putShort((short) 20).put(mac);
        if (fingerprint) {
            b.putShort(2, (short) (b.position() - HEADER_BYTES + 8));
            int crc = crc32(b.array(), b.position()) ^ FINGERPRINT_XOR;
            b.putShort((short) AttributeType.FINGERPRINT.code).putShort((short) 4).putInt(crc);
        }
        return b.array();
    }

    /**
     * Whether {@code datagram} (a whole STUN message) carries a MESSAGE-INTEGRITY that {@code key}
     * produced (§14.5); false without one. Compared in constant time.
     */
    public static boolean integrityMatches(byte[] datagram, int length, byte[] key) {
        int pos = HEADER_BYTES;
        while (pos + 4 <= length) {
            int type = ((datagram[pos] & 0xFF) << 8) | (datagram[pos + 1] & 0xFF);
            int len = ((datagram[pos + 2] & 0xFF) << 8) | (datagram[pos + 3] & 0xFF);
            if (type == AttributeType.MESSAGE_INTEGRITY.code) {
                if (len != 20 || pos + 24 > length) return false;
                byte[] copy = Arrays.copyOf(datagram, pos);
                int covered = pos - HEADER_BYTES + 24;
                copy[2] = (byte) (covered >> 8);
                copy[3] = (byte) covered;
                return java.security.MessageDigest.isEqual(hmacSha1(key, copy, pos), Arrays.copyOfRange(datagram, pos + 4, pos + 24));
            }
            pos += 4 + padded(len);
        }
        return false;
    }

    /** The long-term credential key (§9.2.2): MD5(username ":" realm ":" password), the three as UTF-8 (OpaqueString unchanged). */
    public static byte[] longTermKey(String username, String realm, String password) {
        try {
            return java.security.MessageDigest.getInstance("MD5").digest((username + ":" + realm + ":" + password).getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is required of every JDK", e);
        }
    }

    private static byte[] hmacSha1(byte[] key, byte[] data, int length) {
        try {
            javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA1");
            mac.init(new javax.crypto.spec.SecretKeySpec(key, "HmacSHA1"));
            mac.update(data, 0, length);
            return mac.doFinal();
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA1 is required of every JDK", e);
        }
    }

    private static int padded(int length) {
        return (length + 3) & ~3;
    }

    private static int crc32(byte[] data, int length) {
        CRC32 crc = new CRC32();
        crc.update(data, 0, length);
        return (int) crc.getValue();
    }

    // ---- parse

    /** Quick test for demultiplexing (RFC 8489 §5, RFC 7983): two zero bits, the cookie, a sane length. */
    public static boolean looksLikeStun(ByteBuffer datagram) {
        int p = datagram.position();
        int n = datagram.remaining();
        return n >= HEADER_BYTES && (datagram.get(p) & 0xC0) == 0 && datagram.getInt(p + 4) == MAGIC_COOKIE
                && (datagram.getShort(p + 2) & 0xFFFF) == n - HEADER_BYTES;
    }

    public static StunMessage parse(byte[] datagram) throws StunException {
        return parse(datagram, 0, datagram.length);
    }

    /**
     * Parses one datagram. Checks the header, every attribute length and its padding, the known
     * attributes' sizes, FINGERPRINT (when present, and last); ignores what follows
     * MESSAGE-INTEGRITY except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (§14.5); rejects unknown
     * comprehension-required attributes with code 420.
     */
    public static StunMessage parse(byte[] data, int offset, int length) throws StunException {
        if (length < HEADER_BYTES) throw StunException.malformed("shorter than the 20-byte STUN header");
        ByteBuffer b = ByteBuffer.wrap(data, offset, length).slice();
        int type = b.getShort(0) & 0xFFFF;
        if ((type & 0xC000) != 0) throw StunException.malformed("the first two bits of a STUN message must be zero");
        int bodyLength = b.getShort(2) & 0xFFFF;
        if (bodyLength % 4 != 0) throw StunException.malformed("message length " + bodyLength + " is not a multiple of 4");
        if (bodyLength != length - HEADER_BYTES) {
            throw StunException.malformed("message length field says " + bodyLength + " bytes but " + (length - HEADER_BYTES) + " follow the header");
        }
        boolean classic = b.getInt(4) != MAGIC_COOKIE;
        byte[] tid = new byte[classic ? 16 : 12];
        b.get(classic ? 4 : 8, tid);
        StunClass cls = StunClass.ofBits(((type >> 4) & 0x1) | ((type >> 7) & 0x2));
        int method = (type & 0x000F) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0F80);
        StunMessage header = new StunMessage(cls, method, tid, List.of());

        List<StunAttribute> attrs = new ArrayList<>();
        List<Integer> unknown = new ArrayList<>();
        boolean afterIntegrity = false;
        boolean fingerprinted = false;
        int pos = HEADER_BYTES;
        while (pos < length) {
            if (fingerprinted) throw StunException.malformed("attribute after FINGERPRINT", header);
            if (length - pos < 4) throw StunException.malformed("truncated attribute header at byte " + pos, header);
            int at = b.getShort(pos) & 0xFFFF;
            int al = b.getShort(pos + 2) & 0xFFFF;
            int next = pos + 4 + padded(al);
            if (next > length) {
                throw StunException.malformed(String.format("attribute 0x%04X of %d bytes overruns the message", at, al), header);
            }
            AttributeType known = AttributeType.ofCode(at);
            if (known != null && !known.size.accepts(al)) {
                throw StunException.malformed(known + " with a value of " + al + " bytes", header);
            }
            if (known != null && known.size.address()) {
                int family = b.get(pos + 5) & 0xFF;          // §14.1: 0x01 IPv4 (8 bytes), 0x02 IPv6 (20 bytes)
                if (!(family == StunAddress.IPV4 && al == 8) && !(family == StunAddress.IPV6 && al == 20)) {
                    throw StunException.malformed(known + " with address family " + family + " in " + al + " bytes", header);
                }
            }
            if (known == AttributeType.FINGERPRINT) {
                int expected = crc32Slice(b, pos) ^ FINGERPRINT_XOR;
                if (b.getInt(pos + 4) != expected) throw StunException.malformed("FINGERPRINT does not match the message", header);
                fingerprinted = true;
            }
            boolean ignored = afterIntegrity && known != AttributeType.MESSAGE_INTEGRITY_SHA256 && known != AttributeType.FINGERPRINT;
            if (!ignored) {
                if (known == null && AttributeType.isComprehensionRequired(at)) unknown.add(at);
                byte[] v = new byte[al];
                b.get(pos + 4, v);
                attrs.add(new StunAttribute(at, v));
                if (known == AttributeType.MESSAGE_INTEGRITY || known == AttributeType.MESSAGE_INTEGRITY_SHA256) afterIntegrity = true;
            }
            pos = next;
        }
        if (!unknown.isEmpty()) {
            throw new StunException(ErrorCode.UNKNOWN_ATTRIBUTE, "unknown comprehension-required attributes " + hex(unknown), header, unknown);
        }
        StunMessage m = new StunMessage(cls, method, tid, attrs);
        byte[] err = m.attribute(AttributeType.ERROR_CODE);
        if (err != null) {
            int errClass = err[2] & 0x7;
            int number = err[3] & 0xFF;
            if (errClass < 3 || errClass > 6 || number > 99) throw StunException.malformed("ERROR-CODE out of range", header);
        }
        return m;
    }

    private static int crc32Slice(ByteBuffer b, int length) {
        CRC32 crc = new CRC32();
        crc.update(b.slice(0, length));
        return (int) crc.getValue();
    }

    private static String hex(List<Integer> types) {
        return types.stream().map(t -> String.format("0x%04X", t)).toList().toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StunMessage m && m.messageClass == messageClass && m.method == method
                && Arrays.equals(m.transactionId, transactionId) && m.attributes.equals(attributes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(transactionId) * 31 + attributes.hashCode();
    }

    @Override
    public String toString() {
        return "StunMessage[" + messageClass + " method=" + method + " tid=" + HexFormat.of().formatHex(transactionId) + " " + attributes + "]";
    }
}
