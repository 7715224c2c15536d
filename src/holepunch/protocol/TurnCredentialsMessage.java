package holepunch.protocol;

import holepunch.json.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code turn_credentials}: the TURN servers a worker may use ({@code urls}, RFC 7065 URIs) and
 * short-lived credentials for them ({@code username}, {@code password}, good for {@code ttl_sec}),
 * from a rendezvous started with TURN_URLS and TURN_SECRET. Sent after the upgrade to sessions
 * that selected the binary relay (holepunch workers), and again on {@code turn_credentials_request}.
 */
public record TurnCredentialsMessage(List<String> urls, String username, String password, long ttlSec) implements Message {
    static final int MAX_URLS = 8;

    public TurnCredentialsMessage {
        urls = List.copyOf(urls);
    }

    static TurnCredentialsMessage parse(Map<String, Object> m) throws ProtocolException {
        List<String> urls = new ArrayList<>();
        if (m.get("urls") instanceof List<?> list) {
            for (Object o : list) if (o instanceof String s && urls.size() < MAX_URLS && s.length() <= 300) urls.add(s);
        }
        if (urls.isEmpty()) throw ProtocolException.field("urls", "a list of TURN URIs", m.get("urls"));
        String user = Fields.string(m, "username");
        String pass = Fields.string(m, "password");
        if (user == null || user.isEmpty() || user.length() > 513) throw ProtocolException.field("username", "a TURN username", m.get("username"));
        if (pass == null || pass.isEmpty() || pass.length() > 256) throw ProtocolException.field("password", "a TURN password", "(hidden)");
        Long ttl = Fields.integer(m, "ttl_sec");
        if (ttl == null || ttl <= 0) throw ProtocolException.field("ttl_sec", "a positive number of seconds", m.get("ttl_sec"));
        return new TurnCredentialsMessage(urls, user, pass, ttl);
    }

    @Override
    public MessageType type() {
        return MessageType.TURN_CREDENTIALS;
    }

    @Override
    public Map<String, Object> toJson() {
        return Json.obj("type", type().wire, "urls", urls, "username", username, "password", password, "ttl_sec", ttlSec);
    }

    /** Never shows the password. */
    @Override
    public String toString() {
        return "TurnCredentialsMessage[urls=" + urls + ", username=" + username + ", password=(hidden), ttl=" + ttlSec + "]";
    }
}
