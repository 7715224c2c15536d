package holepunch.rendezvous;

import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 27: behind a load balancer every client had the proxy's address, so one client over its
 * per-address cap locked out everyone behind the same proxy. With TRUSTED_PROXIES naming Debian's
 * HAProxy ({@code option forwardfor}) in front, each client is counted and listed by its own address;
 * a header from anyone else is ignored. Clients are other loopback addresses (127.0.0.2, .3).
 */
@Tag("slow")
class TrustedProxyTest {
    private static String upgrade(int port, String id, String extraHeaders) {
        return "GET /ws/register/" + id + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + extraHeaders + "\r\n";
    }

    @Test
    void behindHaproxy_eachClientIsCountedAndListedByItsOwnAddress() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (TestRendezvous rv = new TestRendezvous(Map.of("TRUSTED_PROXIES", "127.0.0.1/32", "MAX_SESSIONS_PER_IP", "2"))) {
            try (holepunch.testing.Haproxy haproxy = new holepunch.testing.Haproxy(rv.port, "", "option forwardfor", "source 127.0.0.1")) {
                int front = haproxy.port;
                // One client (127.0.0.2) fills its cap of 2; a third session of its is refused.
                for (int i = 0; i < 2; i++) {
                    RawWebSocket ws = RawWebSocket.rawFrom("127.0.0.2", front, upgrade(front, "two-" + i, ""));
                    sockets.add(ws);
                    assertTrue(ws.responseHead.startsWith("HTTP/1.1 101"), ws.responseHead);
                }
                try (RawWebSocket third = RawWebSocket.rawFrom("127.0.0.2", front, upgrade(front, "two-2", ""))) {
                    assertTrue(third.responseHead.startsWith("HTTP/1.1 429"), "over its own cap: " + third.responseHead);
                }
                // Another client behind the same proxy is not: before, it shared the proxy's address and got 429 too.
                RawWebSocket other = RawWebSocket.rawFrom("127.0.0.3", front, upgrade(front, "three-0", ""));
                sockets.add(other);
                assertTrue(other.responseHead.startsWith("HTTP/1.1 101"), other.responseHead);
                assertEquals("127.0.0.2", rv.worker("two-0").get("websocket_observed_ip"), "the client's own address is listed");
                assertEquals("127.0.0.3", rv.worker("three-0").get("websocket_observed_ip"));

                // Straight to the rendezvous (not through the proxy), a forged header is ignored.
                RawWebSocket forged = RawWebSocket.rawFrom("127.0.0.4", rv.port, upgrade(rv.port, "forged", "X-Forwarded-For: 192.0.2.99\r\n"));
                sockets.add(forged);
                assertTrue(forged.responseHead.startsWith("HTTP/1.1 101"), forged.responseHead);
                assertEquals("127.0.0.4", rv.worker("forged").get("websocket_observed_ip"));
            }
        } finally {
            for (RawWebSocket s : sockets) s.close();
        }
    }
}
