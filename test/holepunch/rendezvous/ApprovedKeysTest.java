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

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * APPROVED_KEYS_FILE: the operator lists the workers (id and key) the rendezvous admits. The attack is anyone
 * else taking a listed id, or any id at all: before, ids were first come, first served.
 */
class ApprovedKeysTest {
    @TempDir
    Path dir;

    @Test
    void onlyListedIdsWithTheirKeys_areAdmitted_andTheListIsReadAgainWhenItChanges() throws Exception {
        Identity alice = Identity.generate(), bob = Identity.generate(), mallory = Identity.generate();
        Path file = dir.resolve("approved");
        Files.writeString(file, "# worker-id fingerprint\nalice " + alice.publicIdentity().fingerprint() + "\n");
        try (TestRendezvous rv = new TestRendezvous(Map.of("APPROVED_KEYS_FILE", file.toString()))) {
            RawWebSocket.connectKeyed(rv.port, "alice", alice).close();
            assertTrue(RawWebSocket.refusal(rv.port, "alice", mallory).contains("403"), "another key for a listed id");
            assertTrue(RawWebSocket.refusal(rv.port, "alice", null).contains("403"), "a keyless client for a listed id");
            String unlisted = RawWebSocket.refusal(rv.port, "bob", bob);
            assertTrue(unlisted.contains("403"), unlisted);
            Files.writeString(file, "alice " + alice.publicIdentity().fingerprint() + "\nbob " + bob.publicIdentity().fingerprint() + "\n");
            Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));
            Await.until(Duration.ofSeconds(5), "bob approved once listed", () -> {
                try {
                    RawWebSocket.connectKeyed(rv.port, "bob", bob).close();
                    return true;
                } catch (IOException notYet) {
                    return false;
                }
            });
        }
    }

    @Test
    void aMalformedFile_stopsTheStartNamingTheVariable() throws Exception {
        Path file = dir.resolve("bad");
        Files.writeString(file, "alice\n");
        ConfigException e = assertThrows(ConfigException.class, () -> new TestRendezvous(Map.of("APPROVED_KEYS_FILE", file.toString())));
        assertTrue(e.getMessage().startsWith("APPROVED_KEYS_FILE") && e.getMessage().contains("line 1"), e.getMessage());
        ConfigException missing = assertThrows(ConfigException.class,
                () -> new TestRendezvous(Map.of("APPROVED_KEYS_FILE", dir.resolve("none").toString())));
        assertTrue(missing.getMessage().contains("cannot be read"), missing.getMessage());
    }
}
