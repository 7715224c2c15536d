package holepunch;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * README's command blocks run as written: each block marked {@code <!-- readme-test: NAME -->}
 * is run by bash from the repository's root, in a process group of its own that is ended
 * afterwards, also on failure.
 */
@Tag("slow")
class ReadmeTest {
    /** The shell block after the marker {@code name}. */
    static String block(String name) throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        int marker = readme.indexOf("<!-- readme-test: " + name + " -->");
        assertTrue(marker >= 0, "README has no block marked " + name);
        int start = readme.indexOf("```sh\n", marker) + "```sh\n".length();
        return readme.substring(start, readme.indexOf("```", start));
    }

    /** Runs {@code script} with bash (at most {@code seconds}); its output. */
    static String run(String script, int seconds) throws Exception {
        Path file = Files.createTempFile("readme", ".sh");
        Path out = Files.createTempFile("readme", ".out");
        Files.writeString(file, script);
        Process p = new ProcessBuilder("setsid", "bash", file.toString()).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        try {
            boolean ended = p.waitFor(seconds, TimeUnit.SECONDS);
            String text = Files.readString(out);
            assertTrue(ended, "the block did not end within " + seconds + " s:\n" + text);
            assertTrue(p.exitValue() == 0, "the block exited " + p.exitValue() + ":\n" + text);
            return text;
        } finally {
            new ProcessBuilder("kill", "-KILL", "--", "-" + p.pid()).start().waitFor(5, TimeUnit.SECONDS);   // the whole group
            p.destroyForcibly();
            Files.deleteIfExists(file);
            Files.deleteIfExists(out);
        }
    }

    @Test
    void firstUse_forwardsOverADirectPath_asWritten() throws Exception {
        String out = run("set -e\n" + block("first-use") + "wait\n", 120);
        assertTrue(out.contains("(b'hello', ('127.0.0.1', 5000))"), "the echo came back through the forward:\n" + out);
        assertTrue(out.contains("\"state\":\"direct\""), out);
        assertTrue(out.contains("\"connected_workers_count\""), out);
        assertTrue(out.contains("worker stopped"), "the workers stopped on SIGTERM:\n" + out);
    }
}
