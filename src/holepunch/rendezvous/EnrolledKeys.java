package holepunch.rendezvous;

import holepunch.crypto.PublicIdentity;
import holepunch.log.Log;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Enrollment on first use ({@code ENROLLMENT=tofu}; README: Security, Identity): the first key a
 * worker proves for an id holds that id for good, across restarts, as ssh's {@code known_hosts}
 * holds a host's key. The record is ENROLLED_KEYS_FILE, {@code worker-id fingerprint} lines written
 * here and forced to disk before the session is admitted; an operator releases an id by deleting its
 * line (read again when the file changes). Afterwards the id admits only that key: another key, or a
 * keyless client, gets 409. Ids no key ever enrolled stay open to keyless clients (the original's
 * keep working), and a key that lives only as long as its process (a worker without WORKER_KEY_FILE)
 * is not enrolled: it would lock its own worker out at the next start. Fails closed: a file that
 * cannot be written refuses the upgrade with 503, and a full list refuses new ids.
 */
final class EnrolledKeys {
    private final KeyFile list;
    private final Log log;

    private EnrolledKeys(KeyFile list, Log log) {
        this.list = list;
        this.log = log;
    }

    /** The record in {@code file}, made empty when missing; one that cannot be read or is malformed stops the start. */
    static EnrolledKeys load(Path file, Log log) {
        return new EnrolledKeys(KeyFile.load("ENROLLED_KEYS_FILE", file, log, true), log);
    }

    /**
     * Admits {@code workerId} with {@code key} (null: keyless; {@code ephemeral}: a process's own key),
     * enrolling a kept key for an id nobody enrolled; else the refusal.
     */
    Admission.Refusal admit(String workerId, PublicIdentity key, boolean ephemeral) {
        Map<String, String> now = list.current();
        String pin = now.get(workerId);
        if (pin == null && key != null && !ephemeral) {
            try {
                pin = list.addIfAbsent(workerId, key.fingerprint());
                if (pin.equals(key.fingerprint())) log.info(workerId, "enrolled with key " + key.shortFingerprint() + " (ENROLLMENT=tofu)");
            } catch (IOException e) {
                return new Admission.Refusal(503, "enrollment_unavailable", "refused a session: ENROLLED_KEYS_FILE cannot be written ("
                        + e.getMessage() + ")", "this rendezvous cannot record enrollments now; try again later", Map.of("Retry-After", "5"));
            } catch (IllegalStateException e) {
                return new Admission.Refusal(503, "enrollment_full", "refused a session: " + e.getMessage(),
                        "this rendezvous enrolls no more workers", Map.of());
            }
        }
        if (pin == null || (key != null && key.matchesPin(pin))) return null;
        String holder = pin.length() > 12 ? pin.substring(0, 12) : pin;
        return new Admission.Refusal(409, "id_enrolled", "refused a session for id enrolled with key " + holder + " ("
                + (key == null ? "no key" : "key " + key.shortFingerprint()) + ")",
                "worker id '" + workerId + "' is enrolled on this rendezvous with another key (fingerprint " + holder
                        + "): prove that key, or use another id; its operator can release the id", Map.of());
    }
}
