package holepunch.rendezvous;

import holepunch.json.Json;
import holepunch.testing.Chromium;
import holepunch.testing.RawWebSocket;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator page ({@code /ui}) in a real browser (Debian's chromium, headless) against a live
 * rendezvous with workers and pairs: what a person sees, read from the DOM after the page's scripts
 * ran, and a console with nothing in it.
 */
@Tag("slow")
class OperatorPageTest {
    private static Map<String, Object> next(RawWebSocket ws) throws Exception {
        return Json.parseObject(ws.readSkippingPings().text());
    }

    private static RawWebSocket registered(TestRendezvous rv, String id, String nat, int port) throws Exception {
        RawWebSocket ws = RawWebSocket.connect(rv.port, id);
        ws.sendText(Json.write(Json.obj("type", "update_udp_endpoint", "udp_ip", "198.51.100.7", "udp_port", port,
                "nat_mapping", nat, "host_candidates", List.of("[2001:db8::7]:" + port))));
        assertEquals("success", next(ws).get("status"));
        return ws;
    }

    /** {@code from} asks for {@code to}: both read their offer; the pair's id. */
    private static String pair(RawWebSocket from, RawWebSocket to, String toId) throws Exception {
        from.sendText(Json.write(Json.obj("type", "request_p2p_connection", "target_worker_id", toId)));
        String id = (String) next(from).get("pair_id");
        assertEquals(id, next(to).get("pair_id"));
        return id;
    }

    private static void report(RawWebSocket ws, String pair, String state, String technique, Integer rtt, String detail) throws Exception {
        ws.sendText(Json.write(Json.obj("type", "p2p_connection_status", "pair_id", pair, "state", state, "technique", technique,
                "remote", "198.51.100.7:40000", "rtt_ms", rtt, "detail", detail)));
        ws.sendText(Json.write(Json.obj("type", "echo_request", "payload", "sync")));     // in order: recorded once echoed
        assertEquals("echo_response", next(ws).get("type"));
    }

    /** The text of the element with {@code attribute="value"} (its whole serialized content). */
    private static String element(String dom, String tag, String attribute, String value) {
        Matcher m = Pattern.compile("<" + tag + "[^>]*" + attribute + "=\"" + Pattern.quote(value) + "\"[^>]*>(.*?)</" + tag + ">",
                Pattern.DOTALL).matcher(dom);
        assertTrue(m.find(), "no <" + tag + " " + attribute + "=\"" + value + "\"> in:\n" + dom);
        return m.group(1);
    }

    private static String byId(String dom, String id) {
        return element(dom, "b", "id", id);
    }

    @Test
    void aPersonSeesTheFleet_itsPairsAndWhyOneIsRelayed_andTheCharts() throws Exception {
        try (TestRendezvous rv = new TestRendezvous();
             RawWebSocket a = registered(rv, "pg-a", "endpoint-independent", 40001);
             RawWebSocket b = registered(rv, "pg-b", "endpoint-independent", 40002);
             RawWebSocket c = registered(rv, "pg-c", "endpoint-dependent", 40003);
             RawWebSocket d = registered(rv, "pg-d", "endpoint-dependent", 40004)) {
            String ab = pair(a, b, "pg-b");
            report(b, ab, "direct", "stun", 12, null);
            report(a, ab, "direct", "stun", 11, null);
            String cd = pair(c, d, "pg-d");
            String why = "both NATs map endpoint-dependently <img src=x onerror=alert(1)>";
            report(c, cd, "relay", null, null, why);
            report(d, cd, "relay", null, null, "no port mapping");
            String ac = pair(a, c, "pg-c");     // nobody reports: pending

            Chromium.Page page = Chromium.load(rv.base() + "/ui", 5000);
            String dom = page.dom();
            assertEquals(List.of(), page.console(), "the console stays empty");
            assertTrue(dom.contains("<div id=\"errors\" role=\"alert\" hidden=\"\">"), "no page error shown:\n" + dom);
            assertEquals("4", byId(dom, "sessions"));
            assertEquals("3", byId(dom, "live-pairs"));
            assertEquals("2", byId(dom, "pairs-hour"), "two pairs decided, one pending");
            assertEquals("50%", byId(dom, "direct-rate"));

            String direct = element(dom, "tr", "data-pair", ab);
            assertTrue(direct.contains("pg-a → pg-b") && direct.contains(">direct<") && direct.contains(">stun<") && direct.contains(">11 ms<"),
                    direct);
            String relayed = element(dom, "tr", "data-pair", cd);
            assertTrue(relayed.contains(">relay<"), relayed);
            assertTrue(relayed.contains("pg-c: both NATs map endpoint-dependently &lt;img src=x onerror=alert(1)&gt;"), "the why, as text: " + relayed);
            assertTrue(relayed.contains("pg-d: no port mapping"), relayed);
            assertFalse(dom.contains("<img"), "a worker's text never becomes markup");
            assertTrue(element(dom, "tr", "data-pair", ac).contains(">pending<"));

            String outcomes = element(dom, "svg", "id", "chart-outcomes");
            assertTrue(outcomes.contains("data-kind=\"direct\" data-count=\"1\""), outcomes);
            assertTrue(outcomes.contains("data-kind=\"relay\" data-count=\"1\""), outcomes);
            Matcher ttd = Pattern.compile("data-bucket=\"[^\"]+\" data-count=\"(\\d+)\"").matcher(element(dom, "svg", "id", "chart-ttd"));
            int pairsTimed = 0;
            while (ttd.find()) pairsTimed += Integer.parseInt(ttd.group(1));
            assertEquals(1, pairsTimed, "one pair went direct, timed once");
            assertEquals("100% of 1", element(dom, "td", "data-nat", "endpoint-independent|endpoint-independent"));
            assertEquals("0% of 1", element(dom, "td", "data-nat", "endpoint-dependent|endpoint-dependent"));

            String worker = element(dom, "tr", "data-worker", "pg-c");
            assertTrue(worker.contains(">endpoint-dependent<") && worker.contains(">198.51.100.7:40003<") && worker.contains("[2001:db8::7]:40003"),
                    worker);
            assertTrue(worker.contains("<td>2</td></tr>") || worker.endsWith("<td>2</td>"), "pg-c is in two live pairs: " + worker);
        }
    }

    @Test
    void theApi_findsPairsAndWorkersById_andNamesABadParameter() throws Exception {
        try (TestRendezvous rv = new TestRendezvous();
             RawWebSocket a = registered(rv, "api-a", "endpoint-independent", 40011);
             RawWebSocket b = registered(rv, "api-b", "endpoint-independent", 40012);
             RawWebSocket c = registered(rv, "api-c", "unknown", 40013)) {
            pair(a, b, "api-b");
            pair(c, a, "api-a");
            Map<String, Object> pairs = Json.parseObject(rv.get("/debug/pairs?q=api-c").body());
            assertEquals(1L, pairs.get("matched"));
            assertEquals("api-c", ((Map<?, ?>) ((List<?>) pairs.get("pairs")).getFirst()).get("initiator"));
            assertEquals(2L, Json.parseObject(rv.get("/debug/pairs?q=api-a").body()).get("matched"));
            Map<String, Object> workers = Json.parseObject(rv.get("/debug/workers?q=api-&limit=2").body());
            assertEquals(3L, workers.get("matched"));
            List<?> shown = (List<?>) workers.get("workers");
            assertEquals(List.of("api-a", "api-b"), shown.stream().map(w -> ((Map<?, ?>) w).get("worker_id")).toList(), "in id order");
            assertEquals(2L, ((Map<?, ?>) shown.getFirst()).get("live_pairs"));
            assertEquals(400, rv.get("/debug/pairs?limit=0").statusCode());
            assertTrue(rv.get("/debug/workers?lmit=5").body().contains("unknown query parameter 'lmit'"));
            assertTrue(rv.get("/debug/workers?q=" + "x".repeat(200)).body().contains("'q' is longer than"));
            assertEquals("query parameter 'q' is not URL-encoded text",
                    assertThrows(IllegalArgumentException.class, () -> OperatorApi.query("q=%zz")).getMessage());
            Map<String, Object> stats = Json.parseObject(rv.get("/debug/stats").body());
            assertEquals(3L, stats.get("sessions"));
            assertEquals(2L, ((Map<?, ?>) stats.get("totals")).get("introduced"));
            assertEquals(FleetStats.MINUTES, ((List<?>) stats.get("minutes")).size());
        }
    }

    @Test
    void withAToken_thePageAsksForIt_andShowsNothingUntilItIsRight() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("RENDEZVOUS_TOKEN", "page-s3cret"))) {
            assertEquals(200, rv.get("/ui").statusCode(), "the page itself holds no data");
            assertEquals(401, rv.get("/debug/stats").statusCode());
            assertEquals(401, rv.get("/debug/pairs").statusCode());

            String asked = Chromium.load(rv.base() + "/ui", 3000).dom();
            assertTrue(asked.contains("<form id=\"token-form\">"), "the prompt shows:\n" + asked);
            assertTrue(asked.contains("<main id=\"main\" hidden=\"\">"), "and nothing else");

            String wrong = Chromium.load(rv.base() + "/ui#token=guess", 3000).dom();
            assertEquals("that token was refused", element(wrong, "span", "id", "token-problem"));

            Chromium.Page right = Chromium.load(rv.base() + "/ui#token=page-s3cret", 3000);
            assertTrue(right.dom().contains("<main id=\"main\">"), right.dom());
            assertEquals("0", byId(right.dom(), "sessions"));
            assertEquals(List.of(), right.console());
        }
    }
}
