package holepunch.log;

import holepunch.json.Json;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LogTest {
    @Test
    void jsonFormat_writesOneObjectPerLineWithSeverityMessageAndWorkerId() throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        Log.setOutput(captured);
        Log.useJson(true);
        try {
            Log.of("test").warn("w-42", "two\nlines become one");
            Log.flush(5000);
        } finally {
            Log.useJson(false);
            Log.setOutput(new FileOutputStream(FileDescriptor.out));
        }
        String[] lines = captured.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(1, lines.length);
        Map<String, Object> o = Json.parseObject(lines[0]);
        assertEquals("WARNING", o.get("severity"));
        assertEquals("w-42", o.get("worker_id"));
        assertEquals("two lines become one", o.get("message"));
    }

    @Test
    void plainFormat_namesTheWorkerOnOneLine() {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        Log.setOutput(captured);
        try {
            Log.of("test").info("w-7", "hello");
            Log.flush(5000);
        } finally {
            Log.setOutput(new FileOutputStream(FileDescriptor.out));
        }
        String line = captured.toString(StandardCharsets.UTF_8);
        assertTrue(line.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z INFO test worker=w-7 hello\n"), line);
    }

    @Test
    void concurrentWriters_everyLineArrivesOnceInItsWritersOrder() throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        Log.setOutput(captured);
        int threads = 8, perThread = 2000;
        try {
            List<Thread> writers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                String id = "t" + t;
                writers.add(Thread.ofPlatform().start(() -> {
                    Log log = Log.of("logtest");
                    for (int n = 0; n < perThread; n++) log.info(id, "n=" + n);
                }));
            }
            for (Thread w : writers) w.join(10_000);
            Log.flush(10_000);
        } finally {
            Log.setOutput(new FileOutputStream(FileDescriptor.out));
        }
        int[] next = new int[threads];
        Pattern p = Pattern.compile(" logtest worker=t(\\d+) n=(\\d+)$");
        for (String line : captured.toString(StandardCharsets.UTF_8).split("\n")) {
            Matcher m = p.matcher(line);
            if (!m.find()) continue;
            int t = Integer.parseInt(m.group(1));
            assertEquals(next[t], Integer.parseInt(m.group(2)), "writer t" + t + " out of order");
            next[t]++;
        }
        for (int t = 0; t < threads; t++) assertEquals(perThread, next[t], "lines of writer t" + t);
    }

    @Test
    void stalledOutput_queueStaysBoundedAndTheDropsAreReported() throws Exception {
        CountDownLatch writerBlocked = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        OutputStream stalled = new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                writerBlocked.countDown();
                try {
                    release.await(20, TimeUnit.SECONDS);   // bounded, in case the test fails first
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                captured.write(b, off, len);
            }
        };
        Log.setOutput(stalled);
        int extra = 500;
        try {
            Log log = Log.of("logtest");
            log.info("first", "held by the stalled writer");
            assertTrue(writerBlocked.await(10, TimeUnit.SECONDS), "the writer never tried to write");
            for (int n = 0; n < Log.QUEUE_LINES + extra; n++) log.info("burst", "n=" + n);
        } finally {
            release.countDown();
            Log.flush(10_000);
            Log.setOutput(new FileOutputStream(FileDescriptor.out));
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        long burstLines = out.lines().filter(l -> l.contains("worker=burst")).count();
        // The pending limit counts the line in the stalled write, so the burst keeps QUEUE_LINES - 1.
        assertEquals(Log.QUEUE_LINES - 1, burstLines);
        Matcher m = Pattern.compile("WARNING log (\\d+) log lines dropped").matcher(out);
        assertTrue(m.find(), "no drop report in the output");
        assertEquals(extra + 1, Integer.parseInt(m.group(1)));
        assertFalse(out.contains("n=" + (Log.QUEUE_LINES + extra - 1) + "\n"), "the last line of the burst should have been dropped");
    }

    /** Issue 9 finding 9: controls become visible escapes; long messages are cut with a marker. */
    @Test
    void clean_escapesControlsAndLineSeparators_andCutsLongMessages() {
        assertEquals("a\\x1b[2J b\\u2028c\\x85d\\x7f", Log.clean("a\u001b[2J\nb\u2028c\u0085d\u007f", 100));
        assertEquals("plain text", Log.clean("plain text", 100));
        String cut = Log.clean("x".repeat(5000), Log.MAX_MESSAGE_CHARS);
        assertTrue(cut.length() < Log.MAX_MESSAGE_CHARS + 40 && cut.endsWith("(cut, 5000 chars)"), cut.substring(cut.length() - 30));
        assertEquals("y".repeat(Log.EXCERPT_CHARS) + "...(60000 chars)", Log.excerpt("y".repeat(60_000)));
    }
}
