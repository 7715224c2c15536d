package holepunch.json;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** JSON written straight to UTF-8 bytes is the text {@link Json#write} gives, byte for byte. */
public class JsonTest {

    @Test
    void writeUtf8_isTheTextsUtf8_forEveryKindOfValue() throws Exception {
        Map<String, Object> value = Json.obj("type", "echo_response", "n", 42L, "big", new java.math.BigInteger("123456789012345678901234567890"),
                "x", new java.math.BigDecimal("1.5"), "ok", true, "none", null,
                "list", List.of("a", 2L, Json.obj("k", "v")), "text", "ümlaut, 日本語, \"quoted\" \\ \u0001 \u007f </tag>");
        byte[] bytes = Json.writeUtf8(value);
        assertArrayEquals(Json.write(value).getBytes(StandardCharsets.UTF_8), bytes);
        assertEquals(value, Json.parseObject(new String(bytes, StandardCharsets.UTF_8)));
    }

    @Test
    void writeUtf8_writesSurrogatesAsEscapes_soEvenALoneOneParsesBackAsSent() throws Exception {
        // A client can send "\ud800" as an escape; no UTF-8 holds it.
        Map<String, Object> value = Json.obj("payload", "a\ud800b", "pair", "\ud83d\ude00", "low", "\udc00", "end", "x\ud800");
        byte[] bytes = Json.writeUtf8(value);
        assertEquals("{\"payload\":\"a\\uD800b\",\"pair\":\"\\uD83D\\uDE00\",\"low\":\"\\uDC00\",\"end\":\"x\\uD800\"}",
                new String(bytes, StandardCharsets.US_ASCII));
        assertEquals(value, Json.parseObject(new String(bytes, StandardCharsets.UTF_8)));
    }

    @Test
    void writeUtf8_afterALargeValue_writesSmallOnesWhole() {
        String big = "x".repeat(3 * Json.KEPT_BYTES);
        assertEquals(big.length() + 2, Json.writeUtf8(big).length);
        assertEquals("[1,\"b\"]", new String(Json.writeUtf8(List.of(1L, "b")), StandardCharsets.UTF_8));
        assertEquals("\"" + big + "\"", new String(Json.writeUtf8(big), StandardCharsets.UTF_8));
    }
}
