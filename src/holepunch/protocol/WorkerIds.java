package holepunch.protocol;

/** The worker id rule of README: Peer connections: letters, digits, '-', '_', '.', 1 to 64 characters. */
public final class WorkerIds {
    public static final String RULE = "a worker id is 1 to 64 characters from A-Z, a-z, 0-9, '-', '_' and '.'";
    public static final int MAX_LENGTH = 64;

    private WorkerIds() {
    }

    public static boolean isValid(String id) {
        if (id == null || id.isEmpty() || id.length() > MAX_LENGTH) return false;
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.';
            if (!ok) return false;
        }
        return true;
    }
}
