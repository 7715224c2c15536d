package holepunch.bench;

import holepunch.testing.ProcStat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A process's figures as Linux's /proc shows them: CPU time, resident memory, thread switches. */
final class ProcStats {
    private ProcStats() {
    }

    /** User + system CPU time of a process, from /proc/PID/stat (clock ticks of 10 ms). */
    static long cpuMillis(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return (ProcStat.field(stat, 14) + ProcStat.field(stat, 15)) * 10;      // utime and stime
    }

    /** Context switches of every thread of the process so far (voluntary and not): each is a thread woken or preempted. */
    static long contextSwitches(long pid) throws IOException {
        long sum = 0;
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                try {
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.contains("ctxt_switches:")) sum += Long.parseLong(line.replaceAll("[^0-9]", ""));
                    }
                } catch (IOException gone) {
                    // the thread ended
                }
            }
        }
        return sum;
    }

    static long rssKb(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
        throw new IOException("no VmRSS for " + pid);
    }
}
