package holepunch.rendezvous;

import holepunch.crypto.PublicIdentity;
import holepunch.log.Log;

import java.nio.file.Path;
import java.util.Map;

/**
 * Enrollment by an operator (APPROVED_KEYS_FILE; README: Security, Identity): only the worker ids the
 * file names may register, each only with the key whose fingerprint the file gives, as ssh's
 * {@code authorized_keys}. Anyone else, keyless clients included, gets 403 naming the file's rule. The
 * file has one {@code id fingerprint} line per worker ({@code #} comments; a fingerprint prefix of 16 or
 * more characters pins too) and is read again when it changes (checked at most once a second); a file
 * that cannot be read later keeps the last list it gave, said once ({@link KeyFile}).
 */
final class ApprovedKeys {
    private final KeyFile list;

    private ApprovedKeys(KeyFile list) {
        this.list = list;
    }

    /** The list in {@code file}; a file that cannot be read or holds a malformed line stops the start (one line naming the variable). */
    static ApprovedKeys load(Path file, Log log) {
        return new ApprovedKeys(KeyFile.load("APPROVED_KEYS_FILE", file, log, false));
    }

    private Map<String, String> current() {
        return list.current();
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
