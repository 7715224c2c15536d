package holepunch.os;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The calling thread's scheduling priority (its nice value, setpriority(2)), which Java's thread
 * priorities do not reach on Linux: through libc with the Foreign Function API. On Linux,
 * {@code setpriority(PRIO_PROCESS, 0, n)} sets the calling thread alone, and threads it creates
 * inherit it. Raising one's own nice value needs no privilege; lowering it does.
 */
public final class Nice {
    private static final int PRIO_PROCESS = 0;
    private static final MethodHandle SETPRIORITY;

    static {
        MethodHandle h = null;
        try {
            h = downcall();
        } catch (Throwable e) {
            h = null;            // not Linux, or no native access: priorities stay as they are
        }
        SETPRIORITY = h;
    }

    @SuppressWarnings("restricted")
    private static MethodHandle downcall() {
        Linker linker = Linker.nativeLinker();
        return linker.downcallHandle(linker.defaultLookup().find("setpriority").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    }

    private Nice() {
    }

    /** Sets the calling thread's nice value; false when it could not be set here. */
    public static boolean setCurrentThread(int nice) {
        if (SETPRIORITY == null || !"Linux".equals(System.getProperty("os.name"))) return false;
        try {
            return (int) SETPRIORITY.invokeExact(PRIO_PROCESS, 0, nice) == 0;
        } catch (Throwable e) {
            return false;
        }
    }
}
