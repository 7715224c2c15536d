package holepunch.log;

import holepunch.json.Json;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * One line per event on standard output, naming the worker it concerns. {@code LOG_FORMAT=json}
 * writes one JSON object per line with {@code severity}, {@code message} and {@code worker_id}
 * (the fields Cloud Logging reads); {@code LOG_LEVEL} (debug, info, warning, error) filters.
 * Lines are written by one background thread from a bounded lock-free queue, so a burst of events
 * never slows the service; when the queue is full, lines are dropped and the count is reported.
 * The writer wakes once when lines arrive after a quiet spell and then gathers what comes in
 * within {@link #LINGER_NANOS} into one write, so a burst costs one write per millisecond, not a
 * write and a thread wake-up per line.
 * Callers must never pass secrets.
 */
public final class Log {
    public enum Level { DEBUG, INFO, WARNING, ERROR }

    static final int QUEUE_LINES = 16_384;
    private static final long LINGER_NANOS = 1_000_000;
    private static final ConcurrentLinkedQueue<String> QUEUE = new ConcurrentLinkedQueue<>();
    /** Set by the writer before it parks with an empty queue; the producer that clears it unparks it. */
    private static final AtomicBoolean WRITER_IDLE = new AtomicBoolean();
    private static final AtomicLong DROPPED = new AtomicLong();
    /** Lines queued but not yet written. */
    private static final AtomicLong PENDING = new AtomicLong();
    private static final Object FLUSHED = new Object();
    private static volatile boolean json = "json".equalsIgnoreCase(System.getenv("LOG_FORMAT"));
    private static volatile Level threshold = parseLevel(System.getenv("LOG_LEVEL"));
    private static volatile OutputStream out = new FileOutputStream(FileDescriptor.out);

    private static final Thread WRITER = Thread.ofPlatform().name("log-writer").daemon(true).unstarted(Log::drain);

    static {
        WRITER.start();
    }

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

    /** Where lines go (standard output unless changed; tests capture them). */
    public static void setOutput(OutputStream stream) {
        flush(2000);
        out = stream;
    }

    static Level parseLevel(String name) {
        if (name == null || name.isBlank()) return Level.INFO;
        return switch (name.trim().toUpperCase(Locale.ROOT)) {
            case "DEBUG" -> Level.DEBUG;
            case "WARN", "WARNING" -> Level.WARNING;
            case "ERROR" -> Level.ERROR;
            default -> Level.INFO;
        };
    }

    /** Changes the level threshold (LOG_LEVEL sets it at start). */
    public static void setLevel(Level level) {
        threshold = level;
    }

    public static Level level() {
        return threshold;
    }

    public static boolean enabled(Level level) {
        return level.compareTo(threshold) >= 0;
    }

    public void debug(String workerId, String message) {
        write(Level.DEBUG, workerId, message);
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
        if (!enabled(level)) return;
        String oneLine = message.replace('\n', ' ').replace('\r', ' ');
        String line;
        if (json) {
            line = Json.write(Json.obj("time", Instant.now().toString(), "severity", level.name(),
                    "component", component, "worker_id", workerId, "message", oneLine));
        } else {
            line = timestamp() + " " + level + " " + component
                    + (workerId == null ? "" : " worker=" + workerId) + " " + oneLine;
        }
        if (PENDING.incrementAndGet() > QUEUE_LINES) {
            PENDING.decrementAndGet();
            DROPPED.incrementAndGet();
            return;
        }
        QUEUE.add(line);
        if (WRITER_IDLE.get() && WRITER_IDLE.compareAndSet(true, false)) LockSupport.unpark(WRITER);
    }

    private record Second(long epochSecond, String prefix) {
    }

    private static volatile Second cached = new Second(-1, "");

    /** ISO-8601 UTC with milliseconds; the date-and-seconds part is formatted once per second. */
    static String timestamp() {
        long now = System.currentTimeMillis();
        long second = now / 1000;
        Second c = cached;
        if (c.epochSecond() != second) {
            String iso = Instant.ofEpochSecond(second).toString();     // e.g. 2026-11-24T06:20:12Z
            c = new Second(second, iso.substring(0, iso.length() - 1));
            cached = c;
        }
        String prefix = c.prefix();
        long ms = now % 1000;
        return prefix + (ms < 10 ? ".00" : ms < 100 ? ".0" : ".") + ms + "Z";
    }

    /** Waits (at most {@code millis}) until every queued line is written; for shutdown. */
    public static void flush(long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        synchronized (FLUSHED) {
            while (PENDING.get() > 0 && System.nanoTime() < deadline) {
                try {
                    FLUSHED.wait(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private static void drain() {
        StringBuilder batch = new StringBuilder();
        while (true) {
            String next = QUEUE.poll();
            if (next == null) {
                WRITER_IDLE.set(true);
                if (QUEUE.isEmpty()) LockSupport.park();   // a producer clears the flag and unparks us
                WRITER_IDLE.set(false);
                continue;
            }
            int lines = 0;
            do {
                batch.append(next).append('\n');
                lines++;
            } while (batch.length() < 64 * 1024 && (next = QUEUE.poll()) != null);
            long dropped = DROPPED.getAndSet(0);
            if (dropped > 0) batch.append(timestamp()).append(" WARNING log ").append(dropped).append(" log lines dropped (queue full)\n");
            try {
                out.write(batch.toString().getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                // stdout is gone; nothing better to do than keep the service running
            }
            batch.setLength(0);
            if (PENDING.addAndGet(-lines) == 0) {
                synchronized (FLUSHED) {
                    FLUSHED.notifyAll();
                }
            }
            LockSupport.parkNanos(LINGER_NANOS);   // gather the rest of a burst into the next write
        }
    }
}
