package holepunch.stun;

import java.util.List;

/**
 * A message that breaks RFC 8489. Carries the STUN error code a server would answer a request
 * with, the header when it could be read (so a request can still be answered), and, for code 420,
 * the unknown comprehension-required attribute types.
 */
public final class StunException extends Exception {
    private final ErrorCode code;
    private final StunMessage header;
    private final List<Integer> unknownAttributes;

    StunException(ErrorCode code, String message, StunMessage header, List<Integer> unknownAttributes) {
        super(message, null, false, false);
        this.code = code;
        this.header = header;
        this.unknownAttributes = List.copyOf(unknownAttributes);
    }

    static StunException malformed(String message) {
        return new StunException(ErrorCode.BAD_REQUEST, message, null, List.of());
    }

    static StunException malformed(String message, StunMessage header) {
        return new StunException(ErrorCode.BAD_REQUEST, message, header, List.of());
    }

    public ErrorCode code() {
        return code;
    }

    /** The message header (no attributes), or null when even the header was unreadable. */
    public StunMessage header() {
        return header;
    }

    public List<Integer> unknownAttributes() {
        return unknownAttributes;
    }
}
