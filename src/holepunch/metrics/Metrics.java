package holepunch.metrics;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.DoubleSupplier;

/**
 * Counters and gauges rendered in the Prometheus text format (version 0.0.4). Series are created
 * on first use; label values come from small fixed sets (message types, close codes), so the
 * number of series stays bounded.
 */
public final class Metrics {
    private record Family(String type, String help) {
    }

    private final Map<String, Family> families = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> counters = new ConcurrentHashMap<>();
    private final Map<String, DoubleSupplier> gauges = new ConcurrentHashMap<>();
    private final Map<String, java.util.function.Supplier<Map<String, Double>>> gaugeSeries = new ConcurrentHashMap<>();
    private final Map<String, Histogram> histograms = new ConcurrentHashMap<>();

    /**
     * A histogram with fixed upper bounds (Prometheus {@code _bucket{le=...}}, {@code _sum}, {@code _count}):
     * a fixed number of series whatever is observed.
     */
    public Histogram histogram(String name, String help, double... bounds) {
        families.put(name, new Family("histogram", help));
        return histograms.computeIfAbsent(name, k -> new Histogram(bounds));
    }

    /** Observations counted in fixed buckets; the last bucket is {@code +Inf}. */
    public static final class Histogram {
        private final double[] bounds;
        private final LongAdder[] counts;
        private final java.util.concurrent.atomic.DoubleAdder sum = new java.util.concurrent.atomic.DoubleAdder();

        private Histogram(double[] bounds) {
            for (int i = 1; i < bounds.length; i++) {
                if (!(bounds[i] > bounds[i - 1])) throw new IllegalArgumentException("histogram bounds must increase");
            }
            this.bounds = bounds.clone();
            this.counts = new LongAdder[bounds.length + 1];
            for (int i = 0; i < counts.length; i++) counts[i] = new LongAdder();
        }

        public void observe(double v) {
            int i = 0;
            while (i < bounds.length && v > bounds[i]) i++;
            counts[i].increment();
            sum.add(v);
        }

        /** Observations per bucket (not cumulative), the last one above every bound. */
        public long[] counts() {
            long[] out = new long[counts.length];
            for (int i = 0; i < out.length; i++) out[i] = counts[i].sum();
            return out;
        }

        void render(String name, StringBuilder sb) {
            long cumulative = 0;
            for (int i = 0; i <= bounds.length; i++) {
                cumulative += counts[i].sum();
                String le = i == bounds.length ? "+Inf" : number(bounds[i]);
                sb.append(name).append("_bucket{le=\"").append(le).append("\"} ").append(cumulative).append('\n');
            }
            sb.append(name).append("_sum ").append(number(sum.sum())).append('\n');
            sb.append(name).append("_count ").append(cumulative).append('\n');
        }

        private static String number(double v) {
            return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
        }
    }

    public void counterFamily(String name, String help) {
        families.put(name, new Family("counter", help));
    }

    /** Adds one to the counter {@code name} with labels given as key, value, key, value... */
    public void inc(String name, String... labels) {
        add(name, 1, labels);
    }

    public void add(String name, long amount, String... labels) {
        adder(name, labels).add(amount);
    }

    private LongAdder adder(String name, String... labels) {
        return counters.computeIfAbsent(series(name, labels), k -> new LongAdder());
    }

    /**
     * One series of a counter, looked up once: for paths taken per message, where building the
     * series' name each time would be garbage per message.
     */
    public Counter counter(String name, String... labels) {
        return new Counter(adder(name, labels));
    }

    /** A counter series held by its user. */
    public static final class Counter {
        private final LongAdder adder;

        private Counter(LongAdder adder) {
            this.adder = adder;
        }

        public void inc() {
            adder.increment();
        }

        public void add(long amount) {
            adder.add(amount);
        }

        public long value() {
            return adder.sum();
        }
    }

    /** Removes one series of a counter (its subject is gone); a handle to it counts on, unseen. */
    public void remove(String name, String... labels) {
        counters.remove(series(name, labels));
    }

