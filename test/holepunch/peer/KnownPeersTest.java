package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.protocol.P2pConnectionDecline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trust on first use: the attack is a rendezvous (or whoever writes to its Redis) introducing an impostor
 * under a peer's id once the real peer has been met. Before, any key an offer carried was taken.
 */
class KnownPeersTest extends PeerFixture {
    @TempDir
    Path dir;

    private Peers withFile(Path file) {
        return peers(new PeerSettings(500, 50, 15_000, 3000, 30_000, List.of(), List.of("peer"), Map.of(), 120_000, 0, true, file));
    }

    private P2pConnectionDecline lastDecline() {
        return assertInstanceOf(P2pConnectionDecline.class, toRendezvous.getLast());
    }

    @Test
    void anImpostorAfterTheFirstMeeting_isRefusedAndAlarmed() {
        deliver(peers, offerJson("peer", 0xe1, THEM, "responder"));
        assertEquals(1, peers.status().size());
        assertEquals("new", peers.status().getFirst().get("key_trust"));
        assertEquals(THEM.publicIdentity().fingerprint(), peers.status().getFirst().get("key_fingerprint"), "in full");
        Identity impostor = Identity.generate();
        deliver(peers, offerJson("peer", 0xe2, impostor, "responder"));
        assertTrue(lastDecline().detail().contains("key changed"), lastDecline().detail());
        List<Map<String, Object>> alarms = peers.keyAlarms();
        assertEquals(1, alarms.size());
        assertEquals(THEM.publicIdentity().fingerprint(), alarms.getFirst().get("known_fingerprint"));
        assertEquals(impostor.publicIdentity().fingerprint(), alarms.getFirst().get("offered_fingerprint"));
        deliver(peers, offerJson("peer", 0xe3, THEM, "responder"));
        assertEquals("known", peers.status().getFirst().get("key_trust"), "the real peer is still welcome");
    }

    @Test
    void theStoreOutlivesARestart_isPrivate_andRemovingALineIsTheExplicitActThatTrustsANewKey() throws Exception {
        Path file = dir.resolve("key.known_peers");
        deliver(withFile(file), offerJson("peer", 0xe4, THEM, "responder"));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertTrue(Files.readString(file).contains("peer " + THEM.publicIdentity().fingerprint()), Files.readString(file));

        Peers restarted = withFile(file);
        Identity renewed = Identity.generate();
        deliver(restarted, offerJson("peer", 0xe5, renewed, "responder"));
        assertTrue(lastDecline().detail().contains("key changed"), "refused after a restart too");
        assertTrue(restarted.status().isEmpty());

        Files.writeString(file, "# emptied by the operator\n");        // the explicit act
        deliver(restarted, offerJson("peer", 0xe6, renewed, "responder"));
        assertEquals(1, restarted.status().size(), "the new key is taken once the old line is gone");
        assertTrue(Files.readString(file).contains("peer " + renewed.publicIdentity().fingerprint()));
    }

    @Test
    void aKeyForItsProcessOnly_isTakenButNotKept_andCannotReplaceAKeptOne() throws Exception {
        Path file = dir.resolve("known");
        Peers p = withFile(file);
        Map<String, Object> ephemeral = offerJson("peer", 0xe7, Identity.generate(), "responder");
        ephemeral.put("peer_key_ephemeral", true);
        deliver(p, ephemeral);
        assertEquals("ephemeral", p.status().getFirst().get("key_trust"));
        assertTrue(!Files.exists(file) || !Files.readString(file).contains("peer "), "not kept");

        deliver(p, offerJson("peer", 0xe8, THEM, "responder"));       // the peer starts keeping its key
        Map<String, Object> downgrade = offerJson("peer", 0xe9, Identity.generate(), "responder");
        downgrade.put("peer_key_ephemeral", true);
        deliver(p, downgrade);
        assertTrue(lastDecline().detail().contains("key changed"), "a kept key is not replaced by a process-only one");
    }

    @Test
    void peerKeysNamingTheNewKey_isAlsoAnExplicitAct_andTheStoreFollowsIt() throws Exception {
        Path file = dir.resolve("known");
        deliver(withFile(file), offerJson("peer", 0xea, THEM, "responder"));
        Identity renewed = Identity.generate();
        Peers pinned = peers(new PeerSettings(500, 50, 15_000, 3000, 30_000, List.of(), List.of("peer"),
                Map.of("peer", renewed.publicIdentity().fingerprint()), 120_000, 0, true, file));
        deliver(pinned, offerJson("peer", 0xeb, renewed, "responder"));
        assertEquals("pinned", pinned.status().getFirst().get("key_trust"));
        assertTrue(Files.readString(file).contains("peer " + renewed.publicIdentity().fingerprint()));
    }
}
