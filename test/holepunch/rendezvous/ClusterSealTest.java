package holepunch.rendezvous;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterSealTest {
    private static final String SECRET = "a-cluster-secret-of-some-length";
    private static final String CHANNEL = "holepunch:instance:abc";

    @Test
    void aSealedMessage_opensOnItsChannel_onceFromItsSender() {
        ClusterSeal sender = new ClusterSeal(SECRET), receiver = new ClusterSeal(SECRET);
        String sealed = sender.seal(CHANNEL, "{\"op\":\"deliver\",\"instance\":\"s\"}", 1_000_000);
        ClusterSeal.Ok ok = assertInstanceOf(ClusterSeal.Ok.class, receiver.open(CHANNEL, sealed, 1_000_500));
        assertEquals("{\"op\":\"deliver\",\"instance\":\"s\"}", ok.json());
        assertTrue(receiver.fresh("s", ok.sequence()));
        ClusterSeal.Ok again = assertInstanceOf(ClusterSeal.Ok.class, receiver.open(CHANNEL, sealed, 1_000_600));
        assertFalse(receiver.fresh("s", again.sequence()), "a recorded message played again is refused");
        ClusterSeal.Ok next = assertInstanceOf(ClusterSeal.Ok.class, receiver.open(CHANNEL, sender.seal(CHANNEL, "{}", 1_000_700), 1_000_700));
        assertTrue(receiver.fresh("s", next.sequence()), "the sender's next one is taken");
    }

    @Test
    void forgedTamperedStaleOrMovedMessages_areRefused() {
        ClusterSeal sender = new ClusterSeal(SECRET), receiver = new ClusterSeal(SECRET);
        String json = "{\"op\":\"deliver\",\"worker\":\"w\",\"text\":\"x\",\"instance\":\"s\"}";
        assertInstanceOf(ClusterSeal.Refused.class, receiver.open(CHANNEL, json, 0), "unsealed (what one PUBLISH forged before)");
        String sealed = sender.seal(CHANNEL, json, 1_000_000);
        assertInstanceOf(ClusterSeal.Refused.class, receiver.open(CHANNEL, sealed.replace("\"x\"", "\"y\""), 1_000_000), "tampered");
        assertInstanceOf(ClusterSeal.Refused.class, receiver.open("holepunch:instance:other", sealed, 1_000_000), "moved to another channel");
        assertInstanceOf(ClusterSeal.Refused.class, receiver.open(CHANNEL, sealed, 1_000_000 + ClusterSeal.MAX_SKEW_MILLIS + 1), "stale");
        assertInstanceOf(ClusterSeal.Refused.class, new ClusterSeal("another-secret-entirely").open(CHANNEL, sealed, 1_000_000), "another secret");
        assertInstanceOf(ClusterSeal.Refused.class, receiver.open(CHANNEL, "hp1.x.y.z.{}", 0), "malformed");
        assertInstanceOf(ClusterSeal.Refused.class, receiver.open(CHANNEL, "hp1.1.2", 0), "malformed");
    }
}
