package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.log.Log;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * Who holds a worker id across the instances of a cluster: the rules a single instance applies to
 * its own sessions (a newer session replaces an older one; an id bound to a key goes only to that
 * key, also for ID_BINDING_GRACE_SEC after its session ended), carried between instances over the
 * {@link ClusterDirectory}'s Redis connection.
 *
 * <ul>
 * <li>A session that registers is announced on {@link ClusterDirectory#REPLACE_CHANNEL}. An instance
 * holding an older session of that id closes it, as a local replacement would; unless the id is bound
 * there to another key than the newcomer's, in which case it answers {@value #REFUSE} and the
 * newcomer's instance closes the newcomer.</li>
 * <li>A session with a kept key binds its id in Redis at its upgrade ({@code holepunch:binding:<id>},
 * {@code SET NX}), kept while it lives and for the grace period after, which every instance checks at
 * upgrade: a second key for the id is refused there, before any 101.</li>
 * <li>When its subscription comes back after a loss, an instance announces its live sessions again
 * and writes their bindings at once; an instance that admitted a newer session with another key than
 * an older announced one (possible only while the binding was lost) closes its own.</li>
 * </ul>
 */
final class ClusterIds {
    static final String BINDING = "holepunch:binding:";
    /** ENROLLMENT=tofu in a cluster: worker id to the fingerprint of the first kept key proven for it, for good. */
    static final String ENROLLED = "holepunch:enrolled";
    /** The answer of an instance whose session holds the id with another key. */
    static final String REFUSE = "refuse";

    /** What the cluster asks of this instance's sessions. */
    interface Sessions {
        /** A newer session of this id registered on another instance: close this one (1000, as a local replacement). */
        void replacedElsewhere(WorkerEntry old, String instance);

        /** This session took an id that another instance's session holds with another key: close it. */
        void refusedElsewhere(WorkerEntry newcomer, String instance);
    }

    private final ClusterDirectory directory;
    private final Registry registry;
    private final Log log;
    private final Sessions sessions;

    ClusterIds(ClusterDirectory directory, Registry registry, Log log, Sessions sessions) {
        this.directory = directory;
        this.registry = registry;
        this.log = log;
        this.sessions = sessions;
        directory.onIdMessage(this::onMessage);
        directory.onResubscribed(this::announceAgain);
    }

    /**
     * The subscription is back after a loss (Redis restarted, or the connection dropped): what other
     * instances announced meanwhile is lost, and so may be a binding (an empty Redis after a restart).
     * So every live session here is announced again with its own time and key, and the bindings of
     * the keyed ones are written again at once: an instance that let another key take one of these ids
     * meanwhile hears that an older session holds it with its key, and closes its own (the bound key
     * wins, as {@link #onMessage} says).
     */
    private void announceAgain() {
        int n = 0;
        for (WorkerEntry w : registry.snapshot()) {
            if (w.refusedByCluster || !w.connection.isOpen()) continue;
            if (!directory.broadcast(announcement(w))) {
                log.warn(null, "cluster: announcement queue full; " + n + " sessions announced again after the subscription came back");
                break;
            }
            n++;
        }
        directory.rewriteBindingsNow();
        log.info(null, "cluster: subscription back; " + n + " sessions announced again");
    }

    private static Map<String, Object> announcement(WorkerEntry w) {
        return Json.obj("id", w.id, "at", w.registeredMillis, "key", w.identity == null ? null : w.identity.fingerprint());
    }

    /** A session registered here: the other instances hear of it with the next batch. */
    void registered(WorkerEntry w) {
        boolean queued = directory.broadcast(announcement(w));
        if (!queued) log.warn(w.id, "cluster: announcement queue full; other instances will not close an older session of this id");
        directory.registered(w);
    }

    /** A keyed session ended here: its id stays bound to its key cluster-wide for the grace period, as it does on this instance. */
    void bindForGrace(String workerId, String fingerprint, long graceMillis) {
        if (graceMillis <= 0) return;
        if (!directory.enqueue(List.of("SET", BINDING + workerId, fingerprint, "PX", Long.toString(graceMillis)))) {
            log.warn(workerId, "cluster: outgoing queue full; the id's binding holds on this instance only");
        }
    }

    /**
     * The key fingerprint another instance's ended session left bound to {@code workerId}, or null
     * (blocking). Fails when Redis cannot be read: who holds the id is then unknown, and the
     * upgrade is refused (fails closed) rather than let an impostor take a bound id.
     */
    String boundFingerprint(String workerId) throws IOException {
        return directory.get(BINDING + workerId);
    }

    /** Where the cluster keeps the key its instances make challenges with, when no CLUSTER_SECRET gives one. */
    static final String CHALLENGE_KEY = "holepunch:challenge-key";

    /**
     * The key every instance makes and checks challenges with ({@link Challenges}), when there is no CLUSTER_SECRET:
     * the first instance to ask stores a random one ({@code SET NX}); every instance then reads the same.
     * {@code fresh} is only the caller's wish to read it again (Redis may have come back empty).
     */
    byte[] challengeKey(boolean fresh) throws IOException {
        byte[] mine = new byte[32];
        new java.security.SecureRandom().nextBytes(mine);
        List<holepunch.redis.Resp.Value> r = directory.pipelineRead(List.of(
                List.of("SET", CHALLENGE_KEY, holepunch.crypto.Keys.b64(mine), "NX"), List.of("GET", CHALLENGE_KEY)));
        byte[] key = r.get(1) instanceof holepunch.redis.Resp.Bulk b ? holepunch.crypto.Keys.unb64(b.text(), 32) : null;
        if (key == null) throw new IOException("redis holds no usable " + CHALLENGE_KEY);
        return key;
    }

    /** Where the cluster remembers the challenges upgrade proofs took, each for the challenge's life. */
    static final String NONCE = "holepunch:nonce:";

    /**
     * What an upgrade needs of the cluster, in one round trip: the fingerprint bound to {@code workerId} (or null),
     * whether {@code nonce} is used here for the first time in the whole cluster ({@code SET NX}: a proof captured on
     * one instance is refused on every other; null for a keyless session), and, for a key kept across restarts
     * ({@code bindMillis} above 0), the id bound to it at once with {@code SET NX} while its session lives (the
     * directory writer refreshes it, {@link ClusterDirectory#liveBindings}): a second key for a live bound id is
     * refused at its upgrade on any instance, not closed after it.
     */
    record UpgradeCheck(String boundFingerprint, boolean nonceFresh, String enrolledFingerprint, boolean enrolledNow) {
    }

    /**
     * As described above; {@code tofu} (ENROLLMENT=tofu): also the id's enrollment, in the same round trip. A
     * kept key ({@code fingerprint}) for an id nobody enrolled is enrolled with {@code HSETNX} on
     * {@value #ENROLLED}, for good; {@code enrolledFingerprint} is the key the id is enrolled with afterwards
     * (null: none), {@code enrolledNow} whether this upgrade enrolled it.
     */
    UpgradeCheck checkUpgrade(String workerId, String nonce, String fingerprint, long bindMillis, boolean tofu) throws IOException {
        List<List<String>> cmds = new java.util.ArrayList<>();
        cmds.add(List.of("GET", BINDING + workerId));
        boolean bind = fingerprint != null && bindMillis > 0;
        if (bind) cmds.add(List.of("SET", BINDING + workerId, fingerprint, "NX", "PX", Long.toString(bindMillis)));
        boolean enroll = tofu && fingerprint != null;
        if (enroll) cmds.add(List.of("HSETNX", ENROLLED, workerId, fingerprint));
        if (tofu) cmds.add(List.of("HGET", ENROLLED, workerId));
        if (nonce != null) cmds.add(List.of("SET", NONCE + nonce, "1", "NX", "PX", Long.toString(2000L * holepunch.crypto.UpgradeProof.WINDOW_SECONDS)));
        List<holepunch.redis.Resp.Value> r = directory.pipelineRead(cmds);
        for (holepunch.redis.Resp.Value v : r) {
            if (v instanceof holepunch.redis.Resp.Error e) throw new IOException("redis refused an upgrade check: " + e.message());
        }
        String fp = r.get(0) instanceof holepunch.redis.Resp.Bulk b ? b.text() : null;
        if (bind && fp == null && !isOk(r.get(1))) fp = "(bound by another instance just now)";   // lost a race for the id
        int at = bind ? 2 : 1;
        boolean enrolledNow = enroll && r.get(at++) instanceof holepunch.redis.Resp.Int added && added.value() == 1;
        String enrolled = tofu && r.get(at) instanceof holepunch.redis.Resp.Bulk e ? e.text() : null;
        boolean fresh = nonce == null || isOk(r.getLast());
        return new UpgradeCheck(fp, fresh, enrolled, enrolledNow);
    }

    private static boolean isOk(holepunch.redis.Resp.Value v) {
        return v instanceof holepunch.redis.Resp.Simple ok && ok.text().equals("OK");
    }

    /** From the subscriber's thread: another instance registered an id, or refused ours. */
    private void onMessage(String from, Map<String, Object> m) {
        String id = m.get("id") instanceof String s ? s : null;
        String key = m.get("key") instanceof String s ? s : null;
        WorkerEntry local = id == null ? null : registry.get(id);
        if (local == null) return;
        if (REFUSE.equals(m.get("op"))) {
            boolean same = local.identity == null ? key == null : local.identity.fingerprint().equals(key);
            if (same) sessions.refusedElsewhere(local, from);
            return;
        }
        long at = m.get("at") instanceof Number n ? n.longValue() : Long.MAX_VALUE;
        if (local.registeredMillis > at) {
            // Ours is the newer session: the other one goes, unless it holds the id with a key ours does
            // not prove. Then ours got past the binding check only because the binding was lost (an empty
            // Redis after a restart) and its announcement may never have reached the holder: the bound key wins.
            if (key != null && (local.identity == null || !local.identity.fingerprint().equals(key))) {
                log.warn(id, "cluster: instance " + from + " holds this id with an older session bound to key "
                        + (key.length() > 12 ? key.substring(0, 12) : key) + "; this newer session is refused");
                sessions.refusedElsewhere(local, from);
            }
            return;
        }
        if (local.identity != null && !local.identity.fingerprint().equals(key)) {
            // The id is bound to our session's key: the newcomer may not take it (as IdentityBindings says here).
            log.warn(id, "cluster: instance " + from + " took this id " + (key == null ? "without a key" : "with another key")
                    + "; it is bound to key " + local.identity.shortFingerprint() + " here, so that session is refused");
            directory.send(from, Json.obj("op", REFUSE, "id", id, "key", key));
            return;
        }
        sessions.replacedElsewhere(local, from);
    }
}
