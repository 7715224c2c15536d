package holepunch.stun;

import java.util.HashMap;
import java.util.Map;

/**
 * The attribute types this codec knows (RFC 8489 §18.3, RFC 5780 §7, RFC 8445 §16.1, RFC 8656 §18), each with
 * the value size rule it is checked against. Types below 0x8000 are comprehension-required: a
 * message holding an unknown one is rejected (§14); types from 0x8000 are optional and unknown
 * ones are kept as opaque values.
 */
public enum AttributeType {
    MAPPED_ADDRESS(0x0001, Size.ADDRESS),
    CHANGE_REQUEST(0x0003, Size.exactly(4)),
    USERNAME(0x0006, Size.atMost(513)),
    MESSAGE_INTEGRITY(0x0008, Size.exactly(20)),
    ERROR_CODE(0x0009, Size.between(4, 4 + 763)),
    UNKNOWN_ATTRIBUTES(0x000A, Size.EVEN),
    /** TURN (RFC 8656 §18): the channel a ChannelBind binds, then two reserved bytes. */
    CHANNEL_NUMBER(0x000C, Size.exactly(4)),
    LIFETIME(0x000D, Size.exactly(4)),
    XOR_PEER_ADDRESS(0x0012, Size.ADDRESS),
    DATA(0x0013, Size.atLeast(0)),
    REALM(0x0014, Size.atMost(763)),
    NONCE(0x0015, Size.atMost(763)),
    XOR_RELAYED_ADDRESS(0x0016, Size.ADDRESS),
    REQUESTED_TRANSPORT(0x0019, Size.exactly(4)),
    DONT_FRAGMENT(0x001A, Size.exactly(0)),
    MESSAGE_INTEGRITY_SHA256(0x001C, Size.between(16, 32)),
    PASSWORD_ALGORITHM(0x001D, Size.atLeast(4)),
    USERHASH(0x001E, Size.exactly(32)),
    XOR_MAPPED_ADDRESS(0x0020, Size.ADDRESS),
    RESERVATION_TOKEN(0x0022, Size.exactly(8)),
    PRIORITY(0x0024, Size.exactly(4)),
    USE_CANDIDATE(0x0025, Size.exactly(0)),
    PADDING(0x0026, Size.atLeast(0)),
    RESPONSE_PORT(0x0027, Size.exactly(4)),
    PASSWORD_ALGORITHMS(0x8002, Size.atLeast(0)),
    ALTERNATE_DOMAIN(0x8003, Size.atMost(255)),
    SOFTWARE(0x8022, Size.atMost(763)),
    ALTERNATE_SERVER(0x8023, Size.ADDRESS),
    FINGERPRINT(0x8028, Size.exactly(4)),
    ICE_CONTROLLED(0x8029, Size.exactly(8)),
    ICE_CONTROLLING(0x802A, Size.exactly(8)),
    RESPONSE_ORIGIN(0x802B, Size.ADDRESS),
    OTHER_ADDRESS(0x802C, Size.ADDRESS);

    private static final Map<Integer, AttributeType> BY_CODE = new HashMap<>();

    static {
        for (AttributeType t : values()) BY_CODE.put(t.code, t);
    }

    public final int code;
    final Size size;

    AttributeType(int code, Size size) {
        this.code = code;
        this.size = size;
    }

    /** The known type with this code, or null. */
    public static AttributeType ofCode(int code) {
        return BY_CODE.get(code);
    }

    public static boolean isComprehensionRequired(int code) {
        return code < 0x8000;
    }

    /** A rule on the length of an attribute's value. */
    record Size(int min, int max, boolean even, boolean address) {
        static final Size ADDRESS = new Size(8, 20, false, true);
        static final Size EVEN = new Size(0, 65535, true, false);

        static Size exactly(int n) {
            return new Size(n, n, false, false);
        }

        static Size atMost(int n) {
            return new Size(0, n, false, false);
        }

        static Size atLeast(int n) {
            return new Size(n, 65535, false, false);
        }

        static Size between(int min, int max) {
            return new Size(min, max, false, false);
        }

        boolean accepts(int length) {
            if (address) return length == 8 || length == 20;   // IPv4 or IPv6 (§14.1)
            return length >= min && length <= max && (!even || length % 2 == 0);
        }
    }
}
