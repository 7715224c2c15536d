package holepunch.rendezvous;

import holepunch.config.ConfigException;
import holepunch.config.Env;
import holepunch.testing.Await;
import holepunch.testing.ProcStat;
import holepunch.testing.ServiceProcess;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * In the real process (read from /proc): connection setup, the HTTP dispatcher and the virtual
 * threads' carriers, runs under SCHED_IDLE by default and at a nice value with SETUP_NICE=N, below
 * the session loop, which keeps the normal policy and priority; SETUP_NICE=0 leaves every thread
 * as it was. A bad SETUP_NICE is refused, naming the variable.
 */
class SetupPriorityTest {
    static final int SCHED_OTHER = 0, SCHED_IDLE = 5;

    /** Thread name (as /proc cuts it, 15 characters) to its nice value (field 19 of its stat), the largest among threads of one name. */
    static Map<String, Integer> niceByThread(long pid) throws Exception {
        return statField(pid, 19);
    }

    /** Thread name to its scheduling policy (field 41 of its stat), the largest among threads of one name. */
    static Map<String, Integer> policyByThread(long pid) throws Exception {
        return statField(pid, 41);
    }

    /** Thread name to one numeric field of /proc/PID/task/TID/stat (numbered from 1 as in proc(5)). */
    static Map<String, Integer> statField(long pid, int field) throws Exception {
        Map<String, Integer> out = new HashMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                String stat;
                try {
                    stat = Files.readString(t.resolve("stat"));
                } catch (java.nio.file.NoSuchFileException ended) {
                    continue;                      // a thread that ended since the listing
                }
                out.merge(ProcStat.name(stat), (int) ProcStat.field(stat, field), Math::max);
            }
        }
        return out;
    }

    /** The threads once the service has started them all (the port accepts a little before). */
    static Map<String, Integer> started(ServiceProcess s) throws Exception {
        Await.until(Duration.ofSeconds(20), "the dispatcher and the loop", () -> {
            Map<String, Integer> n = niceByThread(s.process.pid());
            return n.containsKey("HTTP-Dispatcher") && n.containsKey("ws-loop-0");
        });
        return niceByThread(s.process.pid());
    }

    @Test
    @Tag("slow")
    void setupThreads_runUnderSchedIdle_belowTheSessionLoop() throws Exception {
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of(), Map.of("SETUP_NICE", "idle"), 0)) {
            started(s);
            Map<String, Integer> policy = policyByThread(s.process.pid());
            assertEquals(SCHED_IDLE, policy.get("HTTP-Dispatcher"), policy.toString());
            assertEquals(SCHED_IDLE, policy.get("ForkJoinPool-1-"), policy.toString());
            assertEquals(SCHED_OTHER, policy.get("ws-loop-0"), policy.toString());
            assertEquals(0, niceByThread(s.process.pid()).get("ws-loop-0"));
            assertTrue(s.output().contains("connection setup runs under SCHED_IDLE"), s.output());
        }
    }

    @Test
    @Tag("slow")
    void setupNice_setsANiceValueInstead_andZeroLeavesEveryThreadAsItWas() throws Exception {
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of(), Map.of("SETUP_NICE", "10"), 0)) {
            Map<String, Integer> nice = started(s);
            Map<String, Integer> policy = policyByThread(s.process.pid());
            assertEquals(10, nice.get("HTTP-Dispatcher"), nice.toString());
            assertEquals(10, nice.get("ForkJoinPool-1-"), nice.toString());
            assertEquals(0, nice.get("ws-loop-0"), nice.toString());
            assertEquals(SCHED_OTHER, policy.get("HTTP-Dispatcher"), policy.toString());
            assertTrue(s.output().contains("connection setup runs at nice 10"), s.output());
        }
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of(), Map.of("SETUP_NICE", "0"), 0)) {
            Map<String, Integer> nice = started(s);
            Map<String, Integer> policy = policyByThread(s.process.pid());
            assertEquals(0, nice.get("HTTP-Dispatcher"), nice.toString());
            assertEquals(SCHED_OTHER, policy.get("HTTP-Dispatcher"), policy.toString());
        }
    }

    @Test
    void badSetupNice_isRefused_namingTheVariable() {
        for (String bad : List.of("20", "-1", "low", "1.5")) {
            ConfigException e = assertThrows(ConfigException.class, () -> RendezvousConfig.from(new Env(Map.of("SETUP_NICE", bad))));
            assertTrue(e.getMessage().startsWith("SETUP_NICE must be idle or a nice value from 0 to 19"), e.getMessage());
        }
        assertEquals(10, RendezvousConfig.from(new Env(Map.of())).setupNice(), "the default: a share, never starved");
        assertEquals(SetupPriority.IDLE, RendezvousConfig.from(new Env(Map.of("SETUP_NICE", " idle "))).setupNice());
        assertEquals(19, RendezvousConfig.from(new Env(Map.of("SETUP_NICE", "19"))).setupNice());
    }
}
