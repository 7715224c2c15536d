package holepunch.metrics;

import holepunch.testing.Tools;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Prometheus text exposition format (version 0.0.4) and promtool's naming rules: HELP and TYPE
 * once per family before its samples, counters (and only counters) named {@code *_total},
 * base units ({@code _seconds}, {@code _bytes}), label values escaped.
 */
public class MetricsTest {
    static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\")*)})? (-?[0-9.eE+-]+|NaN|[+-]Inf)");

    /** Checks {@code text} against the format's rules. */
    public static void assertExposition(String text) {
        Map<String, String> types = new HashMap<>();
        String current = null;
        for (String line : text.split("\n")) {
            if (line.startsWith("# HELP ")) {
                current = line.split(" ")[2];
                assertTrue(line.length() > ("# HELP " + current + " ").length(), "empty HELP: " + line);
            } else if (line.startsWith("# TYPE ")) {
                String[] p = line.split(" ");
                assertEquals(current, p[2], "TYPE right after its HELP: " + line);
                assertTrue(List.of("counter", "gauge", "histogram").contains(p[3]), line);
                assertTrue(types.put(p[2], p[3]) == null, "family declared twice: " + p[2]);
                assertEquals(p[3].equals("counter"), p[2].endsWith("_total"), "counters, and only counters, end in _total: " + p[2]);
                assertTrue(!p[2].matches(".*_(ms|msec|millis|milliseconds|sec|secs|us|kb|mb)(_|$).*"), "base units only: " + p[2]);
            } else {
                Matcher m = SAMPLE.matcher(line);
                assertTrue(m.matches(), "not a sample line: " + line);
                String family = "histogram".equals(types.get(current)) ? m.group(1).replaceFirst("_(bucket|sum|count)$", "") : m.group(1);
                assertEquals(current, family, "a sample outside its family's block: " + line);
                if (!family.equals(m.group(1))) assertEquals(m.group(1).endsWith("_bucket"), m.group(3) != null && m.group(3).startsWith("le="), line);
            }
        }
    }

    @Test
    void render_followsTheExpositionFormatAndNamingRules() {
        Metrics m = new Metrics();
        m.counterFamily("demo_requests_total", "Requests, by outcome.");
        m.inc("demo_requests_total", "outcome", "ok");
        m.add("demo_requests_total", 3, "outcome", "bad \"quoted\" \\ and\nnewline");
        m.gauge("demo_rtt_seconds", "A round trip.", () -> 0.25);
        m.gauge("demo_unknown_seconds", "Not measured yet.", () -> Double.NaN);
        m.counterFunction("demo_datagrams_total", "Kept elsewhere.", () -> 7);
        m.gaugeSeries("demo_state", "1 per state.", () -> Map.of(Metrics.labels("peer", "b", "state", "direct"), 1.0));
        m.counterFamily("demo_never_total", "Not counted yet.");
        String text = m.render();
        assertExposition(text);
        assertTrue(text.contains("demo_requests_total{outcome=\"bad \\\"quoted\\\" \\\\ and\\nnewline\"} 3\n"), text);
        assertTrue(text.contains("# TYPE demo_datagrams_total counter\ndemo_datagrams_total 7\n"), text);
        assertTrue(text.contains("demo_unknown_seconds NaN\n"), text);
        assertTrue(text.contains("demo_never_total 0\n"), "a counter with no samples yet shows 0");
    }

    @Test
    void aHistogram_countsEachObservationInItsBucket_andRendersCumulatively() {
        Metrics m = new Metrics();
        Metrics.Histogram h = m.histogram("demo_wait_seconds", "A wait.", 0.5, 1, 2.5);
        h.observe(0.25);
        h.observe(0.5);       // a bound is its own bucket's (le: less than or equal)
        h.observe(2);
        h.observe(9);
        assertArrayEquals(new long[] {2, 0, 1, 1}, h.counts());
        String text = m.render();
        assertExposition(text);
        assertTrue(text.contains("# TYPE demo_wait_seconds histogram\n"
                + "demo_wait_seconds_bucket{le=\"0.5\"} 2\ndemo_wait_seconds_bucket{le=\"1\"} 2\n"
                + "demo_wait_seconds_bucket{le=\"2.5\"} 3\ndemo_wait_seconds_bucket{le=\"+Inf\"} 4\n"
                + "demo_wait_seconds_sum 11.75\ndemo_wait_seconds_count 4\n"), text);
        assertThrows(IllegalArgumentException.class, () -> m.histogram("demo_bad_seconds", "Bad.", 2, 1));
    }

    @Test
    void aHeldCounter_isTheSameSeriesAsNamedIncrements_andShowsFromZero() {
        Metrics m = new Metrics();
        m.counterFamily("demo_messages_total", "Messages, by type.");
        Metrics.Counter echo = m.counter("demo_messages_total", "type", "echo");
        m.counter("demo_messages_total", "type", "quiet");
        assertTrue(m.render().contains("demo_messages_total{type=\"quiet\"} 0\n"), m.render());
        echo.inc();
        echo.inc();
        m.inc("demo_messages_total", "type", "echo");
        assertEquals(3, m.value("demo_messages_total", "type", "echo"));
        assertEquals(3, m.counter("demo_messages_total", "type", "echo").value());
        assertExposition(m.render());
    }

    public static String promtool(String exposition) throws Exception {
        Process p = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
        p.getOutputStream().write(exposition.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(20, TimeUnit.SECONDS));
        return p.exitValue() + " " + out;
    }

    @Test
    @org.junit.jupiter.api.Tag("slow")
    void render_isCleanForPromtool_andPromtoolCatchesWhatTheRulesCatch() throws Exception {
        Tools.require("promtool", "prometheus");
        Metrics m = new Metrics();
        m.counterFamily("demo_requests_total", "Requests.");
        m.inc("demo_requests_total", "outcome", "ok");
        m.gauge("demo_rtt_seconds", "A round trip.", () -> 0.25);
        m.counterFunction("demo_datagrams_total", "Kept elsewhere.", () -> 7);
        assertEquals("0 ", promtool(m.render()));
        assertTrue(!promtool("# HELP x_ms A.\n# TYPE x_ms gauge\nx_ms 1\n").startsWith("0 "), "promtool refuses what the rules refuse");
    }
}
