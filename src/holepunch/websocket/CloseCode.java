package holepunch.websocket;

/**
 * Close status codes (RFC 6455 §7.4.1) and which of them may appear on the wire.
 * 1005, 1006 and 1015 are for reporting only and must never be sent (§7.4.1);
 * 1004 is reserved; 1012-1014 are registered with IANA after the RFC; 3000-4999 are for
 * libraries, frameworks and applications (§7.4.2).
 */
public final class CloseCode {
    public static final int NORMAL = 1000;
    public static final int GOING_AWAY = 1001;
    public static final int PROTOCOL_ERROR = 1002;
    public static final int UNSUPPORTED_DATA = 1003;
    /** Reporting only: a Close frame without a status code. */
    public static final int NO_STATUS = 1005;
    /** Reporting only: the connection closed without a Close frame. */
    public static final int ABNORMAL = 1006;
    public static final int INVALID_PAYLOAD = 1007;
    public static final int POLICY_VIOLATION = 1008;
    public static final int MESSAGE_TOO_BIG = 1009;
    public static final int INTERNAL_ERROR = 1011;
    public static final int TRY_AGAIN_LATER = 1013;

    private CloseCode() {
    }

    /** Whether a peer may send {@code code} in a Close frame. */
    public static boolean isValidOnWire(int code) {
        return (code >= 1000 && code <= 1003)
                || (code >= 1007 && code <= 1014)
                || (code >= 3000 && code <= 4999);
    }
}
