package holepunch.rendezvous;

import holepunch.testing.Await;
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

    /**
     * PROXY_PROTOCOL: HAProxy's send-proxy (v1) and send-proxy-v2 name each client in a header before the first
     * byte; clients are counted and listed by their own address. From a trusted address (the proxy's, 127.0.0.5)
     * a connection without the header is closed (counted); an untrusted client (the test itself) is served as ever.
     */
    @Test
    void behindHaproxySendingThePROXYProtocol_v1AndV2_eachClientIsItsOwnAddress() throws Exception {
        List<RawWebSocket> sockets = new ArrayList<>();
        try (TestRendezvous rv = new TestRendezvous(Map.of("TRUSTED_PROXIES", "127.0.0.5", "PROXY_PROTOCOL", "true", "MAX_SESSIONS_PER_IP", "1"))) {
            for (String version : List.of("send-proxy", "send-proxy-v2")) {
                try (holepunch.testing.Haproxy haproxy = new holepunch.testing.Haproxy(rv.port, "", "", version + " source 127.0.0.5")) {
                    int front = haproxy.port;
                    String a = version + "-a", b = version + "-b";
                    RawWebSocket first = RawWebSocket.rawFrom("127.0.0.2", front, upgrade(front, a, ""));
                    sockets.add(first);
                    assertTrue(first.responseHead.startsWith("HTTP/1.1 101"), first.responseHead);
                    RawWebSocket other = RawWebSocket.rawFrom("127.0.0.3", front, upgrade(front, b, ""));
                    sockets.add(other);
                    assertTrue(other.responseHead.startsWith("HTTP/1.1 101"), "another client behind the same proxy: " + other.responseHead);
                    assertEquals("127.0.0.2", rv.worker(a).get("websocket_observed_ip"), version);
                    assertEquals("127.0.0.3", rv.worker(b).get("websocket_observed_ip"), version);
                    for (RawWebSocket s : List.of(first, other)) s.close();
                    sockets.clear();
                    Await.until(java.time.Duration.ofSeconds(5), "sessions closed", () -> rv.server.sessionCount() == 0);
                }
            }
            // curl's --haproxy-protocol from the trusted address: a v1 header, then the request.
            String curl = holepunch.testing.Tools.run(20, List.of("curl", "-s", "--haproxy-protocol", "--interface", "127.0.0.5",
                    "http://127.0.0.1:" + rv.port + "/"));
            assertTrue(curl.contains("Rendezvous Service"), curl);
            // From the trusted address without the header: closed, and counted.
            try (java.net.Socket plain = new java.net.Socket()) {
                plain.bind(new java.net.InetSocketAddress("127.0.0.5", 0));
                plain.connect(new java.net.InetSocketAddress("127.0.0.1", rv.port), 5000);
                plain.setSoTimeout(5000);
                plain.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                assertEquals(-1, plain.getInputStream().read(), "closed without an answer");
            }
            Await.until(java.time.Duration.ofSeconds(5), "counted", () -> rv.get("/metrics").body().contains("holepunch_refused_total{reason=\"proxy_header\"} 1"));
            // An untrusted client is served as ever (no header expected from it).
            RawWebSocket direct = RawWebSocket.rawFrom("127.0.0.4", rv.port, upgrade(rv.port, "direct", ""));
            sockets.add(direct);
            assertTrue(direct.responseHead.startsWith("HTTP/1.1 101"), direct.responseHead);
            assertEquals("127.0.0.4", rv.worker("direct").get("websocket_observed_ip"));
        } finally {
            for (RawWebSocket s : sockets) s.close();
        }
    }

    @Test
    void proxyProtocolWithoutTrustedProxies_isRefusedAtStart() {
        holepunch.config.ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(holepunch.config.ConfigException.class,
                () -> new TestRendezvous(Map.of("PROXY_PROTOCOL", "true")));
        assertTrue(e.getMessage().contains("PROXY_PROTOCOL=true needs TRUSTED_PROXIES"), e.getMessage());
    }

    /**
     * The original's /debug/list_workers fields stay open; holepunch's additions that tell about a worker's network
     * and its peers (LAN candidates, gateway and TURN addresses, pairs) are shown without a token only to a request
     * from the rendezvous's own host: not to a client behind a proxy, though the proxy itself is local.
     */
    @Test
    void withoutAToken_detailsAreShownOnlyOnThisHost_notThroughAProxy() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("TRUSTED_PROXIES", "127.0.0.1/32"));
             RawWebSocket w = RawWebSocket.connect(rv.port, "detailed")) {
            w.sendText("{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"198.51.100.7\",\"udp_port\":4000,\"host_candidates\":[\"10.0.0.7:4000\"]}");
            w.readSkippingPings();
            assertTrue(rv.get("/debug/list_workers").body().contains("10.0.0.7:4000"), "here: the details");
            try (holepunch.testing.Haproxy haproxy = new holepunch.testing.Haproxy(rv.port, "", "option forwardfor", "source 127.0.0.1")) {
                String get = "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                try (RawWebSocket list = RawWebSocket.rawFrom("127.0.0.2", haproxy.port, get.formatted("/debug/list_workers"))) {
                    String body = list.readBody();
                    assertTrue(body.contains("\"stun_reported_udp_ip\":\"198.51.100.7\""), "the original's fields: " + body);
                    assertTrue(!body.contains("10.0.0.7") && !body.contains("host_candidates") && !body.contains("\"pairs\""), body);
                }
                try (RawWebSocket pairs = RawWebSocket.rawFrom("127.0.0.2", haproxy.port, get.formatted("/debug/pairs"))) {
                    assertTrue(pairs.responseHead.startsWith("HTTP/1.1 403"), pairs.responseHead);
                }
            }
        }
    }
}
