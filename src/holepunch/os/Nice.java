package holepunch.os;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The calling thread's scheduling priority (its nice value, setpriority(2)), which Java's thread
 * priorities do not reach on Linux: through libc with the Foreign Function API. On Linux,
 * {@code setpriority(PRIO_PROCESS, 0, n)} sets the calling thread alone, and threads it creates
 * inherit it. Raising one's own nice value needs no privilege; lowering it does.
 *
 * <p>Below every nice value is the SCHED_IDLE policy (sched(7)), also set per thread and inherited:
 * such a thread runs only on CPU time that the other threads leave, and a waking thread of the
 * normal policy preempts it at once (which a nice value alone does not promise). Moving one's own
 * thread to it needs no privilege either.
 */
public final class Nice {
    private static final int PRIO_PROCESS = 0;
    private static final int SCHED_IDLE = 5;          // linux/sched.h
    private static final MethodHandle SETPRIORITY = downcall("setpriority",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle SETSCHEDULER = downcall("sched_setscheduler",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));

    /** The libc function, or null when it cannot be reached (not Linux, or no native access): priorities stay as they are. */
    @SuppressWarnings("restricted")
    private static MethodHandle downcall(String name, FunctionDescriptor signature) {
        if (!"Linux".equals(System.getProperty("os.name"))) return null;
        try {
            Linker linker = Linker.nativeLinker();
            return linker.downcallHandle(linker.defaultLookup().find(name).orElseThrow(), signature);
        } catch (Throwable e) {
            return null;
        }
    }

    private Nice() {
    }

    /** Sets the calling thread's nice value; false when it could not be set here. */
    public static boolean setCurrentThread(int nice) {
        if (SETPRIORITY == null) return false;
        try {
            return (int) SETPRIORITY.invokeExact(PRIO_PROCESS, 0, nice) == 0;
        } catch (Throwable e) {
            return false;
        }
    }

    /** Moves the calling thread to SCHED_IDLE; false when it could not be moved here. */
    public static boolean idleCurrentThread() {
        if (SETSCHEDULER == null) return false;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment param = arena.allocate(ValueLayout.JAVA_INT);     // struct sched_param { int sched_priority = 0; }
            return (int) SETSCHEDULER.invokeExact(0, SCHED_IDLE, param) == 0;
        } catch (Throwable e) {
            return false;
        }
    }
}
