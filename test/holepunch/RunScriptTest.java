package holepunch;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * run.sh starts make only when a source is newer than its last run of make (starting make costs
 * ~50 ms of every start), and does start it when one is. Run on a copy of the tree whose
 * {@code make} is a recorder in place of the real one.
 */
@org.junit.jupiter.api.Tag("slow")
class RunScriptTest {

    @Test
    void runScript_skipsMakeWhenTheBuildIsCurrent_andRunsItWhenASourceChanged(@TempDir Path dir) throws Exception {
        Path here = Path.of("").toAbsolutePath();
        assertTrue(Files.exists(here.resolve("build/holepunch.aot")), "build/holepunch.aot is missing: make test builds it (make build/holepunch.aot)");
        for (String f : List.of("run.sh", "Makefile")) Files.copy(here.resolve(f), dir.resolve(f));
        copyTree(here.resolve("src"), dir.resolve("src"));
        copyTree(here.resolve("build"), dir.resolve("build"), "holepunch.jar", "holepunch.aot", "jvm.options", "holepunch-worker.aot", "worker-jvm.options");
        Files.createFile(dir.resolve("build/run-checked.stamp"));        // run.sh has run make here since the last change
        FileTime built = FileTime.fromMillis(System.currentTimeMillis());
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.toList()) {        // sources as old as a checkout, the build newer than them
                Files.setLastModifiedTime(p, p.startsWith(dir.resolve("build")) ? built : FileTime.fromMillis(built.toMillis() - 60_000));
            }
        }
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path calls = dir.resolve("make-calls");
        Path make = bin.resolve("make");
        Files.writeString(make, "#!/bin/sh\necho \"$@\" >> '" + calls + "'\n");   // records, builds nothing
        assertTrue(make.toFile().setExecutable(true));

        // The version line (the copied AOT cache does not fit the copied jar's path: the JVM may say so first, and runs on)
        String out = run(dir, bin);
        assertTrue(out.lines().anyMatch(l -> l.matches("holepunch \\S+")), out);
        assertTrue(Files.notExists(calls), "make was started although nothing changed");

        Files.setLastModifiedTime(dir.resolve("src/holepunch/Main.java"), FileTime.fromMillis(built.toMillis() + 60_000));
        run(dir, bin);
        assertTrue(Files.readString(calls).contains("build/holepunch.aot"), "a changed source starts make");
    }

    private static String run(Path dir, Path bin) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("bash", dir.resolve("run.sh").toString(), "--version").redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.put("PATH", bin + ":" + env.get("PATH"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "run.sh --version did not end");
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    private static void copyTree(Path from, Path to, String... only) throws IOException {
        try (Stream<Path> all = Files.walk(from)) {
            for (Path p : all.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else if (only.length == 0 || List.of(only).contains(p.getFileName().toString()) && p.getParent().equals(from)) {
                    Files.copy(p, target);
                }
            }
        }
    }
}
