package holepunch.rendezvous;

import holepunch.crypto.PublicIdentity;
import holepunch.crypto.UpgradeProof;
import holepunch.log.Log;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Which key holds which worker id. A session whose upgrade proves a key ({@link UpgradeProof})
 * binds its id to that key while it lives and for ID_BINDING_GRACE_SEC after; meanwhile a session
 * for that id that does not prove the same key is refused with 409 and the live one is untouched.
 * Ids no key holds behave exactly as the original's. Proofs are checked for their host and their
 * challenge, which this rendezvous made ({@link Challenges}) and which is taken once. An ephemeral key (a worker without WORKER_KEY_FILE
 * says so in its proof) holds its id while its session lives and not after: the same worker
 * started again comes back at once with its new key.
 */
final class IdentityBindings {
    /** Challenges taken, remembered; past it the oldest are forgotten (they are also the nearest to expiring). */
    static final int MAX_NONCES = 100_000;

    private record Binding(PublicIdentity key, WorkerEntry live, long graceUntilNanos) {
    }

    /** A checked proof: its key, whether the key is the process's alone, its challenge (null without a proof), or a refusal. */
    record Checked(PublicIdentity identity, boolean ephemeral, Admission.Refusal refusal, String nonce) {
        Checked(PublicIdentity identity, boolean ephemeral, Admission.Refusal refusal) {
            this(identity, ephemeral, refusal, null);
        }
    }

    private final long graceNanos;
    private final boolean requireKeys;
    private final List<String> publicHosts;
    private final int maxBindings;
    private final Challenges challenges;
    private final LinkedHashMap<String, Long> nonces = new LinkedHashMap<>();
    private final LinkedHashMap<String, Binding> bindings = new LinkedHashMap<>();

    IdentityBindings(RendezvousConfig config, Challenges challenges) {
        this.challenges = challenges;
        // Under ENROLLMENT=tofu the record holds an ended session's id, for good: a grace period here
        // would only outlast the operator's release of the id.
        this.graceNanos = config.tofu() ? 0 : config.idBindingGraceSec() * 1_000_000_000L;
        this.requireKeys = config.requireWorkerKeys();
        this.publicHosts = config.publicHosts().stream().map(UpgradeProof::normalHost).toList();
        this.maxBindings = config.maxSessions() + 100_000;
    }

    /** Checks the {@value UpgradeProof#HEADER} header of an upgrade for {@code workerId} that came to {@code host}. */
    Checked check(String workerId, String proofHeader, String host) {
        if (proofHeader == null) {
            if (requireKeys) {
                return refused(401, "unproven", "refused a keyless session (REQUIRE_WORKER_KEYS)",
                        "this rendezvous requires a worker key: send the " + UpgradeProof.HEADER + " header (holepunch workers do)");
            }
            return new Checked(null, false, null);
        }
        UpgradeProof proof;
        try {
            proof = UpgradeProof.parse(proofHeader);
        } catch (UpgradeProof.ProofException e) {
            return refused(400, "bad_proof", "refused a malformed " + UpgradeProof.HEADER + ": " + e.getMessage(),
                    "malformed " + UpgradeProof.HEADER + " header: " + e.getMessage());
        }
        String normal = UpgradeProof.normalHost(host);
        if (!publicHosts.isEmpty() && !publicHosts.contains(normal)) {
            return refused(401, "bad_proof", "refused a proof for host '" + Log.excerpt(normal) + "', not one of RENDEZVOUS_PUBLIC_HOSTS",
                    "this rendezvous is not '" + normal + "'");
        }
        long now = System.currentTimeMillis() / 1000;
        Challenges.Checked made;
        try {
            made = challenges.check(proof.challenge(), now);
        } catch (java.io.IOException e) {
            return refused(503, "cluster_unavailable", "cannot check a proof's challenge: " + Log.excerpt(e.getMessage()),
                    "the cluster's store cannot be reached to check the proof; try again");
        }
        if (made.refusal() != null) {
            return refused(401, "bad_proof", "refused a proof: " + made.refusal(), made.refusal() + "; fetch a new one at GET /challenge");
        }
        if (!proof.verifies(workerId, host)) {
            return refused(401, "bad_proof", "refused a proof whose signature does not cover this id, host and challenge",
                    "the proof's signature does not cover this worker id, host and challenge");
        }
        Use use = firstUse(proof.challenge(), made.issuedSeconds() + Challenges.LIFETIME_SECONDS + Challenges.SKEW_SECONDS, now);
        if (use == Use.TAKEN) {
            return refused(401, "bad_proof", "refused a replayed proof (its challenge was taken)", "this proof was used already");
        }
        if (use == Use.FULL) {
            return refused(503, "busy", "refused a proof: " + MAX_NONCES + " challenges taken in the last "
                    + Challenges.LIFETIME_SECONDS + " s are remembered already", "too many upgrades at once; try again");
        }
        return new Checked(proof.identity(), proof.ephemeral(), null, proof.challenge());
    }

