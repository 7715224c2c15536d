package holepunch.log;

/**
 * The end of a process that can no longer trust itself. An {@link Error} (out of memory, a stack
 * overflow, a linkage failure) on a thread others depend on leaves the service half-alive:
 * accepting connections it will never serve. Better to say so in one line and exit, so that a
 * supervisor (systemd, Kubernetes, Cloud Run) starts a fresh one. The shipped JVM settings add
 * {@code -XX:+ExitOnOutOfMemoryError} for the allocations that fail elsewhere.
 */
public final class Fatal {
    /** The exit status: EX_SOFTWARE of sysexits.h. */
    public static final int EXIT_STATUS = 70;

    private Fatal() {
    }

    public static void exit(String where, Throwable error) {
        try {
            Log.of("fatal").error(null, where + ": " + error + "; exiting so that a supervisor restarts the service");
            Log.flush(1000);
        } finally {
            Runtime.getRuntime().halt(EXIT_STATUS);
        }
    }
}
