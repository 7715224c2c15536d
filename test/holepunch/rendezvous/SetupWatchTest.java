package holepunch.rendezvous;

import holepunch.metrics.MetricsTest;
import holepunch.testing.Await;
import holepunch.testing.Tools;
import holepunch.testing.ServiceProcess;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Connection setup starved of CPU is said, once per spell, with its cause and the setting that changes it. */
class SetupWatchTest {
    static final long OVER = TimeUnit.MILLISECONDS.toNanos(SetupWatch.WARN_MILLIS + 1);
    static final long UNDER = TimeUnit.MILLISECONDS.toNanos(2);
    static final long SECOND = 1_000_000_000L;

    @Test
    void threeLateMeasurementsOfFive_giveOneWarning_namingTheCauseAndSetupNice() {
        SetupWatch w = new SetupWatch("under SCHED_IDLE");
        assertNull(w.observe(OVER, 1 * SECOND));
        assertNull(w.observe(UNDER, 2 * SECOND));
        assertNull(w.observe(OVER, 3 * SECOND));
        assertNull(w.observe(UNDER, 4 * SECOND));
        String line = w.observe(OVER, 5 * SECOND);
        assertNotNull(line);
        assertTrue(line.contains("running under SCHED_IDLE") && line.contains("took 101 ms for 10 wake-ups") && line.contains("SETUP_NICE=10"), line);
        assertNull(w.observe(OVER, 6 * SECOND), "one line per spell");
        assertEquals(OVER / 1e9, w.lastWaitSeconds());
    }

    @Test
    void twoLateMeasurementsOfFive_sayNothing() {
        SetupWatch w = new SetupWatch("under SCHED_IDLE");
        for (long wait : new long[]{OVER, UNDER, UNDER, UNDER, OVER, UNDER, UNDER, UNDER, OVER, OVER}) assertNull(w.observe(wait, SECOND));
        assertEquals(OVER / 1e9, w.lastWaitSeconds());
    }

    @Test
    void aLaterSpell_isSaidAgainOnlyAfterTheRepeatInterval() {
        SetupWatch w = new SetupWatch("at nice 19");
        long t = 0;
        for (int i = 0; i < 3; i++) w.observe(OVER, t += SECOND);
        for (int i = 0; i < SetupWatch.WINDOW; i++) w.observe(UNDER, t += SECOND);       // the spell ends
        for (int i = 0; i < 3; i++) assertNull(w.observe(OVER, t += SECOND), "a second spell within the interval");
        for (int i = 0; i < SetupWatch.WINDOW - 1; i++) w.observe(UNDER, t += SECOND);
        w.observe(UNDER, t += TimeUnit.MINUTES.toNanos(SetupWatch.REPEAT_MINUTES));
        w.observe(OVER, t += SECOND);
        w.observe(OVER, t += SECOND);
        String line = w.observe(OVER, t + SECOND);
        assertNotNull(line, "a spell past the interval");
        assertTrue(line.contains("a lower SETUP_NICE"), line);
    }

    /** The gauge in the real process's /metrics, which promtool passes. */
    @Test
    @Tag("slow")
    void theWaitIsAGauge_thatPromtoolPasses() throws Exception {
        Tools.require("promtool", "prometheus");
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of(), Map.of(), 0)) {
            HttpClient http = HttpClient.newHttpClient();
            String[] text = {""};
            Await.until(Duration.ofSeconds(20), "a first measurement", () -> {
                text[0] = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
                return text[0].lines().anyMatch(l -> l.startsWith("holepunch_setup_cpu_wait_seconds ") && !l.endsWith(" 0") && !l.endsWith(" 0.0"));
            });
            assertTrue(text[0].contains("# TYPE holepunch_setup_cpu_wait_seconds gauge"), text[0]);
            assertEquals("0 ", MetricsTest.promtool(text[0]));
        }
    }

    /** The real process under SCHED_IDLE, on a host whose cores another process keeps busy (four spinning threads per core). */
    @Test
    @Tag("slow")
    void aHostKeptBusy_isReported_byTheRendezvous() throws Exception {
        try (ServiceProcess s = ServiceProcess.rendezvous(List.of(), Map.of("SETUP_NICE", "idle"), 0)) {
            Await.until(Duration.ofSeconds(20), "setup lowered", () -> s.output().contains("connection setup runs under SCHED_IDLE"));
            AtomicBoolean spin = new AtomicBoolean(true);
            List<Thread> hogs = new ArrayList<>();
            try {
                for (int i = 0; i < 4 * Runtime.getRuntime().availableProcessors(); i++) {
                    hogs.add(Thread.ofPlatform().daemon().start(() -> {
                        long x = 0;
                        while (spin.get()) x++;
                        if (x == 42) System.out.print("");
                    }));
                }
                Await.until(Duration.ofSeconds(30), "the starvation warning", () -> s.output().contains("ms 3 of the last 5 times"));
            } finally {
                spin.set(false);                          // before the service stops
                for (Thread h : hogs) h.join(5000);
            }
            assertTrue(s.output().contains("SETUP_NICE=10"), s.output());
        }
    }
}