    private static Checked refused(int status, String reason, String why, String detail) {
        return new Checked(null, false, new Admission.Refusal(status, reason, why, detail,
                status == 503 ? Map.of("Retry-After", "5") : Map.of()));
    }

    private enum Use { FIRST, TAKEN, FULL }

    /**
     * Takes {@code challenge} once. A live one is never forgotten to make room (a replay would then
     * pass): when the store is full of live ones, the proof is refused for now.
     */
    private synchronized Use firstUse(String challenge, long expiresAtSec, long nowSec) {
        for (Iterator<Long> it = nonces.values().iterator(); it.hasNext(); ) {
            if (it.next() >= nowSec) break;
            it.remove();                                   // in time order, roughly: stop at the first live one
        }
        if (nonces.containsKey(challenge)) return Use.TAKEN;
        if (nonces.size() >= MAX_NONCES) return Use.FULL;
        nonces.put(challenge, expiresAtSec);
        return Use.FIRST;
    }

    /**
     * Binds {@code entry}'s id to its key (none for a keyless session); a refusal when another key
     * holds the id, live or within its grace period.
     */
    synchronized Admission.Refusal claim(WorkerEntry entry) {
        long now = System.nanoTime();
        Binding b = bindings.get(entry.id);
        if (b != null && b.live() == null && now - b.graceUntilNanos() > 0) {
            bindings.remove(entry.id);
            b = null;
        }
        if (b != null && !b.key().sameKey(entry.identity)) {
            String holder = b.key().shortFingerprint();
            return new Admission.Refusal(409, "id_bound", "refused a session for id bound to key " + holder + " ("
                    + (entry.identity == null ? "no key" : "key " + entry.identity.shortFingerprint()) + ")",
                    "worker id '" + entry.id + "' is bound to another key (fingerprint " + holder + "): prove that key, or use another id"
                            + (b.live() == null ? "; the binding ends " + (b.graceUntilNanos() - now) / 1_000_000_000L + " s from now" : ""), Map.of());
        }
        if (entry.identity != null) {
            bindings.remove(entry.id);
            bindings.put(entry.id, new Binding(entry.identity, entry, 0));
            prune(now);
        }
        return null;
    }

    /** The session ended: its binding now lasts for the grace period (an ephemeral key's ends with it). */
    synchronized void released(WorkerEntry entry) {
        Binding b = bindings.get(entry.id);
        if (b == null || b.live() != entry) return;
        if (entry.ephemeralKey) {
            bindings.remove(entry.id);
        } else {
            bindings.put(entry.id, new Binding(b.key(), null, System.nanoTime() + graceNanos));
        }
    }

    /** The session was refused after its upgrade (by the cluster): its claim is withdrawn, with no grace period. */
    synchronized void withdraw(WorkerEntry entry) {
        Binding b = bindings.get(entry.id);
        if (b != null && b.live() == entry) bindings.remove(entry.id);
    }

    private void prune(long now) {
        if (bindings.size() <= maxBindings) return;
        for (Iterator<Binding> it = bindings.values().iterator(); it.hasNext() && bindings.size() > maxBindings; ) {
            Binding b = it.next();
            if (b.live() == null) it.remove();             // the oldest ended ones first; live ones stay
        }
    }
}
