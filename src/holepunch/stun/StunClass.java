package holepunch.stun;

/** The message classes (RFC 8489 §5), encoded as bits C1 and C0 of the message type. */
public enum StunClass {
    REQUEST, INDICATION, SUCCESS_RESPONSE, ERROR_RESPONSE;

    private static final StunClass[] BY_BITS = values();

    public static StunClass ofBits(int c1c0) {
        return BY_BITS[c1c0 & 0x3];
    }

    public int bits() {
        return ordinal();
    }
}
