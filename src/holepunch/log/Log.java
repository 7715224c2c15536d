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
    /** The queue's bound in characters as well as lines: a few long lines cannot fill the heap. */
    static final long QUEUE_CHARS = 4L << 20;
    /** A message longer than this is cut, with a marker saying how long it was. */
    static final int MAX_MESSAGE_CHARS = 2000;
    /** What {@link #excerpt} keeps of a string a client sent. */
    public static final int EXCERPT_CHARS = 200;
    private static final long LINGER_NANOS = 1_000_000;
    private static final ConcurrentLinkedQueue<String> QUEUE = new ConcurrentLinkedQueue<>();
    /** Set by the writer before it parks with an empty queue; the producer that clears it unparks it. */
    private static final AtomicBoolean WRITER_IDLE = new AtomicBoolean();
    private static final AtomicLong DROPPED = new AtomicLong();
    /** Lines queued but not yet written, and their characters. */
    private static final AtomicLong PENDING = new AtomicLong();
    private static final AtomicLong PENDING_CHARS = new AtomicLong();
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
        String oneLine = clean(message, MAX_MESSAGE_CHARS);
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
        if (PENDING_CHARS.addAndGet(line.length()) > QUEUE_CHARS) {
            PENDING_CHARS.addAndGet(-line.length());
            PENDING.decrementAndGet();
            DROPPED.incrementAndGet();
            return;
        }
        QUEUE.add(line);
        if (WRITER_IDLE.get() && WRITER_IDLE.compareAndSet(true, false)) LockSupport.unpark(WRITER);
    }

    /**
     * A string a client sent, for a log line: at most {@value #EXCERPT_CHARS} characters, with a
     * marker giving the full length when cut. (Control characters are escaped for every line.)
     */
    public static String excerpt(String s) {
        if (s == null) return "null";
        return s.length() <= EXCERPT_CHARS ? s : s.substring(0, EXCERPT_CHARS) + "...(" + s.length() + " chars)";
    }

    /**
     * One line of text, safe for a terminal and a line-based collector: C0 and C1 controls, DEL and
     * the Unicode line and paragraph separators (U+2028, U+2029) become visible escapes, and the
     * whole is cut at {@code max} characters with a marker.
     */
    static String clean(String message, int max) {
        String m = message.length() <= max ? message : message.substring(0, max) + "...(cut, " + message.length() + " chars)";
        int i = 0;
        while (i < m.length() && !mustEscape(m.charAt(i))) i++;
        if (i == m.length()) return m;
        StringBuilder b = new StringBuilder(m.length() + 16).append(m, 0, i);
        for (; i < m.length(); i++) {
            char c = m.charAt(i);
            if (!mustEscape(c)) {
                b.append(c);
            } else if (c == '\n' || c == '\r' || c == '\t') {
                b.append(' ');              // one event, one line
            } else {
                b.append(c < 0x100 ? String.format("\\x%02x", (int) c) : String.format("\\u%04x", (int) c));
            }
        }
        return b.toString();
    }

    private static boolean mustEscape(char c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029';
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
            long chars = 0;
            do {
                batch.append(next).append('\n');
                lines++;
                chars += next.length();
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
            PENDING_CHARS.addAndGet(-chars);
            if (PENDING.addAndGet(-lines) == 0) {
                synchronized (FLUSHED) {
                    FLUSHED.notifyAll();
                }
            }
            LockSupport.parkNanos(LINGER_NANOS);   // gather the rest of a burst into the next write
        }
    }
}
