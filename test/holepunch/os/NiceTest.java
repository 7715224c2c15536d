package holepunch.os;

import holepunch.testing.ProcStat;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The calling thread's nice value, read back from /proc: set for that thread alone, inherited by the threads it starts. */
class NiceTest {
    /** Field 19 of /proc/thread-self/stat: the nice value of the thread reading it. */
    static int ownNice() throws Exception {
        return ownStat(19);
    }

    /** Field 41 of /proc/thread-self/stat: the scheduling policy of the thread reading it (0 SCHED_OTHER, 5 SCHED_IDLE). */
    static int ownPolicy() throws Exception {
        return ownStat(41);
    }

    static int ownStat(int field) throws Exception {
        return (int) ProcStat.field(Files.readString(Path.of("/proc/thread-self/stat")), field);
    }

    /** A /proc reading of the thread that makes it. */
    interface Reading {
        int read() throws Exception;
    }

    /** On a new thread: {@code lower} (which must succeed), then {@code reading} there and in a thread it starts. */
    static int[] inLoweredThreadAndItsChild(java.util.function.BooleanSupplier lower, Reading reading) throws Exception {
        AtomicInteger inLowered = new AtomicInteger(-100), inChild = new AtomicInteger(-100);
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                assertTrue(lower.getAsBoolean());
                inLowered.set(reading.read());
                Thread child = Thread.ofPlatform().start(() -> {
                    try {
                        inChild.set(reading.read());
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                child.join();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        t.join();
        return new int[]{inLowered.get(), inChild.get()};
    }

    @Test
    void idle_movesTheCallingThreadOnlyToSchedIdle_andItsNewThreadsInheritIt() throws Exception {
        int before = ownPolicy();
        int[] policy = inLoweredThreadAndItsChild(Nice::idleCurrentThread, NiceTest::ownPolicy);
        assertEquals(5, policy[0]);
        assertEquals(5, policy[1], "inherited");
        assertEquals(before, ownPolicy(), "the calling thread alone: this one is as it was");
    }

    @Test
    void setsTheCallingThreadOnly_andItsNewThreadsInheritIt() throws Exception {
        int before = ownNice();
        int[] nice = inLoweredThreadAndItsChild(() -> Nice.setCurrentThread(before + 5), NiceTest::ownNice);
        assertEquals(before + 5, nice[0]);
        assertEquals(before + 5, nice[1], "inherited");
        assertEquals(before, ownNice(), "the calling thread alone: this one is as it was");
    }
}
