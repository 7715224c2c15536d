package holepunch.rendezvous;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PairHistoryTest {
    @Test
    void onlyAPairsTwoSides_reportItsOutcome() {
        PairHistory h = new PairHistory();
        h.opened("p1", "a", "b");
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
        PairHistory h = new PairHistory();
        for (int i = 0; i < PairHistory.SIZE + 5; i++) h.opened("p" + i, "a", "b");
        List<Map<String, Object>> all = h.json(id -> false);
        assertEquals(PairHistory.SIZE, all.size());
        assertEquals("p5", all.getFirst().get("pair_id"));
        assertFalse(h.reported("p0", "a", Map.of()), "p0 is gone");
    }
}