    public long value(String name, String... labels) {
        LongAdder a = counters.get(series(name, labels));
        return a == null ? 0 : a.sum();
    }

    /** Every series of counter {@code name}: its label text (as {@code reason="x"}) to its value. */
    public Map<String, Long> counterSeries(String name) {
        Map<String, Long> out = new TreeMap<>();
        String prefix = name + "{";
        for (Map.Entry<String, LongAdder> e : counters.entrySet()) {
            String k = e.getKey();
            if (k.startsWith(prefix)) out.put(k.substring(prefix.length(), k.length() - 1), e.getValue().sum());
            else if (k.equals(name)) out.put("", e.getValue().sum());
        }
        return out;
    }

    /** A counter whose value another component keeps (it only ever grows); named {@code *_total}. */
    public void counterFunction(String name, String help, DoubleSupplier value) {
        families.put(name, new Family("counter", help));
        gauges.put(name, value);
    }

    public void gauge(String name, String help, DoubleSupplier value) {
        families.put(name, new Family("gauge", help));
        gauges.put(name, value);
    }

    /** A gauge family whose series come and go (one per peer, say): label text such as {@code peer="b"} to value. */
    public void gaugeSeries(String name, String help, java.util.function.Supplier<Map<String, Double>> series) {
        families.put(name, new Family("gauge", help));
        gaugeSeries.put(name, series);
    }

    /** The label part of a series name: {@code labels("peer", "b")} is {@code peer="b"}. */
    public static String labels(String... keysAndValues) {
        String s = series("x", keysAndValues);
        return s.substring(2, s.length() - 1);
    }

    private static String series(String name, String... labels) {
        if (labels.length == 0) return name;
        StringBuilder sb = new StringBuilder(name).append('{');
        for (int i = 0; i < labels.length; i += 2) {
            if (i > 0) sb.append(',');
            sb.append(labels[i]).append("=\"").append(escape(labels[i + 1])).append('"');
        }
        return sb.append('}').toString();
    }

    private static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** The exposition text: HELP and TYPE once per family, then its series in name order. */
    public String render() {
        Map<String, StringBuilder> byFamily = new TreeMap<>();
        for (Map.Entry<String, LongAdder> e : new TreeMap<>(counters).entrySet()) {
            String family = e.getKey().contains("{") ? e.getKey().substring(0, e.getKey().indexOf('{')) : e.getKey();
            byFamily.computeIfAbsent(family, k -> new StringBuilder()).append(e.getKey()).append(' ').append(e.getValue().sum()).append('\n');
        }
        for (Map.Entry<String, DoubleSupplier> e : gauges.entrySet()) {
            double v = e.getValue().getAsDouble();
            String text = Double.isNaN(v) ? "NaN" : v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
            byFamily.computeIfAbsent(e.getKey(), k -> new StringBuilder()).append(e.getKey()).append(' ').append(text).append('\n');
        }
        for (Map.Entry<String, java.util.function.Supplier<Map<String, Double>>> e : gaugeSeries.entrySet()) {
            StringBuilder sb = byFamily.computeIfAbsent(e.getKey(), k -> new StringBuilder());
            for (Map.Entry<String, Double> v : new TreeMap<>(e.getValue().get()).entrySet()) {
                sb.append(e.getKey()).append('{').append(v.getKey()).append("} ").append(v.getValue().longValue()).append('\n');
            }
        }
        for (Map.Entry<String, Histogram> e : histograms.entrySet()) {
            e.getValue().render(e.getKey(), byFamily.computeIfAbsent(e.getKey(), k -> new StringBuilder()));
        }
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, Family> f : new TreeMap<>(families).entrySet()) {
            out.append("# HELP ").append(f.getKey()).append(' ').append(f.getValue().help()).append('\n');
            out.append("# TYPE ").append(f.getKey()).append(' ').append(f.getValue().type()).append('\n');
            StringBuilder series = byFamily.remove(f.getKey());
            if (series != null) out.append(series);
            else if (f.getValue().type().equals("counter")) out.append(f.getKey()).append(" 0\n");
        }
        byFamily.values().forEach(out::append);
        return out.toString();
    }
}
