package holepunch.rendezvous;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class RebalancerTest {
    @Test
    void movesOnlyTheExcessOverTheShareAndATenth_atMostTheRoundsBudget() {
        assertEquals(5, Rebalancer.toMove(20, List.of(0L), 5), "share 10, excess 10, budget 5");
        assertEquals(10, Rebalancer.toMove(20, List.of(0L), 100), "never below the share");
        assertEquals(0, Rebalancer.toMove(11, List.of(9L), 100), "within a tenth and 2 of the share");
        assertEquals(0, Rebalancer.toMove(5, List.of(50L, 40L), 100), "below its share");
        assertEquals(0, Rebalancer.toMove(100, List.of(), 100), "alone");
        assertEquals(333, Rebalancer.toMove(1000, List.of(1000L, 0L), 1000), "share 667 of 2000 on 3: each full one gives a third");
    }
}
