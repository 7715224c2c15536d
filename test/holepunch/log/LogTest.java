package holepunch.log;

import holepunch.json.Json;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
}
