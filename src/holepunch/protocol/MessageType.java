package holepunch.protocol;

import java.util.HashMap;
import java.util.Map;

/**
 * Every message type of the rendezvous protocol, with its wire name (the JSON field {@code type}).
 * The first five are the original's (the original's protocol (README: Protocol)); the rest are holepunch's additions
 * (Part 3), which clients written for the original never see unless they ask.
 */
public enum MessageType {
    REGISTER_PUBLIC_IP("register_public_ip"),
    UPDATE_UDP_ENDPOINT("update_udp_endpoint"),
    UDP_ENDPOINT_ACK("udp_endpoint_ack"),
    ECHO_REQUEST("echo_request"),
    ECHO_RESPONSE("echo_response"),
    REQUEST_P2P_CONNECTION("request_p2p_connection"),
    P2P_CONNECTION_OFFER("p2p_connection_offer"),
    P2P_CONNECTION_ERROR("p2p_connection_error"),
    P2P_CONNECTION_STATUS("p2p_connection_status"),
    P2P_CONNECTION_DECLINE("p2p_connection_decline"),
    RELAY_DATA("relay_data"),
    RELAY_ERROR("relay_error"),
    RELAY_BUDGET("relay_budget"),
    TURN_CREDENTIALS("turn_credentials"),
    TURN_CREDENTIALS_REQUEST("turn_credentials_request");

    private static final Map<String, MessageType> BY_WIRE = new HashMap<>();

    static {
        for (MessageType t : values()) BY_WIRE.put(t.wire, t);
    }

    public final String wire;

    MessageType(String wire) {
        this.wire = wire;
    }

    /** The type named {@code wire}, or null for a type this version does not know. */
    public static MessageType ofWire(String wire) {
        return BY_WIRE.get(wire);
    }
}
