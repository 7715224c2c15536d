package holepunch.peer;

import holepunch.crypto.PublicIdentity;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Trust on first use (README: Security, Identity): the key each peer id first proved, as ssh keeps
 * {@code known_hosts}. A peer whose key is kept here and that is offered with another is refused,
 * and that is an alarm; it is trusted again only by an explicit act: its line removed from the file
 * (read again when it changes) or its new fingerprint named in PEER_KEYS.
 *
 * <p>Only keys a peer keeps across restarts are remembered: a key its proof marks as its process's
 * alone (no WORKER_KEY_FILE there) changes at every restart by design. Such a key for an id whose
 * kept key is known is refused too (a downgrade). The file ({@code KNOWN_PEERS_FILE}, by default
 * beside WORKER_KEY_FILE) has one {@code id fingerprint} line per peer and is replaced whole
 * (mode 0600, written to a temporary file, forced, then renamed); without one, what is learnt lasts
 * for the process. At most {@value #MAX_PEERS} peers.
 */
public final class KnownPeers {
    static final int MAX_PEERS = 10_000;

    /** What the store says of an offered key. */
    public enum Verdict {
        /** First seen and kept now (or kept already). */
        NEW("new"), KNOWN("known"),
        /** A key this peer holds only for its process: accepted, not kept. */
        EPHEMERAL("ephemeral"),
        /** Another key than the one kept: refused. */
        CHANGED("changed"),
        /** The store is full: accepted, not kept. */
        FULL("not_kept");

        /** As /status shows it ({@code key_trust}). */
        final String label;

        Verdict(String label) {
            this.label = label;
        }
    }

    /** Offers refused for a changed key, kept for /status: at most this many, the newest last. */
    static final int MAX_ALARMS = 16;
    private final java.util.ArrayDeque<Map<String, Object>> alarms = new java.util.ArrayDeque<>();
    /** How each peer's key is trusted now (pinned, known, new, ephemeral), for /status; at most {@value #MAX_PEERS}. */
    private final LinkedHashMap<String, String> trust = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > MAX_PEERS;
        }
    };

    private final Path file;
    private final Map<String, String> keys = new LinkedHashMap<>();
    private long loadedModified = Long.MIN_VALUE;
    private String problem;

    /** {@code file} null: in memory only. */
    public KnownPeers(Path file) {
        this.file = file;
    }

    public Path file() {
        return file;
    }

    /** Why the file could not be read or written last time, or null. */
    public synchronized String problem() {
        return problem;
    }

    synchronized void trusted(String peer, String how) {
        trust.put(peer, how);
    }

    /** How {@code peer}'s key is trusted now, or null. */
    synchronized String trust(String peer) {
        return trust.get(peer);
    }

    /** An offer of {@code peer} with {@code offered}, which is not the key kept for it: remembered for /status. */
    synchronized void alarm(String peer, PublicIdentity offered, boolean ephemeral, long nowMillis) {
        if (alarms.size() == MAX_ALARMS) alarms.removeFirst();
        alarms.addLast(holepunch.json.Json.obj("peer_worker_id", peer, "known_fingerprint", keys.get(peer),
                "offered_fingerprint", offered.fingerprint(), "offered_key_ephemeral", ephemeral, "at_ms", nowMillis));
    }

    /** Offers refused because the peer's key changed, newest last. */
    synchronized List<Map<String, Object>> alarms() {
        return new ArrayList<>(alarms);
    }

    /** The kept fingerprint of {@code peer}, or null. */
    public synchronized String known(String peer) {
        reloadIfChanged();
        return keys.get(peer);
    }

    /** Checks {@code key} offered for {@code peer}, keeping it when it is new and kept across the peer's restarts. */
    public synchronized Verdict check(String peer, PublicIdentity key, boolean ephemeral) {
        reloadIfChanged();
        String kept = keys.get(peer);
        if (kept != null) return key.matchesPin(kept) ? Verdict.KNOWN : Verdict.CHANGED;
        if (ephemeral) return Verdict.EPHEMERAL;
        if (keys.size() >= MAX_PEERS) return Verdict.FULL;
        keys.put(peer, key.fingerprint());
        save();
        return Verdict.NEW;
    }

    /** PEER_KEYS named this key for {@code peer}: what is kept follows it (the operator's explicit act). */
    public synchronized void pinned(String peer, PublicIdentity key) {
        reloadIfChanged();
        if (key.fingerprint().equals(keys.get(peer))) return;
        if (!keys.containsKey(peer) && keys.size() >= MAX_PEERS) return;
        keys.put(peer, key.fingerprint());
        save();
    }

    private void reloadIfChanged() {
        if (file == null) return;
        long modified;
        try {
            modified = Files.exists(file) ? Files.getLastModifiedTime(file).toMillis() : Long.MIN_VALUE + 1;
        } catch (IOException e) {
            problem = "cannot read " + file + ": " + e.getMessage();
            return;
        }
        if (modified == loadedModified) return;
        loadedModified = modified;
        keys.clear();
        if (modified == Long.MIN_VALUE + 1) return;                     // no file yet
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            for (String line : lines) {
                String t = line.strip();
                if (t.isEmpty() || t.startsWith("#")) continue;
                String[] f = t.split("\\s+");
                if (f.length == 2 && keys.size() < MAX_PEERS) keys.put(f[0], f[1]);
            }
            problem = null;
        } catch (IOException | java.io.UncheckedIOException e) {
            problem = "cannot read " + file + ": " + e.getMessage();
        }
    }

    private void save() {
        if (file == null) return;
        try {
            Path dir = file.toAbsolutePath().getParent();
            Path tmp = Files.createTempFile(dir, ".holepunch-known-peers-", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            List<String> lines = new ArrayList<>();
            lines.add("# holepunch known peers: worker id, then the key fingerprint it first proved. Remove a line to trust a new key.");
            keys.forEach((id, fp) -> lines.add(id + " " + fp));
            try (var ch = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8)));
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            loadedModified = Files.getLastModifiedTime(file).toMillis();
            problem = null;
        } catch (IOException e) {
            problem = "cannot write " + file + ": " + e.getMessage();
        }
    }
}
