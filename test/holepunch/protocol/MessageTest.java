package holepunch.protocol;

import holepunch.json.Json;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MessageTest {
    private static Message parse(String json) throws Exception {
        return Message.parse(Json.parseObject(json));
    }

    @Test
    void everyType_roundTripsThroughItsJson() throws Exception {
        List<Message> all = List.of(
                new RegisterPublicIp("198.51.100.1"),
                new UpdateUdpEndpoint("198.51.100.1", 40000, "endpoint-independent", true, List.of("10.0.0.5:8081")),
                UdpEndpointAck.SUCCESS, UdpEndpointAck.error("Missing UDP IP or Port"),
                new EchoRequest("hi"), new EchoResponse(Json.obj("a", 1L), "Rendezvous processed echo for w"),
                new RequestP2pConnection("peer-1"),
                new P2pConnectionOffer("peer-1", "198.51.100.2", 40002, List.of(), "unknown", "00000000000000ab",
                        "AAAAAAAAAAAAAAAAAAAAAA==", Role.RESPONDER, 120, holepunch.crypto.Identity.generate().publicIdentity()),
                new P2pConnectionError("peer-1", null, "unknown worker id"), new P2pConnectionError("peer-1", "ab", "declined"),
                new P2pConnectionStatus("ab", PathState.DIRECT, "198.51.100.2:40002", 12L, null),
                new P2pConnectionStatus("ab", PathState.RELAY, "198.51.100.3:50000", 30L, "through the TURN server", "turn"),
                new P2pConnectionDecline("ab", "not in this worker's P2P_ALLOW"),
                new RelayData("ab", "peer-1", "aGk="), new RelayError("ab", "too big"), new RelayBudget(2_097_152, 67_108_864),
                new TurnCredentialsMessage(List.of("turn:198.51.100.3:3478"), "1700003600:w", "cGFzcw==", 3600), new TurnCredentialsRequest(),
                new UpdateUdpEndpoint("198.51.100.1", 40000, "endpoint-dependent", false, List.of(), null, "198.51.100.3:50000"));
        assertEquals(MessageType.values().length, all.stream().map(Message::type).distinct().count(), "every type is covered");
        for (Message m : all) assertEquals(m, parse(m.encode()), m.type().wire);
    }

    @Test
    void relayBudget_needsPositiveNumbers() {
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> parse("{\"type\":\"relay_budget\",\"pair_bytes_per_sec\":0,\"total_bytes_per_sec\":5}"));
        assertEquals("pair_bytes_per_sec", e.field());
        assertThrows(ProtocolException.class, () -> parse("{\"type\":\"relay_budget\",\"pair_bytes_per_sec\":5}"));
    }

    @Test
    void originalShapes_areExact() throws Exception {
        assertEquals("{\"type\":\"udp_endpoint_ack\",\"status\":\"success\"}", UdpEndpointAck.SUCCESS.encode());
        assertEquals("{\"type\":\"udp_endpoint_ack\",\"status\":\"error\",\"detail\":\"Missing UDP IP or Port\"}",
                UdpEndpointAck.error(UpdateUdpEndpoint.MISSING_ENDPOINT).encode());
        assertEquals("{\"type\":\"echo_response\",\"original_payload\":[1,2],\"processed_by_rendezvous\":\"Rendezvous processed echo for w-1\"}",
                EchoResponse.to((EchoRequest) parse("{\"type\":\"echo_request\",\"payload\":[1,2]}"), "w-1").encode());
        assertEquals("", ((EchoRequest) parse("{\"type\":\"echo_request\"}")).payload(), "the original's default payload");
    }

    @Test
    void updateUdpEndpoint_takesThePortAsTheOriginalsIntDoes_andNamesTheBadField() throws Exception {
        assertEquals(8081, ((UpdateUdpEndpoint) parse("{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"1.2.3.4\",\"udp_port\":\"8081\"}")).udpPort());
        assertEquals(8081, ((UpdateUdpEndpoint) parse("{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"1.2.3.4\",\"udp_port\":8081.0}")).udpPort());
        ProtocolException missing = assertThrows(ProtocolException.class, () -> parse("{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"1.2.3.4\"}"));
        assertEquals(UpdateUdpEndpoint.MISSING_ENDPOINT, missing.getMessage());
        ProtocolException port = assertThrows(ProtocolException.class,
                () -> parse("{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"1.2.3.4\",\"udp_port\":70000}"));
        assertEquals("udp_port", port.field());
        ProtocolException ip = assertThrows(ProtocolException.class,
                () -> parse("{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"example.com\",\"udp_port\":1}"));
        assertEquals("udp_ip", ip.field());
        UpdateUdpEndpoint hosts = (UpdateUdpEndpoint) parse(
                "{\"type\":\"update_udp_endpoint\",\"udp_ip\":\"1.2.3.4\",\"udp_port\":1,\"host_candidates\":[\"10.0.0.1:5\",\"bogus\",7]}");
        assertEquals(List.of("10.0.0.1:5"), hosts.hostCandidates());
        assertEquals(2, hosts.droppedCandidates());
    }

    @Test
    void parse_isLaxOnUnknownFieldsAndTypes_andExactOnTheFieldsItUses() throws Exception {
        assertEquals(new RequestP2pConnection("x"), parse("{\"type\":\"request_p2p_connection\",\"target_worker_id\":\"x\",\"future\":1}"));
        assertEquals(new Message.Unknown("from_the_future"), parse("{\"type\":\"from_the_future\"}"));
        assertEquals("type", assertThrows(ProtocolException.class, () -> parse("{\"type\":5}")).field());
        assertEquals("state", assertThrows(ProtocolException.class,
                () -> parse("{\"type\":\"p2p_connection_status\",\"pair_id\":\"ab\",\"state\":\"sideways\"}")).field());
        for (String bad : List.of("\"pair_key\":\"!!\"", "\"pair_key\":\"AAAA\"")) {
            ProtocolException e = assertThrows(ProtocolException.class, () -> parse("{\"type\":\"p2p_connection_offer\",\"peer_worker_id\":\"p\","
                    + "\"pair_id\":\"ab\",\"role\":\"initiator\"," + bad + "}"));
            assertEquals("pair_key", e.field());
        }
        assertEquals("role", assertThrows(ProtocolException.class, () -> parse("{\"type\":\"p2p_connection_offer\",\"peer_worker_id\":\"p\","
                + "\"pair_id\":\"ab\",\"pair_key\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"role\":\"boss\"}")).field());
        P2pConnectionOffer offer = (P2pConnectionOffer) parse("{\"type\":\"p2p_connection_offer\",\"peer_worker_id\":\"p\",\"pair_id\":\"ab\","
                + "\"pair_key\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"role\":\"initiator\",\"start_in_ms\":999999999}");
        assertEquals(P2pConnectionOffer.MAX_START_MS, offer.startInMs(), "a start delay is clamped");
        assertEquals(0xab, offer.pairIdValue());
        assertTrue(!offer.toString().contains("AAAA"), "the key is not shown");
    }

    @Test
    void messageTypes_haveDistinctWireNames() {
        assertEquals(MessageType.values().length, java.util.Arrays.stream(MessageType.values()).map(t -> t.wire).distinct().count());
        for (MessageType t : MessageType.values()) assertInstanceOf(MessageType.class, MessageType.ofWire(t.wire));
        assertEquals(Map.of(), Map.of());
    }
}
