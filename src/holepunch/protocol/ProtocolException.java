package holepunch.protocol;

/** A message that breaks a rule of the protocol; names the field and says what is wrong. */
public final class ProtocolException extends Exception {
    private final String field;

    public ProtocolException(String field, String detail) {
        super(detail, null, false, false);
        this.field = field;
    }

    /** The offending field's name ({@code type} for the message as a whole). */
    public String field() {
        return field;
    }

    static ProtocolException field(String field, String rule, Object got) {
        return new ProtocolException(field, "field '" + field + "' must be " + rule + ", got " + Fields.describe(got));
    }
}
