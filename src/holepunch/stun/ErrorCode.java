package holepunch.stun;

/** ERROR-CODE values used here (RFC 8489 §14.8); one number each. */
public enum ErrorCode {
    TRY_ALTERNATE(300, "Try Alternate"),
    BAD_REQUEST(400, "Bad Request"),
    UNAUTHENTICATED(401, "Unauthenticated"),
    UNKNOWN_ATTRIBUTE(420, "Unknown Attribute"),
    STALE_NONCE(438, "Stale Nonce"),
    SERVER_ERROR(500, "Server Error");

    public final int code;
    public final String reason;

    ErrorCode(int code, String reason) {
        this.code = code;
        this.reason = reason;
    }
}
