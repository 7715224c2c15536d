package holepunch.websocket;

import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.channels.SocketChannel;
import java.util.Set;

/**
 * The one place that depends on JDK internals. The JDK {@code HttpServer} has no public way to
 * upgrade a connection: after a 101 through its API it closes both exchange streams and reuses
 * the connection for HTTP. So the 101 is written to the exchange's raw output stream, the bytes the
 * server already buffered past the request head are taken from its raw input stream, and the
 * connection is removed from the server's bookkeeping, which frees its 8 KB stream buffers and
 * keeps its request timers and idle reaper away from the WebSocket. Needs
 * {@code Add-Opens: jdk.httpserver/sun.net.httpserver}, which the jar's manifest declares.
 */
public final class HttpServerUpgrade {

    private static final String PKG = "sun.net.httpserver.";
    private static final String[] CONNECTION_SETS = {
        "allConnections", "reqConnections", "rspConnections", "idleConnections", "newlyAcceptedConnections"
    };

    private static Method exchangeGet;
    private static Field exchangeConnection, exchangeRos, exchangeServer, connectionChan, connectionRaw;
    private static Field[] serverSets;
    private static Method serverEndExchange;
    private static volatile String failure = "not checked yet";

    private HttpServerUpgrade() {
    }

    /**
     * Checks once, at start-up, that the internals are reachable. Throws with a message telling the
     * operator what to do when they are not.
     */
    public static synchronized void checkAvailable() {
        if (failure == null) return;
        try {
            Class<?> exchange = Class.forName(PKG + "ExchangeImpl");
            Class<?> connection = Class.forName(PKG + "HttpConnection");
            Class<?> server = Class.forName(PKG + "ServerImpl");
            exchangeGet = accessible(exchange.getDeclaredMethod("get", HttpExchange.class));
            exchangeConnection = accessible(exchange.getDeclaredField("connection"));
            exchangeRos = accessible(exchange.getDeclaredField("ros"));
            exchangeServer = accessible(exchange.getDeclaredField("server"));
            connectionChan = accessible(connection.getDeclaredField("chan"));
            connectionRaw = accessible(connection.getDeclaredField("raw"));
            serverSets = new Field[CONNECTION_SETS.length];
            for (int i = 0; i < CONNECTION_SETS.length; i++) {
                serverSets[i] = accessible(server.getDeclaredField(CONNECTION_SETS[i]));
            }
            serverEndExchange = accessible(server.getDeclaredMethod("endExchange"));
            failure = null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            failure = e.toString();
            throw new IllegalStateException("the WebSocket upgrade needs the JDK HttpServer internals (" + e
                    + "). Run with 'java -jar holepunch.jar' (its manifest opens them) or add"
                    + " '--add-opens jdk.httpserver/sun.net.httpserver=ALL-UNNAMED'.", e);
        }
    }

    private static <T extends java.lang.reflect.AccessibleObject> T accessible(T member) {
        member.setAccessible(true);
        return member;
    }

    /** The exchange's TCP connection (still owned by the server until {@link #upgrade}). */
    public static SocketChannel channel(HttpExchange httpExchange) {
        requireAvailable();
        try {
            return (SocketChannel) connectionChan.get(exchangeConnection.get(exchangeGet.invoke(null, httpExchange)));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot reach the exchange's connection", e);
        }
    }

    /**
     * Writes {@code response} (the complete 101 head), takes the connection away from the server
     * and returns the bytes the client sent after its request head. The exchange must not be used
     * (nor closed) afterwards.
     */
    public static byte[] upgrade(HttpExchange httpExchange, byte[] response) throws IOException {
        requireAvailable();
        try {
            Object exchange = exchangeGet.invoke(null, httpExchange);
            Object connection = exchangeConnection.get(exchange);
            OutputStream out = (OutputStream) exchangeRos.get(exchange);
            out.write(response);
            out.flush();
            InputStream raw = (InputStream) connectionRaw.get(connection);
            // Only what is already buffered: available() on these streams does not block.
            byte[] leftover = raw.readNBytes(raw.available());
            Object server = exchangeServer.get(exchange);
            for (Field set : serverSets) {
                ((Set<?>) set.get(server)).remove(connection);
            }
            serverEndExchange.invoke(server);
            return leftover;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("WebSocket upgrade through HttpServer internals failed", e);
        }
    }

    private static void requireAvailable() {
        if (failure != null) throw new IllegalStateException("HttpServerUpgrade.checkAvailable() failed: " + failure);
    }
}
