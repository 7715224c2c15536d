package holepunch.rendezvous;

import holepunch.crypto.Identity;
import holepunch.json.Json;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 10: nobody can take over a keyed worker's id. Each attempt is made as an attacker would,
 * with a plain WebSocket client, against the running service; the live session must stay
 * untouched and serving.
 */
class IdentityBindingTest {
    static final Identity VICTIM = Identity.generate();
    static final Identity MALLORY = Identity.generate();

    private static String upgrade(int port, String id, String... headers) {
        return "GET /ws/register/" + id + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + String.join("", headers) + "\r\n";
    }

    private static void assertServing(RawWebSocket ws) throws Exception {
        ws.sendText(Json.write(Json.obj("type", "echo_request", "payload", "still mine")));
        assertEquals("still mine", Json.parseObject(ws.readSkippingPings().text()).get("original_payload"));
    }

    private static String refusal(int port, String id, String... headers) throws IOException {
        try (RawWebSocket ws = RawWebSocket.raw(port, upgrade(port, id, headers))) {
            return ws.responseHead + ws.readBody();
        }
    }

    @Test
    void liveKeyedWorker_cannotBeReplacedByAKeylessSessionOrAnotherKey_withOrWithoutAToken() throws Exception {
        for (Map<String, String> env : java.util.List.of(Map.<String, String>of(), Map.of("RENDEZVOUS_TOKEN", "shared"))) {
            String auth = env.isEmpty() ? "" : "Authorization: Bearer shared\r\n";
            try (TestRendezvous rv = new TestRendezvous(env);
                 RawWebSocket victim = RawWebSocket.connect(rv.port, "victim", new byte[0], auth + RawWebSocket.proofHeader(rv.port, "victim", VICTIM))) {
                String keyless = refusal(rv.port, "victim", auth);
                assertTrue(keyless.startsWith("HTTP/1.1 409"), keyless);
                assertTrue(keyless.contains("bound to another key"), keyless);
                String otherKey = refusal(rv.port, "victim", auth, RawWebSocket.proofHeader(rv.port, "victim", MALLORY));
                assertTrue(otherKey.startsWith("HTTP/1.1 409"), otherKey);
                assertServing(victim);
                if (env.isEmpty()) {
                    assertEquals(VICTIM.publicIdentity().fingerprint(), rv.worker("victim").get("key_fingerprint"));
                    assertTrue(rv.get("/metrics").body().contains("holepunch_refused_total{reason=\"id_bound\"} 2"));
                }
            }
        }
    }

    @Test
    void sameKey_replacesAsTheOriginalDoes() throws Exception {
        try (TestRendezvous rv = new TestRendezvous();
             RawWebSocket first = RawWebSocket.connectKeyed(rv.port, "mover", VICTIM);
             RawWebSocket second = RawWebSocket.connectKeyed(rv.port, "mover", VICTIM)) {
            RawWebSocket.Frame close = first.readClose();
            assertEquals(1000, close.closeCode());
            assertEquals("New connection from same worker ID", close.closeReason());
            assertServing(second);
        }
    }

