package holepunch.stun;

import holepunch.json.Json;
import holepunch.testing.Tools;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The original worker's STUN library (pystun3 2.0.0) against our server, its NAT-type tests
 * replayed byte for byte by pystun3_replay.py: test I, test II with CHANGE-REQUEST change-IP and
 * port, and (when II is not answered) test I at CHANGED-ADDRESS and test III. That library reads
 * no error response: before this server answered CHANGE-REQUEST it resent test II without end.
 */
@Tag("slow")
class OriginalClientTest {
    private static Map<String, Object> replay(int port) throws Exception {
        Path script = Path.of("test/holepunch/stun/pystun3_replay.py").toAbsolutePath();
        String out = Tools.run(60, List.of("/usr/bin/python3", script.toString(), "127.0.0.1", String.valueOf(port))).strip();
        return Json.parseObject(out.substring(out.lastIndexOf('\n') + 1));
    }

    @Test
    void theOriginalWorkersStunTestsGetItsEndpoint_eachRequestAnsweredOnce() throws Exception {
        try (StunServer server = StunServer.start(new InetSocketAddress("127.0.0.1", 0), 0, 0)) {
            Map<String, Object> r = replay(server.port());
            assertEquals(false, r.get("endless"), r.toString());
            assertEquals(0L, ((Number) r.get("ignored")).longValue(), "no answer the library reads past: " + r);
            assertEquals(2L, ((Number) r.get("sent")).longValue(), "tests I and II, each answered at the first send: " + r);
            assertEquals("Full Cone", r.get("nat_type"), r.toString());
            assertEquals("127.0.0.1", r.get("external_ip"));
            assertEquals(r.get("local_port"), r.get("external_port"), "the mapping of the library's own socket: " + r);
        }
    }

    /** STUN_CHANGE_REQUEST=strict keeps RFC 5780's 420, which this library cannot read: documented, and shown here. */
    @Test
    void strictPolicyRefusesTheChange_whichThatLibraryResendsWithoutEnd() throws Exception {
        try (StunServer server = StunServer.start(new InetSocketAddress("127.0.0.1", 0), 0, 0, StunServer.ChangePolicy.STRICT)) {
            Map<String, Object> r = replay(server.port());
            assertEquals(true, r.get("endless"), r.toString());
            assertTrue(((Number) r.get("ignored")).longValue() >= 20, r.toString());
        }
    }
}
