package holepunch.bench;

import holepunch.testing.TestRendezvous;

import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Bytes the rendezvous allocates per registration and per echo round trip, read from the JVM's
 * per-thread allocation counters of the server's own threads (its session loops, the HTTP
 * dispatcher and the virtual threads' carriers) with the load client in the same process:
 * garbage is what makes young collections, and they are what a burst's echo tail is made of.
 */
public final class AllocBench {
    private AllocBench() {
    }

    public static void main(String[] args) throws Exception {
        run();
    }

    /** Client and server sockets are in one process: 5,000 sessions, fewer under a low open-file limit. */
    static void run() throws Exception {
        long limit = ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean u
                ? u.getMaxFileDescriptorCount() : 20_000;
        int sessions = (int) Math.min(5000, (limit - 500) / 2 - 1000);
        if (sessions < 500) {
            System.out.println("holepunch rendezvous: allocation per registration skipped: open-file limit " + limit + " (ulimit -n) is too low");
            return;
        }
        run(sessions);
    }

    static void run(int sessions) throws Exception {
        holepunch.log.Log.setOutput(java.io.OutputStream.nullOutputStream());    // its lines are made (and counted), not shown
        try (TestRendezvous rv = new TestRendezvous(Map.of("MAX_SESSIONS_PER_IP", "1000000", "MAX_MESSAGES_PER_SEC", "1000000"));
             WsLoad load = new WsLoad(new InetSocketAddress("127.0.0.1", rv.port))) {
            load.register(1000, 512, "warm-", 120_000_000_000L);      // JIT and pools warm
            load.echo(100, 2.0);
            long setup0 = allocated(SETUP), loops0 = allocated(LOOPS);
            load.register(sessions, 512, "alloc-", 300_000_000_000L);
            double setup = (allocated(SETUP) - setup0) / (double) sessions, loops = (allocated(LOOPS) - loops0) / (double) sessions;
            loops0 = allocated(LOOPS);
            double[] echo = load.echo(100, 3.0);
            long messages = load.lastEchoCount();
            long perEcho = (allocated(LOOPS) - loops0) / Math.max(1, messages);
            System.out.printf(Locale.ROOT, "holepunch rendezvous: allocated per registration %.1f KB (connection setup %.1f KB, in the JDK's HttpServer"
                    + " mostly; session loops %.1f KB); per echo round trip %d bytes (%d round trips at %.0f msg/s, in-process client)%n",
                    (setup + loops) / 1024.0, setup / 1024.0, loops / 1024.0, perEcho, messages, echo[0]);
        } finally {
            holepunch.log.Log.setOutput(new java.io.FileOutputStream(java.io.FileDescriptor.out));
        }
    }

    /** The server's session loops. */
    static final Predicate<String> LOOPS = name -> name.startsWith("ws-loop-");
    /** Connection setup: the HTTP dispatcher and the virtual threads' carriers (their allocations are the carriers'). */
    static final Predicate<String> SETUP = name -> name.startsWith("HTTP-Dispatcher") || name.startsWith("ForkJoinPool");

    /** Bytes allocated so far by the server's threads whose names match (the load client's thread is not one). */
    static long allocated(Predicate<String> threads) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long[] ids = Thread.getAllStackTraces().keySet().stream().filter(t -> threads.test(t.getName())).mapToLong(Thread::threadId).toArray();
        return Arrays.stream(mx.getThreadAllocatedBytes(ids)).filter(b -> b > 0).sum();
    }
}
