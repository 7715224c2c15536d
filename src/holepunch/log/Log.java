package holepunch.log;

import holepunch.json.Json;

import java.io.PrintStream;
import java.time.Instant;

/**
 * One line per event on standard output, naming the worker it concerns. {@code LOG_FORMAT=json}
 * writes one JSON object per line with {@code severity}, {@code message} and {@code worker_id}
 * (the fields Cloud Logging reads). Callers must never pass secrets.
 */
public final class Log {
    public enum Level { DEBUG, INFO, WARNING, ERROR }

    private static volatile boolean json = "json".equalsIgnoreCase(System.getenv("LOG_FORMAT"));
    private static volatile PrintStream out = System.out;

    private final String component;

    private Log(String component) {
        this.component = component;
    }

    public static Log of(String component) {
        return new Log(component);
    }

    public static void useJson(boolean value) {
        json = value;
    }

    public void info(String workerId, String message) {
        write(Level.INFO, workerId, message);
    }

    public void warn(String workerId, String message) {
        write(Level.WARNING, workerId, message);
    }

    public void error(String workerId, String message) {
        write(Level.ERROR, workerId, message);
    }

    public void write(Level level, String workerId, String message) {
        String line;
        String oneLine = message.replace('\n', ' ').replace('\r', ' ');
        if (json) {
            line = Json.write(Json.obj("time", Instant.now().toString(), "severity", level.name(),
                    "component", component, "worker_id", workerId, "message", oneLine));
        } else {
            line = Instant.now() + " " + level + " " + component
                    + (workerId == null ? "" : " worker=" + workerId) + " " + oneLine;
        }
        out.println(line);
    }
}
