package holepunch.testing;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the external programs the interop tests use (installed by `make test-tools`). */
public final class Tools {
    private Tools() {
    }

    public static void require(String program, String debianPackage) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (new File(dir, program).canExecute()) return;
        }
        throw new AssertionError(program + " is not installed: run `make test-tools` (Debian package " + debianPackage + ")");
    }

    /** Runs a command to its end (at most {@code seconds}); returns its output, failing on a non-zero exit. */
    public static String run(int seconds, List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(command + " did not finish within " + seconds + " s");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.exitValue() != 0) throw new AssertionError(command + " exited " + p.exitValue() + ":\n" + out);
        return out;
    }
}
