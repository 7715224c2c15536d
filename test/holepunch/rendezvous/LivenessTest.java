package holepunch.rendezvous;

import holepunch.testing.Await;
import holepunch.testing.RawWebSocket;
import holepunch.testing.RawWebSocket.Frame;
import holepunch.testing.TestRendezvous;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** The server pings every PING_INTERVAL_SEC and ends sessions silent for longer than interval + timeout. */
class LivenessTest {

    @Test
    void answeringPings_keepsTheSessionAndSilence_endsIt() throws Exception {
        try (TestRendezvous rv = new TestRendezvous(Map.of("PING_INTERVAL_SEC", "0.3", "PING_TIMEOUT_SEC", "0.3"));
             RawWebSocket ws = RawWebSocket.connect(rv.port, "live")) {
            for (int i = 0; i < 4; i++) {           // four rounds answered: well past interval + timeout
                Frame ping = ws.read();
                assertEquals(0x9, ping.opcode());
                ws.send(RawWebSocket.frame(0xA, true, ping.payload()));
            }
            assertNotNull(rv.worker("live"), "a session that answers pings stays");
            Frame close = ws.readClose();           // now silent: pings go unanswered
            assertEquals(1011, close.closeCode());
            Await.until(Duration.ofSeconds(5), "silent session removed", () -> rv.worker("live") == null);
        }
    }
}
