package holepunch.peer;

import java.util.List;
import java.util.Map;

/**
 * P2P_* settings: punch deadline and pace, keepalive period, direct retries while relaying, the
 * peers to ask for, the peers this worker takes part in connections with ({@code allow};
 * {@code "*"} for any), the keys it expects of them (PEER_KEYS), the rekey period, the TTL of
 * priming probes (P2P_PRIME_TTL, 0 for none), whether the hard-NAT technique may run (P2P_HARD_NAT), and
 * where the keys of known peers are kept (KNOWN_PEERS_FILE; null: in memory).
 */
public record PeerSettings(long deadlineMillis, long probeIntervalMillis, long keepaliveMillis, long answerWaitMillis,
                           long retryDirectMillis, List<String> connectTo, List<String> allow, Map<String, String> peerKeys,
                           long rekeyMillis, int primeTtl, boolean hardNat, java.nio.file.Path knownPeersFile) {
    public PeerSettings(long deadlineMillis, long probeIntervalMillis, long keepaliveMillis, long answerWaitMillis,
                        long retryDirectMillis, List<String> connectTo, List<String> allow, Map<String, String> peerKeys,
                        long rekeyMillis, int primeTtl, boolean hardNat) {
        this(deadlineMillis, probeIntervalMillis, keepaliveMillis, answerWaitMillis, retryDirectMillis, connectTo, allow, peerKeys, rekeyMillis,
                primeTtl, hardNat, null);
    }

    public PeerSettings(long deadlineMillis, long probeIntervalMillis, long keepaliveMillis, long answerWaitMillis,
                        long retryDirectMillis, List<String> connectTo, List<String> allow) {
        this(deadlineMillis, probeIntervalMillis, keepaliveMillis, answerWaitMillis, retryDirectMillis, connectTo, allow, Map.of(), 120_000, 0, true);
    }

    public PeerSettings(long deadlineMillis, long probeIntervalMillis, long keepaliveMillis, long answerWaitMillis,
                        long retryDirectMillis, List<String> connectTo, List<String> allow, Map<String, String> peerKeys, long rekeyMillis) {
        this(deadlineMillis, probeIntervalMillis, keepaliveMillis, answerWaitMillis, retryDirectMillis, connectTo, allow, peerKeys, rekeyMillis, 0, true);
    }

    boolean allows(String peer) {
        return allow.contains("*") || allow.contains(peer);
    }
}
