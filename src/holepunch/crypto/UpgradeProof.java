package holepunch.crypto;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Proof, on the WebSocket upgrade, that the worker holds its identity key: the request header
 * {@value #HEADER} carries the public identity and an Ed25519 signature over the worker id, the
 * rendezvous host it is talking to and a challenge that rendezvous made ({@code GET /challenge}).
 * A proof is good for one host, while its challenge lives, once: the rendezvous made the challenge,
 * so a proof captured at another server, or at this one before it restarted, does not serve, and
 * the worker needs no clock.
 *
 * <pre>
 * Holepunch-Proof: v2; key=&lt;ed25519&gt;; static=&lt;x25519&gt;; static_sig=&lt;sig&gt;; challenge=&lt;from the rendezvous&gt;; [eph=1;] sig=&lt;sig&gt;
 * signed: "holepunch-upgrade-v2\n" id "\n" host "\n" challenge "\n" static ["\nephemeral"]
 * </pre>
 * All binary fields are base64url without padding. {@code eph=1} (signed) says the key lives as
 * long as the worker's process: the rendezvous lets it hold the id while its session lives and
 * not after, so that the same worker started again, with a new key, gets its id back at once.
 * Version 1 signed the worker's own clock and a nonce of its own instead of a challenge: such a
 * proof could be played at another server, or after a restart; it is refused.
 */
public record UpgradeProof(PublicIdentity identity, String challenge, boolean ephemeral, byte[] signature) {
    public static final String HEADER = "Holepunch-Proof";
    /** How long a challenge lives, from its making (the rendezvous's clock). */
    public static final long WINDOW_SECONDS = 30;
    /** The longest challenge taken (the rendezvous's are 54 characters). */
    static final int MAX_CHALLENGE_CHARS = 128;

    /** A malformed proof header; the message says which part. */
    public static final class ProofException extends Exception {
        public ProofException(String message) {
            super(message, null, false, false);
        }
    }

    /** The header value for a new upgrade to {@code host} as {@code workerId}, signing the rendezvous's {@code challenge}. */
    public static String create(Identity id, String workerId, String host, String challenge, boolean ephemeral) {
        PublicIdentity p = id.publicIdentity();
        byte[] sig = id.sign(signed(workerId, host, challenge, p, ephemeral));
        return "v2; key=" + Keys.b64(p.signingKey()) + "; static=" + Keys.b64(p.staticKey()) + "; static_sig=" + Keys.b64(p.staticSig())
                + "; challenge=" + challenge + (ephemeral ? "; eph=1" : "") + "; sig=" + Keys.b64(sig);
    }

    public static UpgradeProof parse(String header) throws ProofException {
        if (header == null || header.length() > 1024) throw new ProofException("missing or over 1,024 characters");
        String[] parts = header.split(";");
        String version = parts[0].strip();
        if (version.equals("v1")) {
            throw new ProofException("version 1 (signing the worker's clock) is no longer taken: sign a challenge from GET /challenge (v2)");
        }
        if (!version.equals("v2")) throw new ProofException("unknown version (expected v2)");
        Map<String, String> f = new HashMap<>();
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].strip();
            int eq = p.indexOf('=');
            if (eq > 0) f.put(p.substring(0, eq), p.substring(eq + 1));
        }
        PublicIdentity id = PublicIdentity.verified(f.get("key"), f.get("static"), f.get("static_sig"));
        if (id == null) throw new ProofException("key, static and static_sig must be an Ed25519 key, an X25519 key and its signature");
        String challenge = f.get("challenge");
        if (challenge == null || challenge.isEmpty() || challenge.length() > MAX_CHALLENGE_CHARS
                || !challenge.chars().allMatch(c -> Character.isLetterOrDigit(c) && c < 128 || c == '-' || c == '_')) {
            throw new ProofException("challenge must be the base64url text GET /challenge gave");
        }
        byte[] sig = Keys.unb64(f.get("sig"), 64);
        if (sig == null) throw new ProofException("sig must be an Ed25519 signature");
        String eph = f.get("eph");
        if (eph != null && !eph.equals("1")) throw new ProofException("eph must be 1 when present");
        return new UpgradeProof(id, challenge, eph != null, sig);
    }

    /** Whether the signature covers {@code workerId} and {@code host} (compared without case and default ports). */
    public boolean verifies(String workerId, String host) {
        return identity.verify(signed(workerId, host, challenge, identity, ephemeral), signature);
    }

    private static byte[] signed(String workerId, String host, String challenge, PublicIdentity p, boolean ephemeral) {
        return ("holepunch-upgrade-v2\n" + workerId + "\n" + normalHost(host) + "\n" + challenge + "\n" + Keys.b64(p.staticKey())
                + (ephemeral ? "\nephemeral" : "")).getBytes(StandardCharsets.UTF_8);
    }

    /** A Host value without case and without a default port (80, 443), so client and server spell it alike. */
    public static String normalHost(String host) {
        String h = host == null ? "" : host.strip().toLowerCase(Locale.ROOT);
        if (h.endsWith(":80") || h.endsWith(":443")) h = h.substring(0, h.lastIndexOf(':'));
        return h;
    }
}
