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

    static final List<String> TYPES = List.of("fullcone", "restricted", "cone", "bare", "symmetric", "cgnat", "symmetric-upnp", "ipv6");

    /** NATLAB_REPEAT=N runs each pair N times (fresh lab each time) and shows how many ended direct. */
    public static void main(String[] args) throws Exception {
        List<String> types = args.length > 0 ? List.of(args) : TYPES;
        int repeat = Integer.parseInt(System.getenv().getOrDefault("NATLAB_REPEAT", "1"));
        Map<String, String> cells = new LinkedHashMap<>();
        List<String> details = new ArrayList<>();
        for (int i = 0; i < types.size(); i++) {
            for (int j = i; j < types.size(); j++) {
                String a = types.get(i), b = types.get(j);
                String cell;
                List<String> runs = new ArrayList<>();
                for (int n = 0; n < repeat; n++) {
                    try {
                        runs.add(cell(a, b, details));
                    } catch (Exception | AssertionError e) {
                        runs.add("error");
                        details.add(a + " x " + b + ": " + e);
                    }
                }
                cell = repeat == 1 ? runs.getFirst() : summary(runs);
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

    /** NATLAB_WORKER_ENV="P2P_PRIME_TTL=0,P2P_HARD_NAT=false": settings for both workers (experiments). */
    static Map<String, String> workerEnv() {
        Map<String, String> env = new LinkedHashMap<>();
        for (String kv : System.getenv().getOrDefault("NATLAB_WORKER_ENV", "").split(",")) {
            int eq = kv.indexOf('=');
            if (eq > 0) env.put(kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
        }
        return env;
    }

    /** "direct 9/10 (p50 812 ms, hard-nat)" from runs like "direct 812 ms, hard-nat". */
    static String summary(List<String> runs) {
        List<String> direct = runs.stream().filter(r -> r.startsWith("direct ")).toList();
        if (direct.isEmpty()) return runs.getFirst() + " " + runs.size() + "/" + runs.size();
        List<Long> ms = direct.stream().map(r -> Long.parseLong(r.split(" ")[1])).sorted().toList();
        String technique = direct.getFirst().substring(direct.getFirst().indexOf(", ") + 2);
        return "direct " + direct.size() + "/" + runs.size() + " (p50 " + ms.get(ms.size() / 2) + " ms, " + technique + ")";
    }

    @SuppressWarnings("unchecked")
    private static String cell(String natA, String natB, List<String> details) throws Exception {
        try (Lab lab = new Lab(natA, natB, "routed")) {
            lab.rendezvous();
            lab.aAsksForB(workerEnv());
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
                return "direct " + ms + " ms, " + peer.get("technique");
            }
            if ("relay".equals(state)) {
                details.add(natA + " x " + natB + ": relay: " + peer.get("detail"));
                for (String line : lab.logs().split("\n")) {
                    if (line.matches(".*(hard-NAT|extra sockets|random ports|STUN result|end-to-end keys).*")) details.add("    " + line);
                }
                return "relay";
            }
            details.add(natA + " x " + natB + ": no outcome within 60 s (state " + state + ")");
            return "none";
        }
    }
}
