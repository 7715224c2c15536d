package holepunch.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Issue 21's yardstick, measured in the same run as holepunch's direct path: Debian's
 * {@code wireguard-go} in two network namespaces joined by a veth, the bench's sender in one and its
 * receiver in the other, talking across the tunnel (10.232.0.1 to 10.232.0.2). Needs root,
 * {@code wireguard-go} and {@code wg} (wireguard-tools); {@link #up} says what is missing and gives
 * null. {@link #close} removes everything it made, also after a failure half-way.
 */
final class WireguardYardstick implements AutoCloseable {
    static final String NS_A = "hpwgA", NS_B = "hpwgB";
    static final String TUNNEL_B = "10.232.0.2";
    private final List<Process> daemons = new ArrayList<>();
    private final Path keys;

    private WireguardYardstick(Path keys) {
        this.keys = keys;
    }

    /** The two namespaces and the tunnel between them, up; null (and a line saying why) when it cannot be. */
    static WireguardYardstick up() throws Exception {
        String missing = missing();
        if (missing != null) {
            System.out.println("wireguard-go: skipped (" + missing + ")");
            return null;
        }
        tearDown();                                               // what a killed earlier run left
        WireguardYardstick wg = new WireguardYardstick(Files.createTempDirectory("hp-wg"));
        try {
            wg.build();
            return wg;
        } catch (Exception e) {
            wg.close();
            System.out.println("wireguard-go: skipped (" + e.getMessage() + ")");
            return null;
        }
    }

    private static String missing() throws Exception {
        if (!"0".equals(output(List.of("id", "-u")).strip())) return "needs root for network namespaces";
        for (String tool : List.of("wireguard-go", "wg", "ip")) {
            if (!Files.isExecutable(Path.of("/usr/bin", tool)) && !Files.isExecutable(Path.of("/usr/sbin", tool))
                    && !Files.isExecutable(Path.of("/sbin", tool))) {
                return "needs " + tool + ": apt-get install wireguard-go wireguard-tools iproute2 (make bench-tools)";
            }
        }
        return null;
    }

    private void build() throws Exception {
        run("ip", "netns", "add", NS_A);
        run("ip", "netns", "add", NS_B);
        run("ip", "link", "add", "hpwgvA", "netns", NS_A, "type", "veth", "peer", "name", "hpwgvB", "netns", NS_B);
        String[][] sides = {{NS_A, "hpwgvA", "10.231.0.1", "hpwgA0", "10.232.0.1"}, {NS_B, "hpwgvB", "10.231.0.2", "hpwgB0", TUNNEL_B}};
        String[] priv = new String[2], pub = new String[2];
        for (int i = 0; i < 2; i++) {
            String[] s = sides[i];
            run("ip", "-n", s[0], "addr", "add", s[2] + "/24", "dev", s[1]);
            run("ip", "-n", s[0], "link", "set", s[1], "up");
            run("ip", "-n", s[0], "link", "set", "lo", "up");
            priv[i] = output(List.of("wg", "genkey")).strip();
            pub[i] = output(List.of("wg", "pubkey"), priv[i]).strip();
            // The interface names differ: wireguard-go's control socket (/var/run/wireguard/NAME.sock) is not per namespace.
            ProcessBuilder pb = new ProcessBuilder("ip", "netns", "exec", s[0], "wireguard-go", s[3]).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD);
            pb.environment().put("WG_PROCESS_FOREGROUND", "1");
            daemons.add(pb.start());
        }
        for (int i = 0; i < 2; i++) {
            String[] s = sides[i], other = sides[1 - i];
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (exit(List.of("ip", "-n", s[0], "link", "show", s[3])) != 0) {
                if (System.nanoTime() > deadline) throw new IOException("wireguard-go did not make " + s[3]);
                Thread.sleep(50);
            }
            Path key = keys.resolve(s[3] + ".key");
            Files.writeString(Files.createFile(key, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))), priv[i]);
            run("ip", "netns", "exec", s[0], "wg", "set", s[3], "private-key", key.toString(), "listen-port", "51820",
                    "peer", pub[1 - i], "allowed-ips", other[4] + "/32", "endpoint", other[2] + ":51820");
            run("ip", "-n", s[0], "addr", "add", s[4] + "/24", "dev", s[3]);
            run("ip", "-n", s[0], "link", "set", s[3], "up");
        }
    }

    /** udpblast across the tunnel: {sent, received}. */
    long[] blast(Path tool, int port, long rate) throws Exception {
        return ForwardBench.blast(tool, port, port, rate, List.of("ip", "netns", "exec", NS_A), List.of("ip", "netns", "exec", NS_B), TUNNEL_B);
    }

    @Override
    public void close() throws Exception {
        for (Process p : daemons) {
            p.destroy();
            if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly();
        }
        tearDown();
        try (var files = Files.list(keys)) {
            for (Path f : files.toList()) Files.delete(f);
        }
        Files.delete(keys);
    }

    private static void tearDown() throws Exception {
        for (String ns : List.of(NS_A, NS_B)) {
            for (String pid : output(List.of("ip", "netns", "pids", ns)).split("\\s+")) {
                if (!pid.isBlank()) ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
            }
            exit(List.of("ip", "netns", "del", ns));
        }
        for (String name : List.of("hpwgA0", "hpwgB0")) Files.deleteIfExists(Path.of("/var/run/wireguard", name + ".sock"));
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IOException(String.join(" ", cmd) + ": " + out);
    }

    private static int exit(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }

    private static String output(List<String> cmd) throws Exception {
        return output(cmd, null);
    }

    private static String output(List<String> cmd, String input) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        if (input != null) {
            try (var in = p.getOutputStream()) {
                in.write(input.getBytes(StandardCharsets.UTF_8));
            }
        } else {
            p.getOutputStream().close();
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly();
        return out;
    }
}
