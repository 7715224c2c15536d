package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.log.Log;
import holepunch.redis.RedisClient;
import holepunch.redis.Resp;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The worker directory shared by every instance on one Redis ({@code REDIS_URL}).
 *
 * <p>Each instance keeps its own workers in one hash, {@code holepunch:workers:<instance>} (worker id to the
 * {@code /debug/list_workers} entry as JSON), with an expiry it refreshes while it runs, and lists itself in the
 * sorted set {@code holepunch:instances} scored by that expiry. An instance that dies stops refreshing: its
 * hash expires and its member is swept, so its workers leave every list within the expiry
 * (CLUSTER_LIVENESS_SEC, 4 s; it writes every fifth of it). Where two instances list one id (a worker that
 * moved, while the instance it left is not known dead yet) the newest session wins. Listing the cluster costs one round trip plus one per
 * {@value #SCAN_COUNT} workers of the largest instance: the live instances, then pipelined {@code HSCAN} steps of all
 * of them (no {@code KEYS}, no round trip per worker, no reply holding a whole directory).
 *
 * <p>Writes never run on a session's thread: changes mark the worker id, and one thread sends what changed,
 * pipelined, at most every {@link #BATCH_MILLIS}. When Redis is unreachable the instance keeps serving its
 * own sessions, logs the change of state once, and on the next success writes its whole hash again, so that
 * a restarted, empty Redis is whole again within one refresh.
 *
 * <p>The same connection and batches carry the instances' messages to each other (Redis pub/sub): what
 * they are about is decided elsewhere, in {@link ClusterIds} (who holds an id) and {@link ClusterPairs}
 * (pairs whose workers are on two instances).
 */
final class ClusterDirectory implements AutoCloseable {
    static final String INSTANCES = "holepunch:instances";
    /** Broadcast: a session registered an id; any other instance holding an older session of it closes that one. */
    static final String REPLACE_CHANNEL = "holepunch:replace";
    /** Each instance's own channel. */
    static final String INSTANCE_CHANNEL = "holepunch:instance:";
    static final int MAX_ANNOUNCEMENTS = 100_000;
    static final String WORKERS = "holepunch:workers:";
    static final long BATCH_MILLIS = 20;
    /** Past this many unsent changes, the next write is a whole one instead (bounds the change set). */
    static final int MAX_DIRTY = 100_000;
    private static final int HSET_CHUNK = 500;

    /** The writer's connection (directory writes, messages, listing). */
    private final RedisClient redis;
    /** Connections for the reads made on upgrade and request threads, so that they neither wait for the writer nor for each other. */
    private final RedisClient[] readers;
    /**
     * Connections for the upgrade-time checks alone ({@link #pipelineRead}): an upgrade never waits
     * behind a list of the whole cluster or the lookups of introductions on the readers' connections.
     */
    private final RedisClient[] upgradeReaders;
    static final int UPGRADE_READERS = 2;
    private final java.util.concurrent.atomic.AtomicInteger nextUpgradeReader = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicInteger nextReader = new java.util.concurrent.atomic.AtomicInteger();
    static final int READERS = 4;
    private final Registry registry;
    private final Log log;
    final String instance = HexFormat.of().formatHex(randomBytes());
    private final String key = WORKERS + instance;
    private final long ttlMillis;
    /** Each instance's operator figures ({@link OperatorApi}), refreshed every {@value #SNAPSHOT_MILLIS} ms. */
    static final String SNAPSHOT = "holepunch:operator:";
    static final long SNAPSHOT_MILLIS = 2000;
    private volatile java.util.function.Supplier<String> snapshot;
    private long snapshotWrittenAt;
    /** ID_BINDING_GRACE_SEC in ms: live keyed sessions' bindings are written again every third of it (0: none). */
    private volatile long bindingMillis;
    private volatile long bindingsWrittenAt;

    /** Keeps the bindings of this instance's live sessions with kept keys in Redis while they live ({@link ClusterIds#checkUpgrade}). */
    void liveBindings(long graceMillis) {
        bindingMillis = graceMillis;
    }
    private final long refreshMillis;
    private final Set<String> dirty = ConcurrentHashMap.newKeySet();
    private volatile boolean wholeWrite = true;
    private volatile boolean connected;
    private volatile boolean running = true;
    private final Object signal = new Object();
    private final Thread writer;
    private final java.util.concurrent.atomic.AtomicLong roundTrips = new java.util.concurrent.atomic.AtomicLong();

    /** The messages a failed write took from {@link #announcements}: sent first with the next (the writer's thread only). */
    private List<List<String>> unsent = List.of();
    /** Commands to send with the next batch (PUBLISH, SET of a binding). */
    private final java.util.concurrent.BlockingQueue<List<String>> announcements = new java.util.concurrent.ArrayBlockingQueue<>(MAX_ANNOUNCEMENTS);
    /** Messages from other instances about the broker's pairs. */
    private volatile java.util.function.BiConsumer<String, Map<String, Object>> onInstanceMessage = (from, m) -> { };
    /** Messages from other instances about who holds an id ({@link ClusterIds}): the replace broadcast and refusals. */
    private volatile java.util.function.BiConsumer<String, Map<String, Object>> onIdMessage = (from, m) -> { };
    private volatile Runnable onResubscribed = () -> { };
    /** Whether the subscriber was ever subscribed (its thread only): the first subscription is no recovery. */
    private boolean subscribedBefore;
    private holepunch.redis.RedisSubscriber subscriber;

    /**
     * @param livenessMillis how long this instance counts as alive after its last write (CLUSTER_LIVENESS_SEC): it
     *                       writes every fifth of it, so an instance killed without a word leaves every list within it
     */
    ClusterDirectory(RedisClient redis, Registry registry, Log log, long livenessMillis) {
        this.redis = redis;
        this.readers = new RedisClient[READERS];
        for (int i = 0; i < READERS; i++) readers[i] = new RedisClient(redis.url(), 2000, redis.tls());
        this.upgradeReaders = new RedisClient[UPGRADE_READERS];
        for (int i = 0; i < UPGRADE_READERS; i++) upgradeReaders[i] = new RedisClient(redis.url(), 2000, redis.tls());
        this.registry = registry;
        this.log = log;
        this.ttlMillis = livenessMillis;
        this.refreshMillis = Math.max(200, ttlMillis / 5);
        this.writer = Thread.ofPlatform().daemon().name("cluster-directory").unstarted(this::writeLoop);
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[8];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }

    void onInstanceMessage(java.util.function.BiConsumer<String, Map<String, Object>> handler) {
        onInstanceMessage = handler;
    }

    /**
     * {@code task} runs (on the subscriber's thread) each time the subscription is back after a loss:
     * what other instances published meanwhile never reached this one.
     */
    void onResubscribed(Runnable task) {
        onResubscribed = task;
    }

    /** The live sessions' bindings are written again with the next batch, not a third of the grace period later. */
    void rewriteBindingsNow() {
        bindingsWrittenAt = 0;
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    void onIdMessage(java.util.function.BiConsumer<String, Map<String, Object>> handler) {
        onIdMessage = handler;
    }

    /** Seals messages to other instances (CLUSTER_SECRET), or null: unsigned, as before. */
    private volatile ClusterSeal seal;
    private final java.util.concurrent.atomic.AtomicLong refusalLoggedAt = new java.util.concurrent.atomic.AtomicLong();

    void seal(ClusterSeal s) {
        seal = s;
    }

    private String payload(String channel, Map<String, Object> message) {
        String json = Json.write(stamped(message));
        ClusterSeal s = seal;
        return s == null ? json : s.seal(channel, json, System.currentTimeMillis());
    }

    /** Publishes {@code message} (with this instance's name added) on {@code instance}'s channel with the next batch. */
    void send(String instance, Map<String, Object> message) {
        if (!enqueue(List.of("PUBLISH", INSTANCE_CHANNEL + instance, payload(INSTANCE_CHANNEL + instance, message)))) {
            log.warn(null, "cluster: outgoing queue full; a message to instance " + instance + " was dropped");
        }
    }

    /** Publishes {@code message} (with this instance's name added) to every instance with the next batch; false when the queue is full. */
    boolean broadcast(Map<String, Object> message) {
        return enqueue(List.of("PUBLISH", REPLACE_CHANNEL, payload(REPLACE_CHANNEL, message)));
    }

    private Map<String, Object> stamped(Map<String, Object> message) {
        Map<String, Object> m = new LinkedHashMap<>(message);
        m.put("instance", instance);
        return m;
    }

    /** A Redis command to send with the next batch, on the writer's connection; false when the queue is full. */
    boolean enqueue(List<String> command) {
        if (!announcements.offer(command)) return false;
        synchronized (signal) {
            signal.notifyAll();
        }
        return true;
    }

    void start() {
        subscriber = new holepunch.redis.RedisSubscriber(redis.url(), redis.tls(), 2000, List.of(REPLACE_CHANNEL, INSTANCE_CHANNEL + instance),
                this::onMessage, up -> {
                    if (!up) return;
                    wholeWrite = true;               // after a gap, announce nothing stale; write the directory whole
                    if (subscribedBefore) onResubscribed.run();
                    subscribedBefore = true;
                });
        subscriber.start();
        writer.start();
    }

    private RedisClient reader() {
        return readers[Math.floorMod(nextReader.getAndIncrement(), READERS)];
    }

    /** {@code commands} in one round trip on one of the upgrade checks' own connections (blocking); their replies. */
    List<Resp.Value> pipelineRead(List<List<String>> commands) throws IOException {
        roundTrips.incrementAndGet();
        try {
            return upgradeReaders[Math.floorMod(nextUpgradeReader.getAndIncrement(), UPGRADE_READERS)].pipeline(commands);
        } catch (IOException e) {
            state(false, e.getMessage());
            throw e;
        }
    }

    /** The value of {@code key} (blocking, on one of the readers' connections, not the writer's); null when it has none. */
    String get(String key) throws IOException {
        roundTrips.incrementAndGet();
        try {
            Resp.Value v = reader().pipeline(List.of(List.of("GET", key))).get(0);
            return v instanceof Resp.Bulk b ? b.text() : null;
        } catch (IOException e) {
            state(false, e.getMessage());
            throw e;
        }
    }

    /** A session registered here: its entry is written with the next batch. */
    void registered(WorkerEntry w) {
        changed(w.id);
    }

    /** From the subscriber's thread: each message to the part it is about, never one of this instance's own. */
    private void onMessage(String channel, String text) {
        ClusterSeal s = seal;
        long sequence = -1;
        if (s != null) {
            ClusterSeal.Opened opened = s.open(channel, text, System.currentTimeMillis());
            if (opened instanceof ClusterSeal.Refused r) {
                refused(channel, r.why());
                return;
            }
            ClusterSeal.Ok ok = (ClusterSeal.Ok) opened;
            text = ok.json();
            sequence = ok.sequence();
        }
        Map<String, Object> m;
        try {
            m = Json.parseObject(text);
        } catch (Json.ParseException e) {
            log.warn(null, "cluster: unreadable message on " + Log.excerpt(channel) + ": " + e.getMessage());
            return;
        }
        String from = m.get("instance") instanceof String i ? i : null;
        if (from == null || from.equals(instance)) return;
        if (s != null && !s.fresh(from, sequence)) {
            refused(channel, "replayed: sequence " + sequence + " from instance " + Log.excerpt(from) + " was taken already");
            return;
        }
        if (channel.equals(REPLACE_CHANNEL) || ClusterIds.REFUSE.equals(m.get("op"))) {
            onIdMessage.accept(from, m);
        } else {
            onInstanceMessage.accept(from, m);
        }
    }

    /** A message refused by its seal: counted, and said at most once a minute. */
    private void refused(String channel, String why) {
        refusedMessages.incrementAndGet();
        long now = System.nanoTime(), last = refusalLoggedAt.get();
        if (now - last > 60_000_000_000L && refusalLoggedAt.compareAndSet(last, now)) {
            log.warn(null, "cluster: refused a message on " + Log.excerpt(channel) + ": " + why + " (more are counted in holepunch_cluster_refused_messages_total)");
        }
    }

    final java.util.concurrent.atomic.AtomicLong refusedMessages = new java.util.concurrent.atomic.AtomicLong();

    boolean connected() {
        return connected;
    }

    /** Pipelines sent to Redis (each one round trip), writes and reads. */
    long roundTrips() {
        return roundTrips.get();
    }

    /** A worker's entry was added, changed or removed: it is written with the next batch. */
    void changed(String workerId) {
        if (!running) return;
        if (dirty.size() >= MAX_DIRTY) {
            wholeWrite = true;
            dirty.clear();
        } else {
            dirty.add(workerId);
        }
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    private void writeLoop() {
        long nextRefresh = 0;
        while (running) {
            try {
                synchronized (signal) {
                    long wait = nextRefresh - System.currentTimeMillis();
                    if (dirty.isEmpty() && announcements.isEmpty() && wait > 0) signal.wait(wait);
                }
                if (!running) return;
                if (!dirty.isEmpty()) Thread.sleep(BATCH_MILLIS);    // directory changes wait for a batch; messages do not     // let a burst of registrations share one round trip
                write();
                nextRefresh = System.currentTimeMillis() + (snapshot == null ? refreshMillis : Math.min(refreshMillis, SNAPSHOT_MILLIS));
            } catch (InterruptedException e) {
                return;
            } catch (IOException e) {
                wholeWrite = true;
                nextRefresh = System.currentTimeMillis() + Math.min(refreshMillis, 1000);
                state(false, e.getMessage());
            } catch (RuntimeException e) {
                wholeWrite = true;
                nextRefresh = System.currentTimeMillis() + 1000;
                log.warn(null, "cluster directory write failed: " + e);
            }
        }
    }

    private void write() throws IOException {
        List<List<String>> cmds = new ArrayList<>();
        boolean whole = wholeWrite;
        if (whole) {
            wholeWrite = false;
            dirty.clear();
            cmds.add(List.of("DEL", key));
            List<String> hset = null;
            for (WorkerEntry w : registry.snapshot()) {
                if (hset == null) {
                    hset = new ArrayList<>(List.of("HSET", key));
                }
                hset.add(w.id);
                hset.add(Json.write(w.toJson()));
                if (hset.size() >= 2 + 2 * HSET_CHUNK) {
                    cmds.add(hset);
                    hset = null;
                }
            }
            if (hset != null) cmds.add(hset);
        } else {
            List<String> hset = new ArrayList<>(List.of("HSET", key));
            List<String> hdel = new ArrayList<>(List.of("HDEL", key));
            for (String id : List.copyOf(dirty)) {
                dirty.remove(id);
                WorkerEntry w = registry.get(id);
                if (w != null) {
                    hset.add(id);
                    hset.add(Json.write(w.toJson()));
                } else {
                    hdel.add(id);
                }
            }
            if (hset.size() > 2) cmds.add(hset);
            if (hdel.size() > 2) cmds.add(hdel);
        }
        long expiry = System.currentTimeMillis() + ttlMillis;
        List<List<String>> messages = new ArrayList<>(unsent);   // first what a failed write did not send, in its order
        announcements.drainTo(messages, 1000);
        cmds.addAll(messages);
        long grace = bindingMillis;
        boolean bindings = false;
        if (grace > 0 && System.currentTimeMillis() - bindingsWrittenAt >= Math.max(1000, grace / 3)) {
            bindings = true;
            bindingsWrittenAt = System.currentTimeMillis();
            for (WorkerEntry w : registry.snapshot()) {
                if (w.identity != null && !w.ephemeralKey && !w.refusedByCluster && w.connection.isOpen()) {
                    cmds.add(List.of("SET", ClusterIds.BINDING + w.id, w.identity.fingerprint(), "PX", Long.toString(grace)));
                }
            }
        }
        java.util.function.Supplier<String> snap = snapshot;
        if (snap != null && System.currentTimeMillis() - snapshotWrittenAt >= SNAPSHOT_MILLIS - BATCH_MILLIS) {
            snapshotWrittenAt = System.currentTimeMillis();
            cmds.add(List.of("SET", SNAPSHOT + instance, snap.get(), "PX", Long.toString(ttlMillis)));
        }
        cmds.add(List.of("PEXPIRE", key, Long.toString(ttlMillis)));
        cmds.add(List.of("ZADD", INSTANCES, Long.toString(expiry), instance));
        cmds.add(List.of("ZRANGEBYSCORE", INSTANCES, Long.toString(System.currentTimeMillis()), "+inf"));
        List<Resp.Value> replies;
        try {
            roundTrips.incrementAndGet();
            replies = redis.pipeline(cmds);
        } catch (IOException e) {
            if (!whole) wholeWrite = true;     // what was taken from the change set is written whole next time
            // Messages and bindings go with the next write (a write after a gap may fail on the old
            // connection: the announcements made when the subscription came back were lost with it).
            unsent = messages.size() <= MAX_ANNOUNCEMENTS ? messages : messages.subList(messages.size() - MAX_ANNOUNCEMENTS, messages.size());
            if (bindings) bindingsWrittenAt = 0;
            throw e;
        }
        unsent = List.of();
        for (Resp.Value v : replies) {
            if (v instanceof Resp.Error err) {
                wholeWrite = true;
                throw new IOException("redis refused a directory write: " + err.message());
            }
        }
        state(true, null);
        if (replies.getLast() instanceof Resp.Array live && live.items() != null) {
            java.util.Set<String> alive = new java.util.HashSet<>();
            for (Resp.Value v : live.items()) if (v instanceof Resp.Bulk b) alive.add(b.text());
            onInstancesAlive.accept(alive);
        }
    }

    /** Told the live instances after each write (the broker ends pairs that span an instance that died). */
    private volatile java.util.function.Consumer<java.util.Set<String>> onInstancesAlive = alive -> { };

    void onInstancesAlive(java.util.function.Consumer<java.util.Set<String>> listener) {
        onInstancesAlive = listener;
    }

    /** Logs a change of state once, not once per write. */
    private void state(boolean up, String why) {
        if (up == connected) return;
        connected = up;
        if (up) {
            log.info(null, "cluster: connected to " + redis.url() + " as instance " + instance + "; directory written");
        } else {
            log.warn(null, "cluster: lost " + redis.url() + " (" + why + "); serving this instance's sessions only until it is back");
        }
    }

    /** What this instance shares of its operator figures (a JSON text), written with its directory. */
    void shareSnapshot(java.util.function.Supplier<String> s) {
        snapshot = s;
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    /**
     * The other live instances (one round trip on {@code reader}, which also sweeps out lapsed ones); null when
     * Redis answers with something else.
     */
    private List<String> otherLiveInstances(RedisClient reader) throws IOException {
        String now = Long.toString(System.currentTimeMillis());
        roundTrips.incrementAndGet();
        List<Resp.Value> r = reader.pipeline(List.of(
                List.of("ZREMRANGEBYSCORE", INSTANCES, "-inf", "(" + now),
                List.of("ZRANGEBYSCORE", INSTANCES, now, "+inf")));
        if (!(r.get(1) instanceof Resp.Array live) || live.items() == null) return null;
        List<String> others = new ArrayList<>();
        for (Resp.Value v : live.items()) {
            if (v instanceof Resp.Bulk b && !instance.equals(b.text())) others.add(b.text());
        }
        return others;
    }

    /** The other live instances' operator figures (two round trips); null when Redis cannot be read. */
    List<Map<String, Object>> otherSnapshots() {
        try {
            RedisClient reader = reader();
            List<String> others = otherLiveInstances(reader);
            if (others == null) return null;
            List<String> mget = new ArrayList<>(List.of("MGET"));
            for (String other : others) mget.add(SNAPSHOT + other);
            List<Map<String, Object>> out = new ArrayList<>();
            if (mget.size() == 1) return out;
            roundTrips.incrementAndGet();
            if (!(reader.pipeline(List.of(mget)).getFirst() instanceof Resp.Array values) || values.items() == null) return null;
            for (Resp.Value v : values.items()) {
                if (!(v instanceof Resp.Bulk b) || b.text() == null) continue;     // an instance that has not written one yet
                try {
                    out.add(Json.parseObject(b.text()));
                } catch (Json.ParseException e) {
                    log.warn(null, "cluster: skipped an unreadable operator snapshot: " + e.getMessage());
                }
            }
            return out;
        } catch (IOException | ClassCastException e) {
            state(false, e.getMessage());
            return null;
        }
    }

    /** Entries an {@code HSCAN} step asks for: each reply stays far below Resp's 8 MB. */
    static final int SCAN_COUNT = 1000;
    /** Entries read from other instances' directories for one list, at most (each at most Resp's MAX_BULK). */
    static final int MAX_LISTED = 1_000_000;

    /**
     * Every worker of the other live instances in the {@code /debug/list_workers} shape. Each instance's
     * hash is read in {@code HSCAN} steps of about {@value #SCAN_COUNT} entries, one pipelined round trip
     * for all instances per step: no reply has to hold a whole directory (a large cluster's did not fit
     * in one, and was parsed again from its start as each part arrived), and at most {@value #MAX_LISTED}
     * entries are read. Null when Redis cannot be read.
     */
    Map<String, Object> otherInstancesWorkers() {
        try {
            RedisClient reader = reader();      // an HTTP thread: not the writer's connection
            List<String> others = otherLiveInstances(reader);
            if (others == null) return null;
            Map<String, Object> out = new LinkedHashMap<>();
            Map<String, String> cursors = new LinkedHashMap<>();
            for (String other : others) cursors.put(other, "0");
            int read = 0;
            while (!cursors.isEmpty() && read < MAX_LISTED) {
                List<String> order = new ArrayList<>(cursors.keySet());
                List<List<String>> steps = new ArrayList<>();
                for (String other : order) steps.add(List.of("HSCAN", WORKERS + other, cursors.get(other), "COUNT", Integer.toString(SCAN_COUNT)));
                roundTrips.incrementAndGet();
                List<Resp.Value> replies = reader.pipeline(steps);
                for (int n = 0; n < replies.size(); n++) {
                    String other = order.get(n);
                    if (!(replies.get(n) instanceof Resp.Array step) || step.items() == null || step.items().size() != 2
                            || !(step.items().get(0) instanceof Resp.Bulk next) || !(step.items().get(1) instanceof Resp.Array fields)
                            || fields.items() == null) {
                        cursors.remove(other);           // an error or an odd reply: that instance's entries are left out
                        continue;
                    }
                    if (next.text().equals("0")) cursors.remove(other);
                    else cursors.put(other, next.text());
                    List<Resp.Value> f = fields.items();
                    for (int i = 0; i + 1 < f.size() && read < MAX_LISTED; i += 2, read++) {
                        String id = ((Resp.Bulk) f.get(i)).text();
                        try {
                            Map<String, Object> entry = Json.parseObject(((Resp.Bulk) f.get(i + 1)).text());
                            entry.put("instance", other);      // which instance holds it (the operator page shows it)
                            if (newer(entry, out.get(id))) out.put(id, entry);
                        } catch (Json.ParseException e) {
                            log.warn(id, "cluster: skipped an unreadable directory entry: " + e.getMessage());
                        }
                    }
                }
            }
            if (read >= MAX_LISTED) log.warn(null, "cluster: the other instances' directories hold over " + MAX_LISTED + " entries; listed that many");
            return out;
        } catch (IOException | ClassCastException e) {
            state(false, e.getMessage());
            return null;
        }
    }

    /** When a directory entry's session began ({@code connected_since_ms}; 0 when it does not say). */
    static long since(Object entry) {
        return entry instanceof Map<?, ?> m && m.get("connected_since_ms") instanceof Number n ? n.longValue() : 0;
    }

    /** True when {@code entry} is a newer session of its id than {@code than} (or there is none): the newest wins. */
    static boolean newer(Object entry, Object than) {
        return than == null || since(entry) > since(than);
    }

    /**
     * The live instance (other than this one) whose directory holds {@code workerId}, or null; where two do
     * (it moved, and the instance it left is not known dead yet), the one with the newer session. One round
     * trip after the instance list. Blocking: call it off the sessions' threads.
     */
    String instanceHolding(String workerId) throws IOException {
        RedisClient r0 = reader();
        List<String> others = otherLiveInstances(r0);
        if (others == null || others.isEmpty()) return null;
        List<List<String>> probes = new ArrayList<>();
        for (String o : others) probes.add(List.of("HGET", WORKERS + o, workerId));
        roundTrips.incrementAndGet();
        List<Resp.Value> r = r0.pipeline(probes);
        String holder = null;
        long newest = -1;
        for (int i = 0; i < r.size(); i++) {
            if (!(r.get(i) instanceof Resp.Bulk b) || b.bytes() == null) continue;
            long since;
            try {
                since = since(Json.parseObject(b.text()));
            } catch (Json.ParseException e) {
                since = 0;
            }
            if (since > newest) {
                newest = since;
                holder = others.get(i);
            }
        }
        return holder;
    }

    /** SIGTERM: this instance's entries leave the directory before its sessions are closed. */
    @Override
    public void close() {
        running = false;
        if (subscriber != null) subscriber.close();
        writer.interrupt();
        try {
            writer.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            redis.pipeline(List.of(List.of("DEL", key), List.of("ZREM", INSTANCES, instance)));
            log.info(null, "cluster: instance " + instance + " removed its entries");
        } catch (IOException e) {
            log.warn(null, "cluster: could not remove this instance's entries (" + e.getMessage() + "); they expire in "
                    + ttlMillis + " ms");
        }
        redis.close();
        for (RedisClient r : readers) r.close();
        for (RedisClient r : upgradeReaders) r.close();
    }
}
