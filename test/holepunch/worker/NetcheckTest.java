package holepunch.worker;

import holepunch.config.Env;
import holepunch.testing.Ports;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code worker --netcheck} against the rendezvous's STUN server, which names its second port. */
class NetcheckTest {
    private static String run(Map<String, String> env, int[] exit) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        exit[0] = Worker.netcheck(new Env(env), new PrintStream(out, true, StandardCharsets.UTF_8));
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void report_usesTheServersOtherAddress_andSaysWhatItMeans() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("STUN_UDP_PORT", String.valueOf(Ports.freeUdp()),
                "STUN_OTHER_PORT", String.valueOf(Ports.freeUdp())))) {
            int[] exit = {-1};
            String report = run(Map.of("STUN_HOST_ENV", "127.0.0.1", "STUN_PORT_ENV", String.valueOf(rv.server.stunPort()),
                    "INTERNAL_UDP_PORT_ENV", "0"), exit);
            assertEquals(0, exit[0], report);
            assertTrue(report.contains("UDP:            works"), report);
            assertTrue(report.contains("its OTHER-ADDRESS 127.0.0.1:" + rv.server.stunOtherPort()), report);
            assertTrue(report.contains("mapping:        none (from 2 destinations)"), report);
            assertTrue(report.contains("for peers:      no NAT"), report);
        }
    }

    @Test
    void noStunAnswer_exitsOneAndSaysPeersCanOnlyRelay() throws Exception {
        int[] exit = {-1};
        String report = run(Map.of("STUN_HOST_ENV", "127.0.0.1", "STUN_PORT_ENV", String.valueOf(Ports.freeUdp()),
                "INTERNAL_UDP_PORT_ENV", "0", "STUN_RC", "2", "STUN_RM", "2", "STUN_RTO_MS", "50"), exit);
        assertEquals(1, exit[0], report);
        assertTrue(report.contains("UDP:            no answer"), report);
        assertTrue(report.contains("peers can only use the relay"), report);
    }
}
