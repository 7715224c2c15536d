package holepunch.rendezvous;

import holepunch.crypto.PublicIdentity;
import holepunch.log.Log;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Enrollment by an operator (APPROVED_KEYS_FILE; README: Security, Identity): only the worker ids the
 * file names may register, each only with the key whose fingerprint the file gives, as ssh's
 * {@code authorized_keys}. Anyone else, keyless clients included, gets 403 naming the file's rule. The
 * file has one {@code id fingerprint} line per worker ({@code #} comments; a fingerprint prefix of 16 or
 * more characters pins too) and is read again when it changes (checked at most once a second); a file
 * that cannot be read later keeps the last list it gave, said once. At most {@value #MAX_IDS} ids.
 */
final class ApprovedKeys {
    static final int MAX_IDS = 1_000_000;
    private static final long RECHECK_NANOS = 1_000_000_000L;

    private final Path file;
    private final Log log;
    private Map<String, String> approved;
    private long modified;
    private long checkedAt;
    private boolean saidUnreadable;

    private ApprovedKeys(Path file, Log log, Map<String, String> approved, long modified) {
        this.file = file;
        this.log = log;
        this.approved = approved;
        this.modified = modified;
        this.checkedAt = System.nanoTime();
    }

    /** The list in {@code file}; a file that cannot be read or holds a malformed line stops the start (one line naming the variable). */
    static ApprovedKeys load(Path file, Log log) {
        try {
            long modified = Files.getLastModifiedTime(file).toMillis();
            return new ApprovedKeys(file, log, parse(Files.readAllLines(file, StandardCharsets.UTF_8)), modified);
        } catch (IOException | IllegalArgumentException e) {
            throw new holepunch.config.ConfigException("APPROVED_KEYS_FILE " + file + ": " + (e instanceof IOException ? "cannot be read: " : "")
                    + e.getMessage());
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

    private synchronized Map<String, String> current() {
        long now = System.nanoTime();
        if (now - checkedAt < RECHECK_NANOS) return approved;
        checkedAt = now;
        try {
            long m = Files.getLastModifiedTime(file).toMillis();
            if (m != modified) {
                approved = parse(Files.readAllLines(file, StandardCharsets.UTF_8));
                modified = m;
                log.info(null, "APPROVED_KEYS_FILE read again: " + approved.size() + " workers approved");
            }
            saidUnreadable = false;
        } catch (IOException | IllegalArgumentException e) {
            if (!saidUnreadable) {
                saidUnreadable = true;
                log.warn(null, "APPROVED_KEYS_FILE " + file + " cannot be used now (" + e.getMessage() + "); keeping the list it gave before");
            }
        }
        return approved;
    }

    /** A refusal unless {@code workerId} is approved with {@code key} (null: a keyless session). */
    Admission.Refusal check(String workerId, PublicIdentity key) {
        String pin = current().get(workerId);
        if (pin == null) {
            return new Admission.Refusal(403, "not_approved", "refused a session for id '" + workerId + "': not in APPROVED_KEYS_FILE",
                    "worker id '" + workerId + "' is not approved on this rendezvous (its operator lists the workers it admits)", Map.of());
        }
        if (key == null || !key.matchesPin(pin)) {
            return new Admission.Refusal(403, "not_approved", "refused a session for id '" + workerId + "': "
                    + (key == null ? "no key proven" : "key " + key.shortFingerprint() + " is not the approved one"),
                    "worker id '" + workerId + "' is approved only with its own key: " + (key == null ? "prove it (holepunch workers send "
                    + holepunch.crypto.UpgradeProof.HEADER + ")" : "this is another key"), Map.of());
        }
        return null;
    }
}
