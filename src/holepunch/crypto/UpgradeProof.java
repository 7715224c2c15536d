package holepunch.crypto;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Proof, on the WebSocket upgrade, that the worker holds its identity key: the request header
 * {@value #HEADER} carries the public identity and an Ed25519 signature over the worker id, the
 * rendezvous host it is talking to, the time and a random nonce. A proof is good for one host,
 * within {@link #WINDOW_SECONDS} of its time, once (the rendezvous remembers the nonces it saw).
 *
 * <pre>
 * Holepunch-Proof: v1; key=&lt;ed25519&gt;; static=&lt;x25519&gt;; static_sig=&lt;sig&gt;; ts=&lt;unix seconds&gt;; nonce=&lt;16 bytes&gt;; [eph=1;] sig=&lt;sig&gt;
 * signed: "holepunch-upgrade-v1\n" id "\n" host "\n" ts "\n" nonce "\n" static ["\nephemeral"]
 * </pre>
 * All binary fields are base64url without padding. {@code eph=1} (signed) says the key lives as
 * long as the worker's process: the rendezvous lets it hold the id while its session lives and
 * not after, so that the same worker started again, with a new key, gets its id back at once.
 */
public record UpgradeProof(PublicIdentity identity, long timestamp, String nonce, boolean ephemeral, byte[] signature) {
    public static final String HEADER = "Holepunch-Proof";
    public static final long WINDOW_SECONDS = 30;
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A malformed proof header; the message says which part. */
    public static final class ProofException extends Exception {
        public ProofException(String message) {
            super(message, null, false, false);
        }
    }

    /** The header value for a new upgrade to {@code host} as {@code workerId}, with a key kept across restarts. */
    public static String create(Identity id, String workerId, String host, long nowSeconds) {
        return create(id, workerId, host, nowSeconds, false);
    }

    /** As above; {@code ephemeral}: the key is this process's alone (no WORKER_KEY_FILE). */
    public static String create(Identity id, String workerId, String host, long nowSeconds, boolean ephemeral) {
        byte[] n = new byte[16];
        RANDOM.nextBytes(n);
        String nonce = Keys.b64(n);
        PublicIdentity p = id.publicIdentity();
        byte[] sig = id.sign(signed(workerId, host, nowSeconds, nonce, p, ephemeral));
        return "v1; key=" + Keys.b64(p.signingKey()) + "; static=" + Keys.b64(p.staticKey()) + "; static_sig=" + Keys.b64(p.staticSig())
                + "; ts=" + nowSeconds + "; nonce=" + nonce + (ephemeral ? "; eph=1" : "") + "; sig=" + Keys.b64(sig);
    }

    public static UpgradeProof parse(String header) throws ProofException {
        if (header == null || header.length() > 1024) throw new ProofException("missing or over 1,024 characters");
        String[] parts = header.split(";");
        if (!parts[0].strip().equals("v1")) throw new ProofException("unknown version (expected v1)");
        Map<String, String> f = new HashMap<>();
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].strip();
            int eq = p.indexOf('=');
            if (eq > 0) f.put(p.substring(0, eq), p.substring(eq + 1));
        }
        PublicIdentity id = PublicIdentity.verified(f.get("key"), f.get("static"), f.get("static_sig"));
        if (id == null) throw new ProofException("key, static and static_sig must be an Ed25519 key, an X25519 key and its signature");
        long ts;
        try {
            ts = Long.parseLong(f.getOrDefault("ts", ""));
        } catch (NumberFormatException e) {
            throw new ProofException("ts must be unix seconds");
        }
        String nonce = f.get("nonce");
        if (Keys.unb64(nonce, 16) == null) throw new ProofException("nonce must be 16 bytes");
        byte[] sig = Keys.unb64(f.get("sig"), 64);
        if (sig == null) throw new ProofException("sig must be an Ed25519 signature");
        String eph = f.get("eph");
        if (eph != null && !eph.equals("1")) throw new ProofException("eph must be 1 when present");
        return new UpgradeProof(id, ts, nonce, eph != null, sig);
    }

    /** Whether the signature covers {@code workerId} and {@code host} (compared without case and default ports). */
    public boolean verifies(String workerId, String host) {
        return identity.verify(signed(workerId, host, timestamp, nonce, identity, ephemeral), signature);
    }

    public boolean fresh(long nowSeconds) {
        return Math.abs(nowSeconds - timestamp) <= WINDOW_SECONDS;
    }

    private static byte[] signed(String workerId, String host, long ts, String nonce, PublicIdentity p, boolean ephemeral) {
        return ("holepunch-upgrade-v1\n" + workerId + "\n" + normalHost(host) + "\n" + ts + "\n" + nonce + "\n" + Keys.b64(p.staticKey())
                + (ephemeral ? "\nephemeral" : "")).getBytes(StandardCharsets.UTF_8);
    }

    /** A Host value without case and without a default port (80, 443), so client and server spell it alike. */
    public static String normalHost(String host) {
        String h = host == null ? "" : host.strip().toLowerCase(Locale.ROOT);
        if (h.endsWith(":80") || h.endsWith(":443")) h = h.substring(0, h.lastIndexOf(':'));
        return h;
    }
}
