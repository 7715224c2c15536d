package holepunch.bench;

import holepunch.lab.Lab;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code make natlab} (root): every pair of the lab's NAT types, two transit routers between the NATs, and a grid
 * like Tailscale's TestGrid: each cell is how the path between a worker behind the row's NAT and one behind the
 * column's NAT ended, and the time from the introduction to a direct path (rendezvous clock).
 */
final class NatGrid {
    private NatGrid() {
    }

    static final List<String> TYPES = List.of("fullcone", "cone", "bare", "symmetric");

    public static void main(String[] args) throws Exception {
        List<String> types = args.length > 0 ? List.of(args) : TYPES;
        Map<String, String> cells = new LinkedHashMap<>();
        List<String> details = new ArrayList<>();
        for (int i = 0; i < types.size(); i++) {
            for (int j = i; j < types.size(); j++) {
                String a = types.get(i), b = types.get(j);
                String cell;
                try {
                    cell = cell(a, b, details);
                } catch (Exception | AssertionError e) {
                    cell = "error";
                    details.add(a + " x " + b + ": " + e);
                }
                cells.put(a + "|" + b, cell);
                cells.put(b + "|" + a, cell);
                System.out.printf(Locale.ROOT, "natlab: %s x %s: %s%n", a, b, cell);
            }
        }
        StringBuilder grid = new StringBuilder("\n| A \\ B |");
        for (String t : types) grid.append(' ').append(t).append(" |");
        grid.append("\n|---|").append("---|".repeat(types.size())).append('\n');
        for (String r : types) {
            grid.append("| ").append(r).append(" |");
            for (String c : types) grid.append(' ').append(cells.get(r + "|" + c)).append(" |");
            grid.append('\n');
        }
        System.out.println(grid);
        for (String d : details) System.out.println("  " + d);
    }

    @SuppressWarnings("unchecked")
    private static String cell(String natA, String natB, List<String> details) throws Exception {
        try (Lab lab = new Lab(natA, natB, "routed")) {
            lab.rendezvous();
            lab.worker("hp-h2", "lab-b", null, Map.of());
            lab.worker("hp-h1", "lab-a", "lab-b", Map.of());
            long deadline = System.nanoTime() + 60_000_000_000L;
            String state = null;
            Map<String, Object> peer = Map.of();
            while (System.nanoTime() < deadline) {
                try {
                    peer = lab.peer("hp-h1", "10.1.0.2");
                    state = (String) peer.get("state");
                } catch (RuntimeException notUpYet) {
                    state = null;
                }
                if ("direct".equals(state) || "relay".equals(state)) break;
                Thread.sleep(100);    // polling another process's status page: there is no signal to wait on
            }
            if ("direct".equals(state)) {
                List<Map<String, Object>> pairs = (List<Map<String, Object>>) lab.getJson("hp-pub",
                        "http://203.0.113.1:8080/debug/list_workers").get("pairs");
                Map<String, Object> pair = pairs.getLast();
                Map<String, Object> outcome = (Map<String, Object>) ((Map<String, Object>) pair.get("outcomes")).get("lab-a");
                long ms = outcome == null ? -1 : (Long) outcome.get("at") - (Long) pair.get("created_ms");
                return "direct " + ms + " ms";
            }
            if ("relay".equals(state)) {
                details.add(natA + " x " + natB + ": relay: " + peer.get("detail"));
                return "relay";
            }
            details.add(natA + " x " + natB + ": no outcome within 60 s (state " + state + ")");
            return "none";
        }
    }
}
