package holepunch.websocket;

/** The 16 frame opcodes of RFC 6455 §5.2; codes 3-7 and 11-15 are reserved. */
public enum Opcode {
    CONTINUATION(0x0), TEXT(0x1), BINARY(0x2),
    RESERVED_3(0x3), RESERVED_4(0x4), RESERVED_5(0x5), RESERVED_6(0x6), RESERVED_7(0x7),
    CLOSE(0x8), PING(0x9), PONG(0xA),
    RESERVED_B(0xB), RESERVED_C(0xC), RESERVED_D(0xD), RESERVED_E(0xE), RESERVED_F(0xF);

    private static final Opcode[] BY_CODE = values();

    public final int code;

    Opcode(int code) {
        this.code = code;
    }

    public static Opcode ofCode(int code) {
        return BY_CODE[code & 0xF];
    }

    /** Control frames have the high bit of the opcode set (§5.5). */
    public boolean isControl() {
        return (code & 0x8) != 0;
    }

    public boolean isReserved() {
        return name().startsWith("RESERVED");
    }
}