    @Test
    void replayedProof_isRefused_andAProofForAnotherHostToo() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("RENDEZVOUS_PUBLIC_HOSTS", "127.0.0.1:" + 0))) {
            // (this instance names a host no client uses: every proof is for another rendezvous)
            String foreign = refusal(rv.port, "roamer", RawWebSocket.proofHeader(rv.port, "roamer", VICTIM));
            assertTrue(foreign.startsWith("HTTP/1.1 401"), foreign);
        }
        try (TestRendezvous rv = new TestRendezvous()) {
            String header = RawWebSocket.proofHeader(rv.port, "replayed", VICTIM);
            try (RawWebSocket ws = RawWebSocket.connect(rv.port, "replayed", new byte[0], header)) {
                assertServing(ws);
            }
            Await.until(Duration.ofSeconds(5), "first session gone", () -> rv.worker("replayed") == null);
            String replay = refusal(rv.port, "replayed", header);
            assertTrue(replay.startsWith("HTTP/1.1 401") && replay.contains("used already"), replay);
            String otherId = refusal(rv.port, "someone-else", header);
            assertTrue(otherId.startsWith("HTTP/1.1 401"), "a proof for one id does not serve another: " + otherId);
            String garbage = refusal(rv.port, "garbled", "Holepunch-Proof: v1; key=AAAA\r\n");
            assertTrue(garbage.startsWith("HTTP/1.1 400"), garbage);
        }
    }

    /**
     * Issue 23 item 3: a proof captured at another server, or at this one before it restarted, is played here with
     * the Host it was signed for (RENDEZVOUS_PUBLIC_HOSTS unset). Before, a proof signed the worker's clock and a
     * nonce of its own, and both replays got 101 within 30 s (watched). Now it signs a challenge this rendezvous
     * made, which no other server and no earlier process can make.
     */
    @Test
    void aProofFromAnotherServer_orFromBeforeARestart_isRefused() throws Exception {
        String captured;
        int otherPort;
        try (TestRendezvous other = new TestRendezvous()) {
            otherPort = other.port;
            captured = RawWebSocket.proofHeader(other.port, "victim", VICTIM);
        }
        try (TestRendezvous rv = new TestRendezvous()) {
            String played;
            try (RawWebSocket ws = RawWebSocket.raw(rv.port, upgrade(otherPort, "victim", captured))) {   // Host: the other's
                played = ws.responseHead + ws.readBody();
            }
            assertTrue(played.startsWith("HTTP/1.1 401") && played.contains("not made by this rendezvous"), played);
            assertTrue(rv.worker("victim") == null);
        }
        int port;
        String beforeRestart;
        try (TestRendezvous first = new TestRendezvous()) {
            port = first.port;
            beforeRestart = RawWebSocket.proofHeader(first.port, "victim", VICTIM);
        }
        try (TestRendezvous restarted = new TestRendezvous(Map.of("PORT", Integer.toString(port)))) {
            String played = refusal(restarted.port, "victim", beforeRestart);
            assertTrue(played.startsWith("HTTP/1.1 401") && played.contains("not made by this rendezvous"), played);
            try (RawWebSocket owner = RawWebSocket.connectKeyed(restarted.port, "victim", VICTIM)) {
                assertServing(owner);                             // the owner, with a new challenge, is let in
            }
        }
    }

    /** Challenges that this rendezvous did make, but that are garbled, stale or of the old proof format, are each refused by name. */
    @Test
    void badChallenges_andVersionOneProofs_areRefusedByName() throws Exception {
        try (TestRendezvous rv = new TestRendezvous()) {
            String good = RawWebSocket.proofHeader(rv.port, "w", VICTIM);
            String garbled = good.replaceFirst("challenge=.", "challenge=" + (good.contains("challenge=A") ? "B" : "A"));
            String g = refusal(rv.port, "w", garbled);
            assertTrue(g.startsWith("HTTP/1.1 401") && g.contains("not made by this rendezvous"), g);
            String v1 = refusal(rv.port, "w", "Holepunch-Proof: v1; key=AAAA; ts=1; nonce=AAAA; sig=AAAA\r\n");
            assertTrue(v1.startsWith("HTTP/1.1 400") && v1.contains("GET /challenge"), v1);
            String none = refusal(rv.port, "w", good.replaceFirst("challenge=[^;]*; ", ""));
            assertTrue(none.startsWith("HTTP/1.1 400") && none.contains("challenge"), none);
            try (RawWebSocket fine = RawWebSocket.connect(rv.port, "w", new byte[0], good)) {
                assertServing(fine);                              // the untouched proof is good
            }
        }
    }

    @Test
    void binding_outlivesTheSessionForTheGracePeriod_thenLapses() throws Exception {
        try (TestRendezvous rv = new TestRendezvous()) {
            try (RawWebSocket ws = RawWebSocket.connectKeyed(rv.port, "graceful", VICTIM)) {
                assertServing(ws);
            }
            Await.until(Duration.ofSeconds(5), "session gone", () -> rv.worker("graceful") == null);
            assertTrue(refusal(rv.port, "graceful").startsWith("HTTP/1.1 409"), "within ID_BINDING_GRACE_SEC the id stays bound");
            try (RawWebSocket back = RawWebSocket.connectKeyed(rv.port, "graceful", VICTIM)) {
                assertServing(back);
            }
        }
        try (TestRendezvous rv = new TestRendezvous(Map.of("ID_BINDING_GRACE_SEC", "0"))) {
            try (RawWebSocket ws = RawWebSocket.connectKeyed(rv.port, "lapsed", VICTIM)) {
                assertServing(ws);
            }
            Await.until(Duration.ofSeconds(5), "session gone", () -> rv.worker("lapsed") == null);
            try (RawWebSocket keyless = RawWebSocket.connect(rv.port, "lapsed")) {
                assertServing(keyless);
            }
        }
    }

    @Test
    void requireWorkerKeys_refusesKeylessSessions() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("REQUIRE_WORKER_KEYS", "true"))) {
            String keyless = refusal(rv.port, "anyone");
            assertTrue(keyless.startsWith("HTTP/1.1 401") && keyless.contains("requires a worker key"), keyless);
            try (RawWebSocket keyed = RawWebSocket.connectKeyed(rv.port, "anyone", MALLORY)) {
                assertServing(keyed);
            }
        }
        assertThrows(holepunch.config.ConfigException.class,
                () -> RendezvousConfig.from(new holepunch.config.Env(Map.of("REQUIRE_WORKER_KEYS", "maybe"))));
    }

    /**
     * Issue 27: a worker with a fixed id and no WORKER_KEY_FILE (a new key per process) that is
     * simply restarted was refused for ID_BINDING_GRACE_SEC. Its proof now says the key is
     * ephemeral: it holds the id while its session lives (a keyless or other key is refused then)
     * and not after.
     */
    @Test
    void ephemeralKey_holdsItsIdWhileItsSessionLives_andNotAfter() throws Exception {
        try (TestRendezvous rv = new TestRendezvous()) {
            try (RawWebSocket first = RawWebSocket.connect(rv.port, "restarted", new byte[0], RawWebSocket.proofHeader(rv.port, "restarted", VICTIM, true))) {
                String other = refusal(rv.port, "restarted", RawWebSocket.proofHeader(rv.port, "restarted", MALLORY, true));
                assertTrue(other.startsWith("HTTP/1.1 409"), "while it lives, the id is its own: " + other);
                assertServing(first);
            }
            Await.until(Duration.ofSeconds(5), "session gone", () -> rv.worker("restarted") == null);
            Identity nextProcess = Identity.generate();
            try (RawWebSocket again = RawWebSocket.connect(rv.port, "restarted", new byte[0],
                    RawWebSocket.proofHeader(rv.port, "restarted", nextProcess, true))) {
                assertServing(again);
                assertEquals(nextProcess.publicIdentity().fingerprint(), rv.worker("restarted").get("key_fingerprint"));
            }
        }
    }

    /** The ephemeral mark is signed: stripping it from (or adding it to) a proof breaks the signature. */
    @Test
    void ephemeralMark_isCoveredByTheSignature() throws Exception {
        try (TestRendezvous rv = new TestRendezvous()) {
            String durable = RawWebSocket.proofHeader(rv.port, "marked", VICTIM, false);
            String forged = durable.replace("; sig=", "; eph=1; sig=");
            String r = refusal(rv.port, "marked", forged);
            assertTrue(r.startsWith("HTTP/1.1 401") && r.contains("signature"), r);
        }
    }

    /**
     * Issue 23, finding 3: a proof is checked against the Host its own request names, so unless the
     * rendezvous knows its names (RENDEZVOUS_PUBLIC_HOSTS) a server a worker connects to could relay this
     * rendezvous's challenge to it, live, and play its answer here (captured proofs are refused:
     * {@link #aProofFromAnotherServer_orFromBeforeARestart_isRefused}). Where keys decide who may
     * register, starting without the names says so.
     */
    @Test
    @org.junit.jupiter.api.Tag("slow")
    void keysDecidingWithoutPublicHosts_isSaidAtStart() throws Exception {
        String warning = "RENDEZVOUS_PUBLIC_HOSTS is not set";
        int port = holepunch.testing.Ports.freeTcp();
        for (boolean named : new boolean[] {false, true}) {
            Map<String, String> env = new java.util.HashMap<>(Map.of("REQUIRE_WORKER_KEYS", "true"));
            if (named) env.put("RENDEZVOUS_PUBLIC_HOSTS", "127.0.0.1:" + port);
            try (holepunch.testing.ServiceProcess rv = holepunch.testing.ServiceProcess.rendezvous(java.util.List.of(), env, 0, port)) {
                assertThrows(IOException.class, () -> RawWebSocket.connect(port, "keyless").close());
                // The refusal is logged after the start's last line: once it is there, so is any warning of the start.
                Await.until(Duration.ofSeconds(10), "the refusal logged", () -> rv.output().contains("refused a keyless session"));
                assertEquals(!named, rv.output().contains(warning), rv.output());
            }
        }
    }
}
