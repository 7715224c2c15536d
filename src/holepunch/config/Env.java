package holepunch.config;

import java.util.Map;

/** Typed reads of environment variables, each failure naming the variable and the rule. */
public final class Env {
    private final Map<String, String> vars;

    public Env(Map<String, String> vars) {
        this.vars = vars;
    }

    /** The variables, as given. */
    public Map<String, String> asMap() {
        return Map.copyOf(vars);
    }

    public static Env system() {
        return new Env(System.getenv());
    }

    /** The value, or {@code fallback} when unset. An empty value counts as set. */
    public String string(String name, String fallback) {
        String v = vars.get(name);
        return v == null ? fallback : v.trim();
    }

    /** Whether any of {@code names} is set to something other than blanks. */
    public boolean anySet(String... names) {
        for (String n : names) {
            String v = vars.get(n);
            if (v != null && !v.isBlank()) return true;
        }
        return false;
    }

    public String required(String name, String meaning) {
        String v = vars.get(name);
        if (v == null || v.isBlank()) throw new ConfigException(name + " is not set: " + meaning);
        return v.trim();
    }

    public int integer(String name, int fallback, int min, int max) {
        String v = vars.get(name);
        if (v == null || v.isBlank()) return fallback;
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= min && n <= max) return n;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new ConfigException(name + " must be a whole number from " + min + " to " + max + ", got '" + v + "'");
    }

    public int port(String name, int fallback, boolean zeroAllowed) {
        return integer(name, fallback, zeroAllowed ? 0 : 1, 65535);
    }

    /** Seconds, fractions allowed (as the original's float()), returned as nanoseconds. */
    public long seconds(String name, double fallback, double min, double max) {
        String v = vars.get(name);
        double s = fallback;
        if (v != null && !v.isBlank()) {
            try {
                s = Double.parseDouble(v.trim());
            } catch (NumberFormatException e) {
                s = Double.NaN;
            }
            if (!(s >= min && s <= max)) {
                throw new ConfigException(name + " must be a number of seconds from " + min + " to " + max + ", got '" + v + "'");
            }
        }
        return (long) (s * 1e9);
    }

    /** true/false (also 1/0, yes/no); anything else names the variable. */
    public boolean bool(String name, boolean fallback) {
        String v = vars.get(name);
        if (v == null || v.isBlank()) return fallback;
        return switch (v.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "true", "1", "yes", "on" -> true;
            case "false", "0", "no", "off" -> false;
            default -> throw new ConfigException(name + " must be true or false, got '" + v + "'");
        };
    }
}
