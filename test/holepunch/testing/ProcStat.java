package holepunch.testing;

/**
 * Fields of a Linux /proc/.../stat line (proc(5)): numbered from 1, as the manual numbers them;
 * the command name (field 2) may hold spaces and parentheses, so the fields after it are counted
 * from its last ')'.
 */
public final class ProcStat {
    private ProcStat() {
    }

    /** Field {@code n} (3 or more) of {@code stat}. */
    public static long field(String stat, int n) {
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[n - 3]);
    }

    /** Field 2, the command (a thread's name, cut by the kernel at 15 characters). */
    public static String name(String stat) {
        return stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    }
}
