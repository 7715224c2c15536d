package holepunch.redis;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;

/**
 * {@code REDIS_URL}: {@code redis://[[user]:password@]host[:port][/db]}, or {@code rediss://} for TLS
 * (the IANA-registered redis URI scheme). Port 6379 when absent, db 0.
 */
public record RedisUrl(boolean tls, String host, int port, String user, String password, int db) {

    public static RedisUrl parse(String text) {
        URI uri;
        try {
            uri = new URI(text.trim());
        } catch (URISyntaxException e) {
            // The reason and where, never the text: it may hold the password.
            throw new IllegalArgumentException("REDIS_URL is not a URL: " + e.getReason() + (e.getIndex() >= 0 ? " at character " + e.getIndex() : ""));
        }
        String scheme = uri.getScheme();
        if (!"redis".equals(scheme) && !"rediss".equals(scheme)) {
            throw new IllegalArgumentException("REDIS_URL must start with redis:// or rediss://");
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) throw new IllegalArgumentException("REDIS_URL has no host");
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        int port = uri.getPort() == -1 ? 6379 : uri.getPort();
        String user = null;
        String password = null;
        String info = uri.getRawUserInfo();
        if (info != null) {
            int colon = info.indexOf(':');
            if (colon < 0) {
                password = decode(info);   // redis://secret@host: the password alone, as redis-cli reads it
            } else {
                user = colon == 0 ? null : decode(info.substring(0, colon));
                password = decode(info.substring(colon + 1));
            }
        }
        int db = 0;
        String path = uri.getPath();
        if (path != null && path.length() > 1) {
            try {
                db = Integer.parseInt(path.substring(1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("REDIS_URL's path must be a database number, not \"" + path.substring(1) + "\"");
            }
            if (db < 0) throw new IllegalArgumentException("REDIS_URL's database number must not be negative");
        }
        return new RedisUrl("rediss".equals(scheme), host, port, user, password, db);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    /** For logs: never the password. */
    @Override
    public String toString() {
        return (tls ? "rediss://" : "redis://") + (user != null ? user + "@" : "")
                + (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port + "/" + db;
    }
}
