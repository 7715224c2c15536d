package holepunch.rendezvous;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Authenticates the messages instances of a cluster send each other on Redis (CLUSTER_SECRET): anyone
 * who can PUBLISH on that Redis could otherwise put a forged {@code p2p_connection_error} into a
 * session, or close one. A sealed message is
 * {@code hp1.<unix ms>.<sequence>.<HMAC-SHA256, base64url>.<JSON>}, the MAC over the channel, the time,
 * the sequence and the JSON. A receiver takes it only when the MAC checks out, the time is within
 * {@value #MAX_SKEW_MILLIS} ms of its own, and the sequence is above the last one it took from that
 * sender (each instance numbers its messages from 1; its name is random per process), so a recorded
 * message cannot be played again.
 */
final class ClusterSeal {
    static final String PREFIX = "hp1.";
    static final long MAX_SKEW_MILLIS = 30_000;
    static final int MIN_SECRET_CHARS = 16;
    /** Senders whose last sequence is remembered (instances are few; an attacker without the secret adds none). */
    static final int MAX_SENDERS = 1024;

    private final SecretKeySpec key;
    private final AtomicLong sequence = new AtomicLong();
    private final Map<String, Long> lastSeen = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > MAX_SENDERS;
        }
    };

    ClusterSeal(String secret) {
        this.key = new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256");
    }

    private byte[] mac(String channel, long time, long seq, String json) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key);
            mac.update((PREFIX + channel + "|" + time + "|" + seq + "|").getBytes(StandardCharsets.UTF_8));
            return mac.doFinal(json.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is required of every JDK", e);
        }
    }

    /** {@code json} sealed for {@code channel}, now. */
    String seal(String channel, String json, long nowMillis) {
        long seq = sequence.incrementAndGet();
        return PREFIX + nowMillis + "." + seq + "." + Base64.getUrlEncoder().withoutPadding().encodeToString(mac(channel, nowMillis, seq, json))
                + "." + json;
    }

    /** The JSON of a message received on {@code channel}, or why it is refused. */
    sealed interface Opened permits Ok, Refused {
    }

    /** A message whose MAC and time check out; {@link #fresh} then checks its sequence for its sender. */
    record Ok(String json, long sequence) implements Opened {
    }

    record Refused(String why) implements Opened {
    }

    /** Checks a received {@code text}'s seal: its MAC and its time. */
    Opened open(String channel, String text, long nowMillis) {
        if (!text.startsWith(PREFIX)) return new Refused("not sealed (CLUSTER_SECRET is set here)");
        String[] f = text.split("\\.", 5);
        if (f.length != 5) return new Refused("malformed seal");
        long time, seq;
        byte[] got;
        try {
            time = Long.parseLong(f[1]);
            seq = Long.parseLong(f[2]);
            got = Base64.getUrlDecoder().decode(f[3]);
        } catch (IllegalArgumentException e) {
            return new Refused("malformed seal");
        }
        if (!MessageDigest.isEqual(got, mac(channel, time, seq, f[4]))) return new Refused("its MAC does not check out (another CLUSTER_SECRET, or forged)");
        if (Math.abs(nowMillis - time) > MAX_SKEW_MILLIS) return new Refused("stale: sealed " + (nowMillis - time) + " ms ago");
        return new Ok(f[4], seq);
    }

    /** True when {@code sequence} is above the last one taken from instance {@code from} (and remembers it): no replay. */
    boolean fresh(String from, long sequence) {
        synchronized (lastSeen) {
            Long last = lastSeen.get(from);
            if (last != null && sequence <= last) return false;
            lastSeen.put(from, sequence);
            return true;
        }
    }
}
