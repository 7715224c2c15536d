package holepunch.websocket;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HandshakeTest {
    private static final String KEY = "dGhlIHNhbXBsZSBub25jZQ==";

    @Test
    void acceptFor_rfc6455Section1_3Vector() {
        assertEquals("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", Handshake.acceptFor(KEY));
    }

    private static Map<String, String> valid() {
        Map<String, String> h = new HashMap<>();
        h.put("host", "server.example.com");
        h.put("upgrade", "websocket");
        h.put("connection", "Upgrade");
        h.put("sec-websocket-key", KEY);
        h.put("sec-websocket-version", "13");
        return h;
    }

    private static Handshake.Result check(String method, Map<String, String> h) {
        return Handshake.check(method, name -> {
            String v = h.get(name.toLowerCase(Locale.ROOT));
            return v == null ? null : List.of(v);
        });
    }

    @Test
    void check_validRequestIsAcceptedWithTheRfcAcceptValue() {
        Handshake.Result r = check("GET", valid());
        assertTrue(r.accepted());
        assertEquals("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", r.accept());
    }

    @Test
    void check_tokensAreCaseInsensitiveAndListsAreSplit() {
        Map<String, String> h = valid();
        h.put("upgrade", "WebSocket");
        h.put("connection", "keep-alive, UPGRADE");
        assertTrue(check("GET", h).accepted());
    }

    @Test
    void check_postIsRefusedWith405() {
        Handshake.Result r = check("POST", valid());
        assertEquals(405, r.status());
        assertEquals("GET", r.headers().get("Allow"));
    }

    @Test
    void check_wrongVersionIsRefusedWith426NamingVersion13() {
        Map<String, String> h = valid();
        h.put("sec-websocket-version", "8");
        Handshake.Result r = check("GET", h);
        assertEquals(426, r.status());
        assertEquals("13", r.headers().get("Sec-WebSocket-Version"));
    }

    @Test
    void check_missingVersionIsRefusedWith426() {
        Map<String, String> h = valid();
        h.remove("sec-websocket-version");
        assertEquals(426, check("GET", h).status());
    }

    @Test
    void check_missingOrMalformedKeyIsRefusedWith400() {
        Map<String, String> h = valid();
        h.remove("sec-websocket-key");
        assertEquals(400, check("GET", h).status());
        h.put("sec-websocket-key", "not base64!!");
        assertEquals(400, check("GET", h).status());
        h.put("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA");   // valid base64 but 21 bytes
        assertEquals(400, check("GET", h).status());
        // 24 characters, so only base64 decoding can tell: not base64, and base64 of 18 bytes.
        assertFalse(Handshake.isValidKey("!!!!!!!!!!!!!!!!!!!!!!=="), "24 characters that are not base64");
        assertFalse(Handshake.isValidKey("AAAAAAAAAAAAAAAAAAAAAAAA"), "24 characters of base64 that decode to 18 bytes");
        assertTrue(Handshake.isValidKey(KEY));
        h.put("sec-websocket-key", "!!!!!!!!!!!!!!!!!!!!!!==");
        assertEquals(400, check("GET", h).status());
    }

    @Test
    void check_missingConnectionUpgradeIsRefusedWith400() {
        Map<String, String> h = valid();
        h.put("connection", "keep-alive");
        assertEquals(400, check("GET", h).status());
    }

    @Test
    void check_missingUpgradeIsRefusedWith426AndUpgradeHeader() {
        Map<String, String> h = valid();
        h.remove("upgrade");
        Handshake.Result r = check("GET", h);
        assertFalse(r.accepted());
        assertEquals(426, r.status());
        assertEquals("websocket", r.headers().get("Upgrade"));
    }

    @Test
    void check_missingHostIsRefusedWith400() {
        Map<String, String> h = valid();
        h.remove("host");
        assertEquals(400, check("GET", h).status());
    }
}
