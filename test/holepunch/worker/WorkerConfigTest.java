package holepunch.worker;

import holepunch.config.ConfigException;
import holepunch.config.Env;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WorkerConfigTest {
    private static WorkerConfig config(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return WorkerConfig.from(new Env(m));
    }

    private static String failure(String... kv) {
        return assertThrows(ConfigException.class, () -> config(kv)).getMessage();
    }

    @Test
    void from_defaultsAreTheOriginals() {
        WorkerConfig c = config("RENDEZVOUS_SERVICE_URL", "http://rv.example:8080");
        assertEquals(List.of(InetSocketAddress.createUnresolved("stun.l.google.com", 19302)), c.stunServers());
        assertEquals(8081, c.udpPort());
        assertEquals(8080, c.httpPort());
        assertEquals(25_000_000_000L, c.pingIntervalNanos());
        assertEquals(25_000_000_000L, c.pingTimeoutNanos());
        assertEquals("https://api.ipify.org", c.ipEchoUrl());
        assertEquals(36, c.workerId().length(), "a random UUID");
    }

    @Test
    void webSocketUrl_followsTheOriginalsSchemeRule() {
        assertEquals("ws://rv.example:8080/ws/register/w1", WorkerConfig.webSocketUrl("http://rv.example:8080", "w1").toString());
        assertEquals("wss://rv.example/ws/register/w1", WorkerConfig.webSocketUrl("https://rv.example/", "w1").toString());
        assertEquals("wss://rv.example/ws/register/w1", WorkerConfig.webSocketUrl("HTTPS://rv.example", "w1").toString());
    }

    @Test
    void challengeUri_isOnTheSameHostAndPathPrefix_overHttp() {
        assertEquals("http://rv.example:8080/challenge",
                RendezvousSession.challengeUri(WorkerConfig.webSocketUrl("http://rv.example:8080", "w1")).toString());
        assertEquals("https://rv.example/prefix/challenge",
                RendezvousSession.challengeUri(WorkerConfig.webSocketUrl("https://rv.example/prefix/", "w1")).toString());
        assertEquals("http://[::1]:9/challenge", RendezvousSession.challengeUri(WorkerConfig.webSocketUrl("http://[::1]:9", "w1")).toString());
    }

    @Test
    void from_missingOrBadSettingsNameTheVariable() {
        assertTrue(failure().startsWith("RENDEZVOUS_SERVICE_URL is not set"));
        assertTrue(failure("RENDEZVOUS_SERVICE_URL", "rv.example:8080").startsWith("RENDEZVOUS_SERVICE_URL must start with"));
        assertTrue(failure("RENDEZVOUS_SERVICE_URL", "http://x", "WORKER_ID", "no spaces").startsWith("WORKER_ID"));
        assertTrue(failure("RENDEZVOUS_SERVICE_URL", "http://x", "STUN_PORT_ENV", "abc").startsWith("STUN_PORT_ENV"));
        assertTrue(failure("RENDEZVOUS_SERVICE_URL", "http://x", "INTERNAL_UDP_PORT_ENV", "70000").startsWith("INTERNAL_UDP_PORT_ENV"));
        assertTrue(failure("RENDEZVOUS_SERVICE_URL", "http://x", "PING_INTERVAL_SEC", "-1").startsWith("PING_INTERVAL_SEC"));
        assertTrue(failure("RENDEZVOUS_SERVICE_URL", "http://x", "STUN_SERVERS", "a.example").startsWith("STUN_SERVERS"));
    }

    @Test
    void from_stunServersAddToTheMainOne() {
        WorkerConfig c = config("RENDEZVOUS_SERVICE_URL", "http://x", "STUN_HOST_ENV", "10.0.0.1", "STUN_PORT_ENV", "3478",
                "STUN_SERVERS", "stun2.example:3479, [2001:db8::1]:3478");
        assertEquals(List.of(InetSocketAddress.createUnresolved("10.0.0.1", 3478),
                InetSocketAddress.createUnresolved("stun2.example", 3479),
                InetSocketAddress.createUnresolved("2001:db8::1", 3478)), c.stunServers());
    }

    @Test
    void backoff_isJitteredAndCappedAtTenSeconds() {
        for (int attempt = 0; attempt < 30; attempt++) {
            long ceiling = Math.min(10_000, 500L << Math.min(attempt, 10));
            for (int i = 0; i < 50; i++) {
                long d = RendezvousSession.backoffMillis(attempt);
                assertTrue(d >= ceiling / 2 && d <= ceiling, "attempt " + attempt + ": " + d);
            }
        }
    }

    @Test
    void portMapping_isOnByDefault_offWhereEverythingIsOnThisHost_andSaysWhichValueIsWrong() {
        List<holepunch.portmap.PortMapper.Protocol> all = List.of(holepunch.portmap.PortMapper.Protocol.values());
        assertEquals(all, config("RENDEZVOUS_SERVICE_URL", "https://rv.example.net", "STUN_HOST_ENV", "stun.example.net").portMapping());
        assertEquals(List.of(), config("RENDEZVOUS_SERVICE_URL", "http://127.0.0.1:8080", "STUN_HOST_ENV", "127.0.0.1").portMapping(),
                "the demo and the tests: nothing is asked of the gateway");
        assertEquals(all, config("RENDEZVOUS_SERVICE_URL", "http://127.0.0.1:8080", "STUN_HOST_ENV", "stun.example.net").portMapping());
        assertEquals(all, config("RENDEZVOUS_SERVICE_URL", "http://[::1]:8080", "STUN_HOST_ENV", "127.0.0.1", "PORT_MAPPING", "true").portMapping());
        assertEquals(List.of(holepunch.portmap.PortMapper.Protocol.NAT_PMP, holepunch.portmap.PortMapper.Protocol.UPNP),
                config("RENDEZVOUS_SERVICE_URL", "https://rv.example.net", "PORT_MAPPING", "nat-pmp, upnp").portMapping());
        assertEquals(List.of(), config("RENDEZVOUS_SERVICE_URL", "https://rv.example.net", "PORT_MAPPING", "false").portMapping());
        holepunch.config.ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(holepunch.config.ConfigException.class,
                () -> config("RENDEZVOUS_SERVICE_URL", "https://rv.example.net", "PORT_MAPPING", "pcp,upnpp"));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("PORT_MAPPING") && e.getMessage().contains("'upnpp'"), e.getMessage());
    }

    /** Issue 23, finding 4: a ws:// rendezvous on another host is used with a warning; loopback and https are quiet. */
    @Test
    void plaintextRendezvousOnAnotherHost_isWarnedAbout() {
        java.util.function.Function<String, String> warning = url -> WorkerConfig.from(new holepunch.config.Env(Map.of(
                "RENDEZVOUS_SERVICE_URL", url))).plaintextWarning();
        org.junit.jupiter.api.Assertions.assertNotNull(warning.apply("http://rendezvous.example:8080"));
        org.junit.jupiter.api.Assertions.assertNotNull(warning.apply("http://192.0.2.7:8080"));
        org.junit.jupiter.api.Assertions.assertTrue(warning.apply("http://192.0.2.7:8080").contains("https://"));
        org.junit.jupiter.api.Assertions.assertNull(warning.apply("http://127.0.0.1:8080"));
        org.junit.jupiter.api.Assertions.assertNull(warning.apply("http://localhost:8080"));
        org.junit.jupiter.api.Assertions.assertNull(warning.apply("http://[::1]:8080"));
        org.junit.jupiter.api.Assertions.assertNull(warning.apply("https://rendezvous.example"));
    }

    /** Issue 23, finding 10: a mapping is offered only when its external address is the one STUN sees, and off this host. */
    @Test
    void aGatewayMapping_isAdvertisedOnlyAtTheStunObservedAddress() {
        java.net.InetSocketAddress stun = new java.net.InetSocketAddress("198.51.100.20", 40000);
        org.junit.jupiter.api.Assertions.assertTrue(Worker.advertisable(new java.net.InetSocketAddress("198.51.100.20", 4000), stun));
        org.junit.jupiter.api.Assertions.assertFalse(Worker.advertisable(new java.net.InetSocketAddress("127.0.0.1", 4000), stun));
        org.junit.jupiter.api.Assertions.assertFalse(Worker.advertisable(new java.net.InetSocketAddress("203.0.113.99", 4000), stun),
                "a third party's address");
        org.junit.jupiter.api.Assertions.assertFalse(Worker.advertisable(new java.net.InetSocketAddress("127.0.0.1", 4000),
                new java.net.InetSocketAddress("127.0.0.1", 1)), "loopback never");
        org.junit.jupiter.api.Assertions.assertFalse(Worker.advertisable(new java.net.InetSocketAddress("198.51.100.20", 4000), null));
    }
}
