package holepunch.stun;

import java.util.Arrays;
import java.util.HexFormat;

/** One attribute as it is on the wire: its type code and its value without padding. */
public record StunAttribute(int type, byte[] value) {
    public StunAttribute {
        if (type < 0 || type > 0xFFFF) throw new IllegalArgumentException("attribute type " + type);
        if (value.length > 0xFFFF) throw new IllegalArgumentException("attribute value of " + value.length + " bytes");
        value = value.clone();
    }

    public StunAttribute(AttributeType type, byte[] value) {
        this(type.code, value);
    }

    @Override
    public byte[] value() {
        return value.clone();
    }

    int length() {
        return value.length;
    }

    byte[] rawValue() {
        return value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StunAttribute a && a.type == type && Arrays.equals(a.value, value);
    }

    @Override
    public int hashCode() {
        return 31 * type + Arrays.hashCode(value);
    }

    @Override
    public String toString() {
        AttributeType known = AttributeType.ofCode(type);
        return (known == null ? String.format("0x%04X", type) : known.name()) + "=" + HexFormat.of().formatHex(value);
    }
}
