package holepunch.crypto;

import holepunch.config.ConfigException;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdentityTest {
    @Test
    void keyFile_isMadeWithMode0600_andGivesTheSameIdentityAfterARestart() throws Exception {
        Path dir = Files.createTempDirectory("hp-key");
        Path file = dir.resolve("worker.key");
        try {
            Identity first = Identity.loadOrCreate(file);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
            Identity again = Identity.loadOrCreate(file);
            assertEquals(first.publicIdentity().fingerprint(), again.publicIdentity().fingerprint());
            assertEquals(first.publicIdentity(), again.publicIdentity(), "the same static key too");
            assertNotEquals(first.publicIdentity().fingerprint(), Identity.generate().publicIdentity().fingerprint());
            assertFalse(first.toString().contains(Files.readString(file).split("ed25519=")[1].substring(0, 20)), "never printed");
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void malformedOrUnreadableKeyFile_isAClearConfigurationError() throws Exception {
        Path file = Files.createTempFile("hp-key", ".key");
        try {
            Files.writeString(file, "not a key\n");
            ConfigException e = assertThrows(ConfigException.class, () -> Identity.loadOrCreate(file));
            assertTrue(e.getMessage().contains("WORKER_KEY_FILE") && e.getMessage().contains("not a holepunch worker key"), e.getMessage());
            Files.writeString(file, Identity.HEADER + "\ned25519=AAAA\nx25519=AAAA\n");
            assertTrue(assertThrows(ConfigException.class, () -> Identity.loadOrCreate(file)).getMessage().contains("malformed"));
            Path dirAsFile = Files.createTempDirectory("hp-dir");
            assertTrue(assertThrows(ConfigException.class, () -> Identity.loadOrCreate(dirAsFile)).getMessage().contains("cannot be read"));
            Files.delete(dirAsFile);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** Issue 23, finding 4: a key file others may read is refused, naming the variable (as ssh refuses such a key). */
    @Test
    void keyFileOpenToOthers_isRefused() throws Exception {
        Path dir = Files.createTempDirectory("hp-key-dir");
        Path file = dir.resolve("worker.key");
        try {
            Identity made = Identity.loadOrCreate(file);
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
            ConfigException e = assertThrows(ConfigException.class, () -> Identity.loadOrCreate(file));
            assertTrue(e.getMessage().startsWith("WORKER_KEY_FILE") && e.getMessage().contains("rw-rw-rw-") && e.getMessage().contains("chmod 600"),
                    e.getMessage());
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            assertEquals(made.publicIdentity().fingerprint(), Identity.loadOrCreate(file).publicIdentity().fingerprint());
        } finally {
            Files.deleteIfExists(file);
            Files.delete(dir);
        }
    }

    /**
     * Issue 23, finding 4: the key file was created, then written, so a concurrent start could read
     * it empty or half-written. Eight starts at once now all get the one key written whole, and no
     * temporary file is left beside it.
     */
    @Test
    void concurrentStarts_allGetTheSameWholeKey() throws Exception {
        Path dir = Files.createTempDirectory("hp-key-race");
        Path file = dir.resolve("worker.key");
        try (java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(8)) {
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            List<java.util.concurrent.Future<String>> starts = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                starts.add(pool.submit(() -> {
                    go.await();
                    return Identity.loadOrCreate(file).publicIdentity().fingerprint();
                }));
            }
            go.countDown();
            java.util.Set<String> keys = new java.util.HashSet<>();
            for (java.util.concurrent.Future<String> f : starts) keys.add(f.get(30, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(1, keys.size(), "one key for every start: " + keys);
            try (java.util.stream.Stream<Path> left = Files.list(dir)) {
                assertEquals(List.of(file), left.toList(), "only the key itself");
            }
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        } finally {
            Files.deleteIfExists(file);
            Files.delete(dir);
        }
    }

    @Test
    void proof_verifiesForItsIdHostAndChallengeOnly() throws Exception {
        Identity id = Identity.generate();
        String challenge = "A".repeat(54);
        UpgradeProof p = UpgradeProof.parse(UpgradeProof.create(id, "w-1", "rv.example:8080", challenge, false));
        assertTrue(p.verifies("w-1", "RV.example:8080"));
        assertEquals(challenge, p.challenge());
        assertTrue(UpgradeProof.parse(UpgradeProof.create(id, "w-1", "rv.example:443", challenge, false)).verifies("w-1", "rv.example"),
                "a default port may be left out");
        assertFalse(p.verifies("w-2", "rv.example:8080"), "another id");
        assertFalse(p.verifies("w-1", "other.example:8080"), "another rendezvous");
        String other = UpgradeProof.create(id, "w-1", "rv.example:8080", challenge, false).replace("challenge=A", "challenge=B");
        assertFalse(UpgradeProof.parse(other).verifies("w-1", "rv.example:8080"), "another challenge");
        assertTrue(UpgradeProof.parse(UpgradeProof.create(id, "w-1", "rv", challenge, true)).ephemeral());
        assertEquals(id.publicIdentity(), p.identity());
        assertThrows(UpgradeProof.ProofException.class, () -> UpgradeProof.parse("v3; key=x"));
        UpgradeProof.ProofException v1 = assertThrows(UpgradeProof.ProofException.class, () -> UpgradeProof.parse("v1; key=AAAA"));
        assertTrue(v1.getMessage().contains("GET /challenge"));
        assertThrows(UpgradeProof.ProofException.class,
                () -> UpgradeProof.parse(UpgradeProof.create(id, "w-1", "rv", "bad challenge!", false)), "not base64url");
    }

    @Test
    void staticKey_isBoundToTheSigningKey() {
        PublicIdentity a = Identity.generate().publicIdentity();
        PublicIdentity b = Identity.generate().publicIdentity();
        assertEquals(a, PublicIdentity.verified(Keys.b64(a.signingKey()), Keys.b64(a.staticKey()), Keys.b64(a.staticSig())));
        assertNull(PublicIdentity.verified(Keys.b64(a.signingKey()), Keys.b64(b.staticKey()), Keys.b64(a.staticSig())), "a swapped static key");
        assertNull(PublicIdentity.verified(Keys.b64(b.signingKey()), Keys.b64(a.staticKey()), Keys.b64(a.staticSig())), "another signer");
        assertTrue(a.matchesPin(a.fingerprint()));
        assertTrue(a.matchesPin(a.fingerprint().substring(0, PublicIdentity.MIN_PIN_CHARS)));
        assertFalse(a.matchesPin(a.fingerprint().substring(0, PublicIdentity.MIN_PIN_CHARS - 1)), "too short to pin");
        assertFalse(b.matchesPin(a.fingerprint()));
    }
}
