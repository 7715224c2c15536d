package holepunch.rendezvous;

import holepunch.testing.ServiceProcess;
import holepunch.testing.Tools;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The heap policy in a real process, read back with jcmd: under G1 with the JVM's defaults the
 * rendezvous sets the manageable flags that make its heap shrink after a burst; a value the
 * command line gives is kept; another collector is left alone. (What it saves is in make bench:
 * RSS per held session with plain java -jar.)
 */
@Tag("slow")
class HeapPolicyTest {
    /** A flag's value and where it came from, e.g. "30 {management}". */
    static String flag(ServiceProcess s, String name) throws Exception {
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        for (String line : Tools.run(30, List.of(jcmd, String.valueOf(s.process.pid()), "VM.flags", "-all")).split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 4 && f[1].equals(name)) return f[3] + " " + line.substring(line.lastIndexOf('{')).trim();
        }
        throw new AssertionError("jcmd shows no flag " + name);
    }

    @Test
    void underG1WithDefaults_theHeapIsMadeToShrinkAfterABurst() throws Exception {
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of("-XX:+UseG1GC"), Map.of(), 0)) {
            assertEquals("10 {management}", flag(s, "MinHeapFreeRatio"));
            assertEquals("30 {management}", flag(s, "MaxHeapFreeRatio"));
            assertEquals(HeapPolicy.PERIODIC_GC_MILLIS + " {management}", flag(s, "G1PeriodicGCInterval"));
            assertTrue(s.output().contains("JVM defaults (G1): set MinHeapFreeRatio=10, MaxHeapFreeRatio=30, G1PeriodicGCInterval=3000,"
                    + " and collected the empty heap once (committed "), s.output());
        }
    }

    /** Committed heap in MB, from jcmd GC.heap_info ("garbage-first heap   total reserved ..., committed ...K, used ..."). */
    static long committedMb(ServiceProcess s) throws Exception {
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        String info = Tools.run(30, List.of(jcmd, String.valueOf(s.process.pid()), "GC.heap_info"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("committed (\\d+)K").matcher(info);
        if (!m.find()) throw new AssertionError("no committed size in " + info);
        return Long.parseLong(m.group(1)) >> 10;
    }

    @Test
    void underG1WithDefaults_theHeapStartsFromItsLiveData_notFromTheInitialSize() throws Exception {
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of("-XX:+UseG1GC", "-XX:InitialHeapSize=256m"), Map.of(), 0)) {
            long mb = committedMb(s);
            assertTrue(mb < 64, "committed " + mb + " MB of an initial 256 MB: " + s.output());
        }
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of("-XX:+UseG1GC", "-XX:InitialHeapSize=256m", "-XX:MaxHeapFreeRatio=70"), Map.of(), 0)) {
            assertTrue(committedMb(s) >= 200, "the command line's heap settings are left alone: " + s.output());
        }
    }

    @Test
    void whatTheCommandLineSays_isKept_andOtherCollectorsAreLeftAlone() throws Exception {
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of("-XX:+UseG1GC", "-XX:MaxHeapFreeRatio=50"), Map.of(), 0)) {
            assertEquals("50 {command line}", flag(s, "MaxHeapFreeRatio"));
            assertEquals("40 {default}", flag(s, "MinHeapFreeRatio"), "the pair is left as the command line set it");
            assertEquals(HeapPolicy.PERIODIC_GC_MILLIS + " {management}", flag(s, "G1PeriodicGCInterval"));
        }
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of("-XX:+UseSerialGC"), Map.of(), 0)) {
            assertEquals("70 {default}", flag(s, "MaxHeapFreeRatio"));
            assertFalse(s.output().contains("JVM defaults"), s.output());
        }
    }
}
