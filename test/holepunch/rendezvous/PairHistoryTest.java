package holepunch.rendezvous;

import holepunch.metrics.Metrics;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PairHistoryTest {
    private final AtomicLong clock = new AtomicLong(1_800_000_000_000L);
    private final Metrics metrics = new Metrics();
    private final FleetStats stats = new FleetStats(metrics, () -> 0, clock::get);
    private final PairHistory h = new PairHistory(stats, p -> 0, clock::get);

    @Test
    void onlyAPairsTwoSides_reportItsOutcome() {
        h.opened("p1", "a", "b", null, null, null);
        assertTrue(h.reported("p1", "b", Map.of("state", "direct")));
        assertFalse(h.reported("p1", "stranger", Map.of("state", "direct")), "a worker outside the pair");
        assertFalse(h.reported("p2", "a", Map.of("state", "direct")), "no such pair");
        assertFalse(h.reported(null, "a", Map.of("state", "direct")));
        Map<String, Object> p1 = h.json(id -> id.equals("p1")).getFirst();
        assertEquals(true, p1.get("live"));
        assertEquals(Map.of("b", Map.of("state", "direct")), p1.get("outcomes"));
    }

    @Test
    void keepsTheLastPairs_theOldestGoesFirst() {
        for (int i = 0; i < PairHistory.SIZE + 5; i++) h.opened("p" + i, "a", "b", null, null, null);
        List<Map<String, Object>> all = h.json(id -> false);
        assertEquals(PairHistory.SIZE, all.size());
        assertEquals("p5", all.getFirst().get("pair_id"));
        assertFalse(h.reported("p0", "a", Map.of()), "p0 is gone");
    }

    @Test
    void aPairsFirstOutcome_isCountedOnce_andItsTimeToDirectWhenItFirstGoesDirect() {
        h.opened("p1", "a", "b", "endpoint-dependent", "endpoint-independent", null);
        clock.addAndGet(300);
        h.reported("p1", "a", Map.of("state", "connecting"));
        assertNull(h.json(id -> true).getFirst().get("outcome"), "connecting decides nothing");
        h.reported("p1", "a", Map.of("state", "relay"));
        h.reported("p1", "b", Map.of("state", "relay"));
        clock.addAndGet(1200);
        h.reported("p1", "a", Map.of("state", "direct", "technique", "hard-nat"));
        h.reported("p1", "b", Map.of("state", "direct", "technique", "hard-nat"));
        Map<String, Object> p1 = h.json(id -> true).getFirst();
        assertEquals("direct", p1.get("outcome"));
        assertEquals("hard-nat", p1.get("technique"));
        assertEquals(1500L, p1.get("time_to_direct_ms"), "from the introduction to the first direct report");
        assertEquals(1, metrics.value("holepunch_pairs_total", "outcome", "relay", "technique", "none"), "its first outcome, once");
        assertEquals(0, metrics.value("holepunch_pairs_total", "outcome", "direct", "technique", "hard-nat"));
        Map<?, ?> totals = (Map<?, ?>) stats.json().get("totals");
        assertEquals(1L, totals.get("introduced"));
        assertEquals(1L, totals.get("relay"));
        List<?> grid = (List<?>) stats.json().get("nat_grid");
        assertEquals(List.of(Map.of("initiator_nat", "endpoint-dependent", "responder_nat", "endpoint-independent",
                "direct", 0L, "relay", 1L, "failed", 0L)), grid);
        assertEquals(List.of(0L, 0L, 0L, 0L, 1L, 0L, 0L, 0L, 0L, 0L), ((Map<?, ?>) stats.json().get("time_to_direct")).get("counts"),
                "1.5 s is in the (1, 2] bucket");
        assertTrue(metrics.render().contains("holepunch_time_to_direct_seconds_bucket{le=\"2\"} 1\n"), metrics.render());
    }

    @Test
    void turnCountsAsRelayed_andAnUnknownTechniqueAsOther() {
        h.opened("p1", "a", "b", null, null, null);
        h.opened("p2", "a", "c", null, null, null);
        h.reported("p1", "a", Map.of("state", "direct", "technique", "turn"));
        h.reported("p2", "a", Map.of("state", "direct", "technique", "carrier-pigeon"));
        assertEquals(1, metrics.value("holepunch_pairs_total", "outcome", "relay", "technique", "turn"));
        assertEquals(1, metrics.value("holepunch_pairs_total", "outcome", "direct", "technique", "other"));
        assertNull(h.json(id -> true).getFirst().get("time_to_direct_ms"), "TURN is not direct");
    }

    @Test
    void search_findsPairsByEitherWorkerOrId_newestFirst_upToTheLimit() {
        for (int i = 0; i < 30; i++) h.opened(String.format("%016x", i), "w" + i, i % 2 == 0 ? "even" : "odd", null, null, null);
        Map<String, Object> odd = h.search("odd", 5, id -> false);
        assertEquals(15, odd.get("matched"));
        List<?> pairs = (List<?>) odd.get("pairs");
        assertEquals(5, pairs.size());
        assertEquals("w29", ((Map<?, ?>) pairs.getFirst()).get("initiator"), "newest first");
        assertEquals(1, h.search("w7", 10, id -> false).get("matched"));
        assertEquals(30, h.search("", 100, id -> false).get("matched"));
        assertEquals(0, h.search("nobody", 100, id -> false).get("matched"));
    }

    @Test
    void relayedBytes_areGivenToTheMinuteTheyWereRelayedIn() {
        AtomicLong relayed = new AtomicLong(1000);
        FleetStats s = new FleetStats(new Metrics(), relayed::get, clock::get);
        s.introduced();                          // this minute begins at 1000
        relayed.addAndGet(500);
        clock.addAndGet(60_000L);
        s.introduced();                          // the next at 1500
        relayed.addAndGet(70);
        List<?> minutes = (List<?>) s.json().get("minutes");
        assertEquals(500L, ((Map<?, ?>) minutes.get(FleetStats.MINUTES - 2)).get("relayed_bytes"));
        assertEquals(70L, ((Map<?, ?>) minutes.getLast()).get("relayed_bytes"));
    }

    @Test
    void theHour_rollsOnByTheMinute_andForgetsWhatIsOlder() {
        h.opened("p1", "a", "b", null, null, null);
        clock.addAndGet(61 * 60_000L);            // an hour and a minute later
        h.opened("p2", "a", "b", null, null, null);
        List<?> minutes = (List<?>) stats.json().get("minutes");
        assertEquals(FleetStats.MINUTES, minutes.size());
        long inHour = minutes.stream().mapToLong(m -> (Long) ((Map<?, ?>) m).get("introduced")).sum();
        assertEquals(1, inHour, "only the pair of this hour");
        assertEquals(1L, ((Map<?, ?>) minutes.getLast()).get("introduced"));
        assertEquals(2L, ((Map<?, ?>) stats.json().get("totals")).get("introduced"), "totals are since start");
    }
}
