package holepunch.rendezvous;

import holepunch.config.Env;

/** The rendezvous settings, from the environment (README has the table). */
public record RendezvousConfig(String bindAddress, int port, long pingIntervalNanos, long pingTimeoutNanos,
                               int maxMessageBytes, int handshakeTimeoutSec, int stunUdpPort, int stunMaxPerSource,
                               String token, int maxSessions, int maxSessionsPerIp, int maxMessagesPerSec,
                               int relayBytesPerSec) {

    public static RendezvousConfig from(Env env) {
        String token = env.string("RENDEZVOUS_TOKEN", "");
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
                env.integer("MAX_SESSIONS", 100_000, 1, 10_000_000),
                env.integer("MAX_SESSIONS_PER_IP", 10_000, 1, 10_000_000),
                env.integer("MAX_MESSAGES_PER_SEC", 50, 1, 1_000_000),
                env.integer("RELAY_BYTES_PER_SEC", 65_536, 1500, 100_000_000));
    }

    /** Never shows the token. */
    @Override
    public String toString() {
        return "RendezvousConfig[port=" + port + ", stunUdpPort=" + stunUdpPort + ", token=" + (token == null ? "unset" : "set") + "]";
    }
}
