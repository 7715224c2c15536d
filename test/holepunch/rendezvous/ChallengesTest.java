package holepunch.rendezvous;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The challenges an upgrade proof signs: made here, aged by this clock, and shared by a cluster's instances. */
class ChallengesTest {
    private static final long NOW = 1_800_000_000L;

    @Test
    void aChallengeChecksOut_whereItWasMade_whileItLives() throws IOException {
        Challenges here = Challenges.perProcess();
        String c = here.issue(NOW);
        assertEquals(54, c.length(), "40 bytes of base64url");
        assertNull(here.check(c, NOW).refusal());
        assertEquals(NOW, here.check(c, NOW + 3).issuedSeconds());
        assertNull(here.check(c, NOW + Challenges.LIFETIME_SECONDS).refusal());
        assertTrue(here.check(c, NOW + Challenges.LIFETIME_SECONDS + 1).refusal().contains("s old"));
        assertTrue(here.check(c, NOW - Challenges.SKEW_SECONDS - 1).refusal().contains("future"));
        assertNotEquals(c, here.issue(NOW), "each is new");
    }

    @Test
    void anotherProcesssChallenge_aGarbledOne_andGarbage_areRefused() throws IOException {
        Challenges here = Challenges.perProcess();
        String elsewhere = Challenges.perProcess().issue(NOW);
        assertTrue(here.check(elsewhere, NOW).refusal().contains("not made by this rendezvous"));
        String c = here.issue(NOW);
        char last = c.charAt(20);
        String garbled = c.substring(0, 20) + (last == 'A' ? 'B' : 'A') + c.substring(21);
        assertTrue(here.check(garbled, NOW).refusal().contains("not made by this rendezvous"));
        // moving the issued time forward (to live longer) breaks the MAC too
        byte[] raw = java.util.Base64.getUrlDecoder().decode(c);
        java.nio.ByteBuffer.wrap(raw).putLong(NOW + 20);
        assertTrue(here.check(java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(raw), NOW + 40).refusal()
                .contains("not made by this rendezvous"));
        for (String bad : new String[]{null, "", "!!!", "AAAA", c + "AA"}) {
            assertTrue(here.check(bad, NOW).refusal().contains("40 bytes"), String.valueOf(bad));
        }
    }

    @Test
    void instancesWithOneSecret_orOneStoredKey_takeEachOthersChallenges() throws IOException {
        assertNull(Challenges.fromSecret("a-cluster-secret-0123").check(Challenges.fromSecret("a-cluster-secret-0123").issue(NOW), NOW).refusal());
        assertTrue(Challenges.fromSecret("another-secret-0123456").check(Challenges.fromSecret("a-cluster-secret-0123").issue(NOW), NOW)
                .refusal() != null);
        // A key kept in a store (Redis) that came back with a new one: the instance that holds the old key reads it again once.
        byte[][] stored = {new byte[32]};
        AtomicInteger reads = new AtomicInteger();
        Challenges.KeySource store = fresh -> {
            reads.incrementAndGet();
            return stored[0].clone();
        };
        long[] clock = {0};
        Challenges a = Challenges.shared(store, () -> clock[0]);
        Challenges b = Challenges.shared(store, () -> clock[0]);
        assertNull(b.check(a.issue(NOW), NOW).refusal());
        String before = a.issue(NOW);
        stored[0][0] = 1;                                           // the store's key was made anew
        String after = Challenges.shared(store).issue(NOW);
        clock[0] += 1_500_000_000L;                                 // 1.5 s later
        int readsBefore = reads.get();
        assertNull(b.check(after, NOW).refusal(), "b reads the new key when a challenge does not check out with its own");
        assertEquals(readsBefore + 1, reads.get());
        assertTrue(b.check(before, NOW).refusal() != null, "a challenge made with the old key is not taken any more");
        assertEquals(readsBefore + 1, reads.get(), "and that costs no second read within a second");
        clock[0] += Challenges.REREAD_NANOS;
        a.issue(NOW);
        assertEquals(readsBefore + 2, reads.get(), "an instance that only issues reads the key again every so often");
    }
}
