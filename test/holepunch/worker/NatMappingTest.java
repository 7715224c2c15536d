package holepunch.worker;

import holepunch.protocol.NatBehaviour;
import holepunch.stun.StunClient;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class NatMappingTest {
    private static StunClient.Binding b(String server, String ip, int port) {
        return new StunClient.Binding(new InetSocketAddress(server, 3478), new InetSocketAddress(ip, port), null, 1);
    }

    @Test
    void classify_sameMappingTowardsTwoServersIsEndpointIndependent() {
        NatMapping m = NatMapping.classify(List.of(b("192.0.2.1", "198.51.100.1", 40000), b("192.0.2.2", "198.51.100.1", 40000)), 8081);
        assertEquals(new NatMapping(NatBehaviour.ENDPOINT_INDEPENDENT, false), m);
    }

    @Test
    void classify_differentMappingsAreEndpointDependent() {
        NatMapping m = NatMapping.classify(List.of(b("192.0.2.1", "198.51.100.1", 8081), b("192.0.2.2", "198.51.100.1", 40001)), 8081);
        assertEquals(new NatMapping(NatBehaviour.ENDPOINT_DEPENDENT, true), m);
    }

    @Test
    void classify_oneServerCannotTellAndOwnAddressMeansNoNat() {
        assertEquals(NatBehaviour.UNKNOWN, NatMapping.classify(List.of(b("192.0.2.1", "198.51.100.1", 1)), 8081).behaviour());
        assertEquals(NatBehaviour.NONE, NatMapping.classify(List.of(b("192.0.2.1", "127.0.0.1", 8081)), 8081).behaviour());
    }
}
