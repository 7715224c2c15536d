package holepunch.rendezvous;

import holepunch.config.ConfigException;
import holepunch.log.Log;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A file of {@code worker-id fingerprint} lines ({@code #} comments; as ssh's {@code authorized_keys}),
 * the form APPROVED_KEYS_FILE and ENROLLED_KEYS_FILE share. Read again when it changes (checked at
 * most once a second), so that an operator's edit takes effect without a restart; a file that cannot
 * be read later keeps the last list it gave, said once. At most {@value #MAX_IDS} ids.
 */
final class KeyFile {
    static final int MAX_IDS = 1_000_000;
    private static final long RECHECK_NANOS = 1_000_000_000L;

    private final String variable;
    private final Path file;
    private final Log log;
    private Map<String, String> keys;
    private long modified;
    private long checkedAt;
    private boolean saidUnreadable;

    private KeyFile(String variable, Path file, Log log, Map<String, String> keys, long modified) {
        this.variable = variable;
        this.file = file;
        this.log = log;
        this.keys = keys;
        this.modified = modified;
        this.checkedAt = System.nanoTime();
    }

    /**
     * The list in {@code file} ({@code variable} names it in messages); {@code create}: a missing file
     * is made, empty (0600). A file that cannot be read or holds a malformed line stops the start.
     */
    static KeyFile load(String variable, Path file, Log log, boolean create) {
        try {
            if (create && !Files.exists(file)) {
                Files.createFile(file, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
            }
            long modified = Files.getLastModifiedTime(file).toMillis();
            return new KeyFile(variable, file, log, parse(Files.readAllLines(file, StandardCharsets.UTF_8)), modified);
        } catch (IOException | IllegalArgumentException | UnsupportedOperationException e) {
            throw new ConfigException(variable + " " + file + ": " + (e instanceof IOException ? "cannot be read: " : "") + e.getMessage());
        }
    }

    static Map<String, String> parse(List<String> lines) {
        Map<String, String> out = new HashMap<>();
        int n = 0;
        for (String line : lines) {
            n++;
            String t = line.strip();
            if (t.isEmpty() || t.startsWith("#")) continue;
            String[] f = t.split("\\s+");
            if (f.length != 2 || !holepunch.protocol.WorkerIds.isValid(f[0]) || f[1].length() < 16 || !f[1].matches("[A-Za-z0-9_-]+")) {
                throw new IllegalArgumentException("line " + n + " is not 'worker-id fingerprint' (the fingerprint from the worker's log or /status)");
            }
            if (out.size() >= MAX_IDS) throw new IllegalArgumentException("more than " + MAX_IDS + " ids");
            out.put(f[0], f[1]);
        }
        return out;
    }

    /** The list now: read again first when the file changed and a second has passed since the last look. */
    synchronized Map<String, String> current() {
        long now = System.nanoTime();
        if (now - checkedAt < RECHECK_NANOS) return keys;
        checkedAt = now;
        try {
            long m = Files.getLastModifiedTime(file).toMillis();
            if (m != modified) {
                keys = parse(Files.readAllLines(file, StandardCharsets.UTF_8));
                modified = m;
                log.info(null, variable + " read again: " + keys.size() + " workers listed");
            }
            saidUnreadable = false;
        } catch (IOException | IllegalArgumentException e) {
            if (!saidUnreadable) {
                saidUnreadable = true;
                log.warn(null, variable + " " + file + " cannot be used now (" + e.getMessage() + "); keeping the list it gave before");
            }
        }
        return keys;
    }

    /**
     * Adds {@code id fingerprint} unless the id is listed: appended to the file and forced to disk
     * before it counts (a crash cannot forget an enrollment that admitted a session). Returns the
     * fingerprint the id is listed with afterwards (the given one, or the one it had).
     *
     * @throws IOException the file cannot be written: nothing was added
     * @throws IllegalStateException the list holds {@value #MAX_IDS} ids
     */
    synchronized String addIfAbsent(String id, String fingerprint) throws IOException {
        String had = current().get(id);
        if (had != null) return had;
        if (keys.size() >= MAX_IDS) throw new IllegalStateException(variable + " lists " + MAX_IDS + " ids, its most");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            ch.write(java.nio.ByteBuffer.wrap((id + " " + fingerprint + "\n").getBytes(StandardCharsets.UTF_8)));
            ch.force(true);
        }
        Map<String, String> next = new HashMap<>(keys);
        next.put(id, fingerprint);
        keys = next;
        modified = Files.getLastModifiedTime(file).toMillis();     // our own line: no need to read it back
        return fingerprint;
    }
}
