package holepunch.os;

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
        String stat = Files.readString(Path.of("/proc/thread-self/stat"));
        return Integer.parseInt(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[field - 3]);
    }

    @Test
    void idle_movesTheCallingThreadOnlyToSchedIdle_andItsNewThreadsInheritIt() throws Exception {
        int before = ownPolicy();
        AtomicInteger inLowered = new AtomicInteger(-100), inChild = new AtomicInteger(-100);
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                assertTrue(Nice.idleCurrentThread());
                inLowered.set(ownPolicy());
                Thread child = Thread.ofPlatform().start(() -> {
                    try {
                        inChild.set(ownPolicy());
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
        assertEquals(5, inLowered.get());
        assertEquals(5, inChild.get(), "inherited");
        assertEquals(before, ownPolicy(), "the calling thread alone: this one is as it was");
    }

    @Test
    void setsTheCallingThreadOnly_andItsNewThreadsInheritIt() throws Exception {
        int before = ownNice();
        AtomicInteger inLowered = new AtomicInteger(-100), inChild = new AtomicInteger(-100);
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                assertTrue(Nice.setCurrentThread(before + 5));
                inLowered.set(ownNice());
                Thread child = Thread.ofPlatform().start(() -> {
                    try {
                        inChild.set(ownNice());
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
        assertEquals(before + 5, inLowered.get());
        assertEquals(before + 5, inChild.get(), "inherited");
        assertEquals(before, ownNice(), "the calling thread alone: this one is as it was");
    }
}
