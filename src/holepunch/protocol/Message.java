package holepunch.protocol;

import holepunch.json.Json;

import java.util.Map;

/**
 * One message of the rendezvous protocol: a JSON object with a string field {@code type}
 * (README: Protocol). Each type is a small immutable record with a {@code parse} from the JSON object
 * and a {@link #toJson}; {@link #parse} switches on the type. Parsing is lax on fields it does not
 * know (so newer peers can add them) and exact on the ones it uses: a field it cannot use is a
 * {@link ProtocolException} naming it.
 *
 * <pre>
 *   worker -> rendezvous: register_public_ip, update_udp_endpoint, echo_request,
 *                         request_p2p_connection, p2p_connection_status, p2p_connection_decline, relay_data
 *   rendezvous -> worker: udp_endpoint_ack, echo_response, p2p_connection_offer,
 *                         p2p_connection_error, relay_data, relay_error, relay_budget, turn_credentials
 *   worker -> rendezvous (holepunch): turn_credentials_request
 * </pre>
 */
public sealed interface Message permits RegisterPublicIp, UpdateUdpEndpoint, UdpEndpointAck, EchoRequest, EchoResponse,
        RequestP2pConnection, P2pConnectionOffer, P2pConnectionError, P2pConnectionStatus, P2pConnectionDecline,
        RelayData, RelayError, RelayBudget, TurnCredentialsMessage, TurnCredentialsRequest, Message.Unknown {

    MessageType type();

    /** The JSON object, fields in wire order, {@code type} first. */
    Map<String, Object> toJson();

    /** The JSON text. */
    default String encode() {
        return Json.write(toJson());
    }

    /** The JSON text as UTF-8, for a WebSocket text frame (no String on the way). */
    default byte[] encodeUtf8() {
        return Json.writeUtf8(toJson());
    }

    /** A message of a type this version does not know; kept so the caller can report it once. */
    record Unknown(String typeName) implements Message {
        @Override
        public MessageType type() {
            return null;
        }

        @Override
        public Map<String, Object> toJson() {
            return Json.obj("type", typeName);
        }
    }

    /** Parses a JSON object as a message. */
    static Message parse(Map<String, Object> json) throws ProtocolException {
        Object t = json.get("type");
        if (!(t instanceof String name)) throw ProtocolException.field("type", "a string", t);
        MessageType type = MessageType.ofWire(name);
        if (type == null) return new Unknown(name);
        return switch (type) {
            case REGISTER_PUBLIC_IP -> RegisterPublicIp.parse(json);
            case UPDATE_UDP_ENDPOINT -> UpdateUdpEndpoint.parse(json);
            case UDP_ENDPOINT_ACK -> UdpEndpointAck.parse(json);
            case ECHO_REQUEST -> EchoRequest.parse(json);
            case ECHO_RESPONSE -> EchoResponse.parse(json);
            case REQUEST_P2P_CONNECTION -> RequestP2pConnection.parse(json);
            case P2P_CONNECTION_OFFER -> P2pConnectionOffer.parse(json);
            case P2P_CONNECTION_ERROR -> P2pConnectionError.parse(json);
            case P2P_CONNECTION_STATUS -> P2pConnectionStatus.parse(json);
            case P2P_CONNECTION_DECLINE -> P2pConnectionDecline.parse(json);
            case RELAY_DATA -> RelayData.parse(json);
            case RELAY_ERROR -> RelayError.parse(json);
            case RELAY_BUDGET -> RelayBudget.parse(json);
            case TURN_CREDENTIALS -> TurnCredentialsMessage.parse(json);
            case TURN_CREDENTIALS_REQUEST -> new TurnCredentialsRequest();
        };
    }
}
