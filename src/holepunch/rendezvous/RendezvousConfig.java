package holepunch.rendezvous;

import holepunch.config.ConfigException;
import holepunch.config.Env;
import holepunch.redis.RedisUrl;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** The rendezvous settings, from the environment (README has the table). */
public record RendezvousConfig(String bindAddress, int port, long pingIntervalNanos, long pingTimeoutNanos,
                               int maxMessageBytes, int handshakeTimeoutSec, int stunUdpPort, int stunMaxPerSource,
                               String token, int maxSessions, int maxSessionsPerIp, int maxMessagesPerSec,
                               int relayBytesPerSec, int maxPendingConnections, int maxPendingPerIp,
                               long maxBufferedBytes, List<String> allowedOrigins, int offersPerMinute,
                               int maxPairsPerWorker, int idBindingGraceSec, boolean requireWorkerKeys, List<String> publicHosts,
                               int stunOtherPort, RedisUrl redisUrl, String redisCaFile, int setupNice,
                               holepunch.stun.StunServer.ChangePolicy stunChangePolicy, boolean connectionLimitsSet,
                               ClientAddress trustedProxies, int relayTotalBytesPerSec, TurnGrant turn,
                               long clusterLivenessMillis, long drainMillis, long drainCloseMillis, int rebalancePerMin,
                               boolean proxyProtocol, String clusterSecret, boolean debugDetails, String approvedKeysFile,
                               String enrolledKeysFile, boolean tofu) {

    /** RELAY_BYTES_PER_SEC's default: 2 MiB/s a pair, a 10 Mbit/s stream of 1,200-byte datagrams with room to spare. */
    public static final int DEFAULT_RELAY_BYTES_PER_SEC = 2 << 20;
    /** RELAY_TOTAL_BYTES_PER_SEC's default: 64 MiB/s (about 540 Mbit/s) for all pairs of an instance. */
    public static final int DEFAULT_RELAY_TOTAL_BYTES_PER_SEC = 64 << 20;

    /** Request heads larger than this are refused before any handler runs. */
    public static final int MAX_REQUEST_HEAD_BYTES = 16 * 1024;

    public static RendezvousConfig from(Env env) {
        String token = env.string("RENDEZVOUS_TOKEN", "");
        int maxSessions = env.integer("MAX_SESSIONS", 100_000, 1, 10_000_000);
        int maxPending = env.integer("MAX_PENDING_CONNECTIONS", Math.min(maxSessions, 4096), 1, 1_000_000);
        return new RendezvousConfig(
                env.string("BIND_ADDRESS", "0.0.0.0"),
                env.port("PORT", 8080, true),
                env.seconds("PING_INTERVAL_SEC", 25, 0.05, 3600),
                env.seconds("PING_TIMEOUT_SEC", 25, 0.05, 3600),
                env.integer("MAX_MESSAGE_BYTES", 64 * 1024, 256, 16 * 1024 * 1024),
                env.integer("HANDSHAKE_TIMEOUT_SEC", 5, 1, 300),
                env.port("STUN_UDP_PORT", 3478, true),
                env.integer("STUN_MAX_PER_SOURCE", 50, 0, 10_000_000),
                token.isEmpty() ? null : token,
                maxSessions,
                env.integer("MAX_SESSIONS_PER_IP", 10_000, 1, 10_000_000),
                env.integer("MAX_MESSAGES_PER_SEC", 50, 1, 1_000_000),
                env.integer("RELAY_BYTES_PER_SEC", DEFAULT_RELAY_BYTES_PER_SEC, 1500, 1_000_000_000),
                maxPending,
                env.integer("MAX_PENDING_PER_IP", Math.max(1, maxPending / 4), 1, 1_000_000),
                (long) env.integer("MAX_BUFFERED_MB", (int) Math.max(8, Runtime.getRuntime().maxMemory() / 4 / (1 << 20)), 1, 1 << 20) << 20,
                origins(env.string("ALLOWED_ORIGINS", "")),
                env.integer("P2P_OFFERS_PER_MIN", 30, 1, 1_000_000),
                env.integer("MAX_PAIRS_PER_WORKER", 64, 1, 100_000),
                env.integer("ID_BINDING_GRACE_SEC", 600, 0, 30 * 86400),
                env.bool("REQUIRE_WORKER_KEYS", false),
                Arrays.stream(env.string("RENDEZVOUS_PUBLIC_HOSTS", "").split(",")).map(String::trim).filter(h -> !h.isEmpty()).toList(),
                otherPort(env),
                redisUrl(env.string("REDIS_URL", "")),
                env.string("REDIS_CA_FILE", "").isBlank() ? null : env.string("REDIS_CA_FILE", "").strip(),
                setupNice(env),
                changePolicy(env),
                env.anySet("MAX_SESSIONS", "MAX_PENDING_CONNECTIONS", "MAX_PENDING_PER_IP"),
                ClientAddress.parse(env.string("TRUSTED_PROXIES", "")),
                env.integer("RELAY_TOTAL_BYTES_PER_SEC", DEFAULT_RELAY_TOTAL_BYTES_PER_SEC, 1500, 2_000_000_000),
                TurnGrant.of(env.string("TURN_URLS", ""), env.string("TURN_SECRET", ""), env.integer("TURN_CREDENTIAL_TTL_SEC", 3600, 60, 7 * 86400)),
                env.seconds("CLUSTER_LIVENESS_SEC", 4, 1, 3600) / 1_000_000L,
                env.seconds("DRAIN_SEC", 3, 0, 3600) / 1_000_000L,
                env.seconds("DRAIN_CLOSE_SEC", 4, 0, 3600) / 1_000_000L,
                env.integer("REBALANCE_PER_MIN", 0, 0, 1_000_000),
                proxyProtocol(env),
                clusterSecret(env),
                env.bool("DEBUG_DETAILS", false),
                env.string("APPROVED_KEYS_FILE", "").isBlank() ? null : env.string("APPROVED_KEYS_FILE", "").strip(),
                enrolledKeysFile(env),
                "tofu".equals(env.string("ENROLLMENT", "").strip().toLowerCase(java.util.Locale.ROOT)));
    }

    /**
     * {@code ENROLLMENT}: {@code open} (ids bound to a key while its session lives and ID_BINDING_GRACE_SEC
     * after: the default without APPROVED_KEYS_FILE), {@code tofu} (the first kept key for an id holds it
     * for good, recorded in ENROLLED_KEYS_FILE) or {@code approved} (the operator's APPROVED_KEYS_FILE: the
     * default with it). Returns ENROLLED_KEYS_FILE for tofu, else null.
     */
    static String enrolledKeysFile(Env env) {
        boolean approvedFile = !env.string("APPROVED_KEYS_FILE", "").isBlank();
        String mode = env.string("ENROLLMENT", approvedFile ? "approved" : "open").strip().toLowerCase(java.util.Locale.ROOT);
        String file = env.string("ENROLLED_KEYS_FILE", "").strip();
        switch (mode) {
            case "open" -> {
                if (approvedFile) throw new holepunch.config.ConfigException("ENROLLMENT=open contradicts APPROVED_KEYS_FILE (that is ENROLLMENT=approved)");
                return null;
            }
            case "approved" -> {
                if (!approvedFile) throw new holepunch.config.ConfigException("ENROLLMENT=approved needs APPROVED_KEYS_FILE: the workers (id and key fingerprint) it admits");
                return null;
            }
            case "tofu" -> {
                if (approvedFile) throw new holepunch.config.ConfigException("ENROLLMENT=tofu contradicts APPROVED_KEYS_FILE (that is ENROLLMENT=approved)");
                boolean cluster = !env.string("REDIS_URL", "").isBlank();
                if (cluster && !file.isEmpty()) {
                    throw new holepunch.config.ConfigException("ENROLLED_KEYS_FILE is for a single instance: with REDIS_URL the cluster's"
                            + " record is the Redis hash " + ClusterIds.ENROLLED + " (unset ENROLLED_KEYS_FILE)");
                }
                if (!cluster && file.isEmpty()) {
                    throw new holepunch.config.ConfigException("ENROLLMENT=tofu needs ENROLLED_KEYS_FILE: where the first key of each id is recorded");
                }
                return cluster ? null : file;
            }
            default -> throw new holepunch.config.ConfigException("ENROLLMENT must be open, tofu or approved, got '" + mode + "'");
        }
    }

    /** {@code CLUSTER_SECRET}: the key instances seal their messages to each other with; at least 16 characters. */
    static String clusterSecret(Env env) {
        String s = env.string("CLUSTER_SECRET", "");
        if (s.isEmpty()) return null;
        if (s.length() < ClusterSeal.MIN_SECRET_CHARS) {
            throw new holepunch.config.ConfigException("CLUSTER_SECRET must be at least " + ClusterSeal.MIN_SECRET_CHARS + " characters (a random string, the same on every instance)");
        }
        return s;
    }

    /** {@code PROXY_PROTOCOL}: connections from TRUSTED_PROXIES begin with a PROXY header (v1 or v2); it needs them named. */
    static boolean proxyProtocol(Env env) {
        boolean on = env.bool("PROXY_PROTOCOL", false);
        if (on && env.string("TRUSTED_PROXIES", "").isBlank()) {
            throw new holepunch.config.ConfigException("PROXY_PROTOCOL=true needs TRUSTED_PROXIES: the addresses of the balancers that send the header");
        }
        return on;
    }

    /** {@code STUN_CHANGE_REQUEST}: {@code answer} (the default) or {@code strict} (RFC 5780's 420 for a change it cannot make). */
    static holepunch.stun.StunServer.ChangePolicy changePolicy(Env env) {
        try {
            return holepunch.stun.StunServer.ChangePolicy.parse(env.string("STUN_CHANGE_REQUEST", "answer"));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    /** STUN_OTHER_PORT: the STUN server's second port (default STUN_UDP_PORT + 1; 0 turns it off, as does STUN_UDP_PORT=0). */
    static int otherPort(Env env) {
        int main = env.port("STUN_UDP_PORT", 3478, true);
        int other = env.port("STUN_OTHER_PORT", main == 0 || main == 65535 ? 0 : main + 1, true);
        if (main == 0 || other == 0) return -1;
        if (other == main) throw new ConfigException("STUN_OTHER_PORT must differ from STUN_UDP_PORT (" + main + ")");
        return other;
    }

    /**
     * {@code SETUP_NICE}: a nice value from 0 to 19 (the default 10: setup keeps a tenth of a busy
     * CPU, so a host kept busy by other processes, such as workers starting beside it, still accepts
     * sessions in milliseconds) or {@code idle} (SCHED_IDLE: {@link SetupPriority#IDLE}, which starved
     * upgrades for over 10 s while three JVMs started on 2 cores, and their workers timed out).
     */
    static int setupNice(Env env) {
        String v = env.string("SETUP_NICE", "10").strip();
        if (v.isEmpty() || v.equals("idle")) return SetupPriority.IDLE;
        if (v.matches("[0-9]{1,2}") && Integer.parseInt(v) <= 19) return Integer.parseInt(v);
        throw new ConfigException("SETUP_NICE must be idle or a nice value from 0 to 19, got '" + v + "'");
    }

    /** {@code REDIS_URL}: unset or empty keeps everything in this process. */
    static RedisUrl redisUrl(String text) {
        if (text.isBlank()) return null;
        try {
            return RedisUrl.parse(text);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    /** {@code ALLOWED_ORIGINS}: exact origins (scheme://host[:port]), comma-separated; empty allows any. */
    static List<String> origins(String spec) {
        List<String> out = Arrays.stream(spec.split(",")).map(String::trim).filter(s -> !s.isEmpty())
                .map(s -> s.toLowerCase(Locale.ROOT)).toList();
        for (String o : out) {
            if (!o.equals("*") && !o.matches("https?://[a-z0-9.\\-\\[\\]:]+")) {
                throw new ConfigException("ALLOWED_ORIGINS entries must be origins such as https://app.example.com"
                        + " (scheme://host[:port], no path), got '" + o + "'");
            }
        }
        return out.contains("*") ? List.of() : out;
    }

    /** Never shows the token. */
    @Override
    public String toString() {
        return "RendezvousConfig[port=" + port + ", stunUdpPort=" + stunUdpPort + ", token=" + (token == null ? "unset" : "set")
                + (redisUrl == null ? "" : ", redis=" + redisUrl) + (turn == null ? "" : ", turn=" + turn.urls() + " (secret set)") + "]";
    }
}
