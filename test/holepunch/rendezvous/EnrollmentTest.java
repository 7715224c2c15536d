package holepunch.rendezvous;

import holepunch.config.ConfigException;
import holepunch.crypto.Identity;
import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ENROLLMENT=tofu (issue 23, item 2). The attack: an id's binding to its key lived in memory and
 * expired, so after a restart of a standalone rendezvous (or ID_BINDING_GRACE_SEC later) anyone
 * could register the id with their own key, and the owner then got 409. With ENROLLMENT=open (the
 * default, as before) that is still so, and shown here first; with tofu the first key holds the id
 * across restarts, recorded in ENROLLED_KEYS_FILE, until the operator deletes its line.
 */
class EnrollmentTest {
    @TempDir
    Path dir;

    @Test
    void open_aRestartLetsAnotherKeyTakeTheId_asBefore() throws Exception {
        Identity owner = Identity.generate(), impostor = Identity.generate();
        try (TestRendezvous rv = new TestRendezvous(Map.of())) {
            RawWebSocket.connectKeyed(rv.port, "alice", owner).close();
        }
        try (TestRendezvous rv = new TestRendezvous(Map.of())) {
            RawWebSocket.connectKeyed(rv.port, "alice", impostor).close();     // the restart forgot alice's key
        }
    }

    @Test
    void tofu_theFirstKeyHoldsTheIdAcrossRestarts_untilTheOperatorReleasesIt() throws Exception {
        Identity owner = Identity.generate(), impostor = Identity.generate();
        Path file = dir.resolve("enrolled");
        Map<String, String> env = Map.of("ENROLLMENT", "tofu", "ENROLLED_KEYS_FILE", file.toString());
        try (TestRendezvous rv = new TestRendezvous(env)) {
            RawWebSocket.connectKeyed(rv.port, "alice", owner).close();
            RawWebSocket.connect(rv.port, "carol").close();                    // never enrolled: a keyless (original) client is admitted
        }
        assertEquals("alice " + owner.publicIdentity().fingerprint(), Files.readString(file).strip(), "the record, forced to disk");
        try (TestRendezvous rv = new TestRendezvous(env)) {
            String other = RawWebSocket.refusal(rv.port, "alice", impostor);
            assertTrue(other.contains("409"), other);
            String keyless = RawWebSocket.refusal(rv.port, "alice", null);
            assertTrue(keyless.contains("409"), keyless);
            RawWebSocket.connectKeyed(rv.port, "alice", owner).close();        // the owner, after the restart
            Files.writeString(file, "# alice released by the operator\n");
            Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));
            Await.until(Duration.ofSeconds(5), "a released id enrolls its next key", () -> {
                try {
                    RawWebSocket.connectKeyed(rv.port, "alice", impostor).close();
                    return true;
                } catch (IOException notYet) {
                    return false;
                }
            });
        }
        assertTrue(Files.readString(file).contains("alice " + impostor.publicIdentity().fingerprint()), Files.readString(file));
    }

    @Test
    void tofu_aFileThatCannotBeWritten_refusesNewIdsWith503() throws Exception {
        Path file = dir.resolve("enrolled");
        try (TestRendezvous rv = new TestRendezvous(Map.of("ENROLLMENT", "tofu", "ENROLLED_KEYS_FILE", file.toString()))) {
            Files.delete(file);
            Files.createDirectory(file);                                      // the record is now a directory: no append works
            String refused = RawWebSocket.refusal(rv.port, "dave", Identity.generate());
            assertTrue(refused.contains("503"), refused);
            RawWebSocket.connect(rv.port, "erin").close();                    // keyless clients are not enrolled: still admitted
        }
    }

    @Test
    void settings_thatContradictOrLackTheirFile_stopTheStart() {
        ConfigException noFile = assertThrows(ConfigException.class, () -> new TestRendezvous(Map.of("ENROLLMENT", "tofu")).close());
        assertTrue(noFile.getMessage().contains("ENROLLED_KEYS_FILE"), noFile.getMessage());
        ConfigException bad = assertThrows(ConfigException.class, () -> new TestRendezvous(Map.of("ENROLLMENT", "first")).close());
        assertTrue(bad.getMessage().contains("open, tofu or approved"), bad.getMessage());
        ConfigException noList = assertThrows(ConfigException.class, () -> new TestRendezvous(Map.of("ENROLLMENT", "approved")).close());
        assertTrue(noList.getMessage().contains("APPROVED_KEYS_FILE"), noList.getMessage());
        ConfigException fileInCluster = assertThrows(ConfigException.class, () -> new TestRendezvous(Map.of("ENROLLMENT", "tofu",
                "ENROLLED_KEYS_FILE", dir.resolve("x").toString(), "REDIS_URL", "redis://127.0.0.1:1")).close());
        assertTrue(fileInCluster.getMessage().contains("holepunch:enrolled"), fileInCluster.getMessage());
    }
}
