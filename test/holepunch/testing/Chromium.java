package holepunch.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Debian's chromium, headless, as a person's browser: loads a page, runs its scripts for a span of
 * virtual time (timers fire, fetches complete), and gives the DOM as it then is and every message
 * the page's console received (chromium logs them to stderr as {@code :CONSOLE}).
 */
public final class Chromium {
    /** What a load left: the serialized DOM, and the console's lines. */
    public record Page(String dom, List<String> console) {
    }

    private Chromium() {
    }

    public static Page load(String url, int virtualMillis) throws IOException, InterruptedException {
        Tools.require("chromium", "chromium");
        Path profile = Files.createTempDirectory("hp-chromium");
        Path err = profile.resolve("stderr.txt");
        Path out = profile.resolve("dom.html");
        try {
            Process p = new ProcessBuilder("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-extensions", "--disable-background-networking", "--user-data-dir=" + profile.resolve("profile"),
                    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=" + virtualMillis, "--dump-dom", url)
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new AssertionError("chromium did not finish loading " + url + " within 60 s");
            }
            List<String> console = Files.readAllLines(err, StandardCharsets.UTF_8).stream().filter(l -> l.contains(":CONSOLE")).toList();
            if (p.exitValue() != 0) throw new AssertionError("chromium exited " + p.exitValue() + ":\n" + Files.readString(err));
            return new Page(Files.readString(out, StandardCharsets.UTF_8), console);
        } finally {
            try (Stream<Path> all = Files.walk(profile)) {
                all.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }
}
