package holepunch.websocket;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The one place that depends on JDK internals. The JDK {@code HttpServer} has no public way to
 * upgrade a connection: after a 101 through its API it closes both exchange streams and reuses
 * the connection for HTTP. So the 101 is written to the exchange's raw output stream, the bytes the
 * server already buffered past the request head are taken from its raw input stream, and the
 * connection is removed from the server's bookkeeping, which frees its stream buffers and
 * keeps its request timers and idle reaper away from the WebSocket. Needs
 * {@code Add-Opens: jdk.httpserver/sun.net.httpserver}, which the jar's manifest declares.
 *
 * <p>It also gives each new connection small streams of its own in place of the server's buffers
 * ({@link #smallStreams}), and holds the server's limits before the upgrade: the {@code sun.net.httpserver.*}
 * properties (read once, when the server's classes initialise) and the list of connections that
 * are not upgraded yet, so that connections per source address can be capped.
 */
public final class HttpServerUpgrade {

    private static final String PKG = "sun.net.httpserver.";
    /** A response still being written after this many seconds is abandoned (the connection closed). */
    static final int MAX_RESPONSE_SEC = 60;
    private static final String[] CONNECTION_SETS = {
        "allConnections", "reqConnections", "rspConnections", "idleConnections", "newlyAcceptedConnections"
    };

    private static Method exchangeGet;
    private static Field exchangeConnection, exchangeRos, exchangeServer, connectionChan, connectionRaw;
    private static Field[] serverSets;
    private static Method serverEndExchange, serverCloseConnection, connectionGetState;
    private static Field wrapperServer;
    private static Class<?> newExchange;
    private static Field newExchangeConnection, newExchangeChan, connectionContext;
    private static Method connectionSetParameters;
    private static volatile String failure = "not checked yet";
    private static volatile String streamsFailure = "not checked yet";
    private static volatile boolean configured;

    private HttpServerUpgrade() {
    }

    /**
     * The pre-upgrade limits of every JDK {@code HttpServer} in this process. The JDK reads them
     * once, when its server classes initialise, so this must run before any server is created
     * (and before {@link #checkAvailable}, which loads those classes without initialising them).
     * A value set on the command line ({@code -Dsun.net.httpserver...}) wins. Later calls change
     * nothing.
     *
     * @param requestTimeoutSec a connection must deliver its whole request head within this, and
     *                          one that sends nothing is closed after it too
     * @param maxHeadBytes      a larger request head is refused
     * @param maxConnections    connections not yet upgraded, at most; more are closed at accept
     */
    public static synchronized void configure(int requestTimeoutSec, int maxHeadBytes, int maxConnections) {
        if (configured) return;
        configured = true;
        setDefault("sun.net.httpserver.maxReqTime", requestTimeoutSec);
        setDefault("sun.net.httpserver.maxReqHeaderSize", maxHeadBytes);
        // Answers are small here (the largest, /debug/list_workers, is a few MB at 10,000 workers):
        // a connection still answering after this is closed, whatever left it there.
        setDefault("sun.net.httpserver.maxRspTime", MAX_RESPONSE_SEC);
        setDefault("jdk.httpserver.maxConnections", maxConnections);
        // The idle reaper (which closes connections that never sent a byte) runs every clockTick
        // ms, 10 s by default: too coarse for a 5 s handshake timeout.
        setDefault("sun.net.httpserver.clockTick", Math.max(250, requestTimeoutSec * 1000 / 4));
        setDefault("sun.net.httpserver.timerMillis", 250);
        // Without it a reply the server writes in two parts (head, then body) waits for the client's
        // delayed ACK (Nagle): measured, /debug/workers at 10,000 workers took 46 ms a request, not 2.
        setDefault("sun.net.httpserver.nodelay", "true");
    }

    private static void setDefault(String name, long value) {
        setDefault(name, String.valueOf(value));
    }

    private static void setDefault(String name, String value) {
        if (System.getProperty(name) == null) System.setProperty(name, value);
    }

    /**
     * Checks once, at start-up, that the internals are reachable. Throws with a message telling the
     * operator what to do when they are not. Loads the classes without initialising them, so the
     * limits of {@link #configure} still take effect.
     */
    public static synchronized void checkAvailable() {
        if (failure == null) return;
        try {
            ClassLoader loader = HttpServer.class.getClassLoader();
            Class<?> exchange = Class.forName(PKG + "ExchangeImpl", false, loader);
            Class<?> connection = Class.forName(PKG + "HttpConnection", false, loader);
            Class<?> server = Class.forName(PKG + "ServerImpl", false, loader);
            Class<?> wrapper = Class.forName(PKG + "HttpServerImpl", false, loader);
            exchangeGet = accessible(exchange.getDeclaredMethod("get", HttpExchange.class));
            exchangeConnection = accessible(exchange.getDeclaredField("connection"));
            exchangeRos = accessible(exchange.getDeclaredField("ros"));
            exchangeServer = accessible(exchange.getDeclaredField("server"));
            connectionChan = accessible(connection.getDeclaredField("chan"));
            connectionRaw = accessible(connection.getDeclaredField("raw"));
            connectionGetState = accessible(connection.getDeclaredMethod("getState"));
            serverSets = new Field[CONNECTION_SETS.length];
            for (int i = 0; i < CONNECTION_SETS.length; i++) {
                serverSets[i] = accessible(server.getDeclaredField(CONNECTION_SETS[i]));
            }
            serverEndExchange = accessible(server.getDeclaredMethod("endExchange"));
            serverCloseConnection = accessible(server.getDeclaredMethod("closeConnection", connection));
            wrapperServer = accessible(wrapper.getDeclaredField("server"));
            failure = null;
            try {       // optional: without them connections keep the server's own streams
                newExchange = Class.forName(PKG + "ServerImpl$Exchange", false, loader);
                newExchangeConnection = accessible(newExchange.getDeclaredField("connection"));
                newExchangeChan = accessible(newExchange.getDeclaredField("chan"));
                connectionContext = accessible(connection.getDeclaredField("context"));
                Class<?> context = Class.forName(PKG + "HttpContextImpl", false, loader);
                connectionSetParameters = accessible(connection.getDeclaredMethod("setParameters", InputStream.class, OutputStream.class,
                        SocketChannel.class, javax.net.ssl.SSLEngine.class, Class.forName(PKG + "SSLStreams", false, loader),
                        javax.net.ssl.SSLContext.class, String.class, context, InputStream.class));
                streamsFailure = null;
            } catch (ReflectiveOperationException | RuntimeException e) {
                streamsFailure = e.toString();
            }
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

    /**
     * The executor to give {@code server} ({@link HttpServer#setExecutor}): it runs each task on
     * {@code tasks}, and first gives each new plain-HTTP connection the small streams of
     * {@link ConnectionStreams} in place of the server's own buffers, 28 KB allocated per
     * connection, which an upgraded connection never uses again (JFR: most of the garbage of a
     * registration). Under a burst of registrations that garbage is what makes the collector grow
     * the heap. The server takes a connection that already has streams (and a context, here
     * {@code anyContext}, which it replaces with the request's own) as one it has served before,
     * and parses its request head from them as from its own. When this JDK's server lacks the
     * members this needs, {@code tasks} itself is returned and {@link #smallStreamsProblem} says why.
     */
    public static java.util.concurrent.Executor smallStreams(com.sun.net.httpserver.HttpContext anyContext, java.util.concurrent.Executor tasks) {
        return smallStreams(anyContext, tasks, null, null);
    }

    /**
     * As above; connections from a peer {@code proxyHeaderFrom} accepts must begin with a PROXY header
     * (v1 or v2), whose client {@link #proxiedClient} then gives; one that does not is closed, and
     * {@code refused} told why. Needs the small streams ({@link #smallStreamsProblem} null).
     */
    public static java.util.concurrent.Executor smallStreams(com.sun.net.httpserver.HttpContext anyContext, java.util.concurrent.Executor tasks,
                                                             java.util.function.Predicate<java.net.InetAddress> proxyHeaderFrom,
                                                             java.util.function.Consumer<String> refused) {
        requireAvailable();
        if (streamsFailure != null) return tasks;
        return task -> {
            if (newExchange.isInstance(task)) {
                try {
                    Object connection = newExchangeConnection.get(task);
                    if (connectionContext.get(connection) == null) {
                        SocketChannel chan = (SocketChannel) newExchangeChan.get(task);
                        boolean proxied = false;
                        if (proxyHeaderFrom != null && chan.getRemoteAddress() instanceof java.net.InetSocketAddress peer) {
                            proxied = proxyHeaderFrom.test(peer.getAddress());
                        }
                        ConnectionStreams.In in = new ConnectionStreams.In(chan, proxied, refused);
                        connectionSetParameters.invoke(connection, in, new ConnectionStreams.Out(chan), chan, null, null, null,
                                "http", anyContext, in);
                    }
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException("cannot give an HttpServer connection its streams", e);
                } catch (java.io.IOException e) {
                    return;                          // the connection is gone already
                }
            }
            tasks.execute(task);
        };
    }

    /** The client the connection's PROXY header named, or null (none, or one that keeps the connection's endpoints). */
    public static java.net.InetSocketAddress proxiedClient(HttpExchange httpExchange) {
        requireAvailable();
        try {
            Object connection = exchangeConnection.get(exchangeGet.invoke(null, httpExchange));
            return connectionRaw.get(connection) instanceof ConnectionStreams.In in ? in.proxied() : null;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot reach the exchange's connection", e);
        }
    }

    /** Why {@link #smallStreams} cannot replace the server's streams on this JDK, or null when it can. */
    public static String smallStreamsProblem() {
        return streamsFailure;
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
            Object server = exchangeServer.get(exchange);
            // The server lets go of the connection before the 101 goes out: from then on the client
            // holds a WebSocket, which HttpServer.stop (a shutdown at that moment) must not cut.
            for (Field set : serverSets) {
                ((Set<?>) set.get(server)).remove(connection);
            }
            try {
                OutputStream out = (OutputStream) exchangeRos.get(exchange);
                out.write(response);
                out.flush();
                InputStream raw = (InputStream) connectionRaw.get(connection);
                // Only what is already buffered: available() on these streams does not block.
                return raw.readNBytes(raw.available());
            } finally {
                serverEndExchange.invoke(server);
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("WebSocket upgrade through HttpServer internals failed", e);
        }
    }

    /** A connection the server holds that is not upgraded: {@code idle} when it has not sent a byte yet. */
    public record Pending(Object connection, InetAddress source, boolean idle) {
    }

    /** How many connections {@code server} holds now (cheap: no listing). */
    public static int pendingCount(HttpServer server) {
        requireAvailable();
        try {
            return ((Set<?>) serverSets[0].get(wrapperServer.get(server))).size();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot count the HttpServer's connections", e);
        }
    }

    /** The connections {@code server} holds now (each HTTP connection before any upgrade). */
    public static List<Pending> pending(HttpServer server) {
        requireAvailable();
        List<Pending> out = new ArrayList<>();
        try {
            Object impl = wrapperServer.get(server);
            Set<?> all = (Set<?>) serverSets[0].get(impl);
            Object[] connections;
            synchronized (all) {
                connections = all.toArray();
            }
            for (Object c : connections) {
                SocketChannel ch = (SocketChannel) connectionChan.get(c);
                if (ch == null) continue;
                try {
                    if (ch.getRemoteAddress() instanceof InetSocketAddress a) {
                        out.add(new Pending(c, a.getAddress(), "NEWLY_ACCEPTED".equals(String.valueOf(connectionGetState.invoke(c)))));
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot list the HttpServer's connections", e);
        }
        return out;
    }

    /**
     * Ends an exchange whose client went away while it was answered: closes its connection and
     * takes it off the server's lists, as the server's own timers do. The server does neither when
     * a response body fails half-written (its {@code FixedLengthOutputStream.close} marks itself
     * closed before it closes the exchange, which then finds nothing to do): the connection stayed
     * in its list of connections answering for good, its socket open or not, holding one of
     * {@code jdk.httpserver.maxConnections} (MAX_PENDING_CONNECTIONS). Call it instead of
     * {@link HttpExchange#close} after a write failed.
     */
    public static void abort(HttpExchange httpExchange) {
        requireAvailable();
        try {
            Object exchange = exchangeGet.invoke(null, httpExchange);
            serverCloseConnection.invoke(exchangeServer.get(exchange), exchangeConnection.get(exchange));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot close an HttpServer connection", e);
        }
    }

    /**
     * {@link #abort} when this JDK's internals are reachable (checked here once if not yet), else
     * the exchange's own close: for a server that does not need the upgrade (the worker's).
     */
    public static void abortOrClose(HttpExchange httpExchange) {
        try {
            checkAvailable();
        } catch (IllegalStateException e) {
            httpExchange.close();
            return;
        }
        abort(httpExchange);
    }

    /**
     * Closes the connections in {@code all} (from {@link #pending}) past {@code perAddress} from
     * each source address, those that sent nothing yet first. Returns, for each address that was
     * over, how many it held.
     */
    public static Map<InetAddress, Integer> closeExcess(HttpServer server, List<Pending> all, int perAddress) {
        Map<InetAddress, List<Pending>> bySource = new HashMap<>();
        for (Pending p : all) bySource.computeIfAbsent(p.source(), k -> new ArrayList<>()).add(p);
        Map<InetAddress, Integer> over = new HashMap<>();
        for (Map.Entry<InetAddress, List<Pending>> e : bySource.entrySet()) {
            List<Pending> list = e.getValue();
            int excess = list.size() - perAddress;
            if (excess <= 0) continue;
            list.sort(Comparator.comparing(p -> !p.idle()));    // idle ones first
            for (int i = 0; i < excess; i++) close(server, list.get(i));
            over.put(e.getKey(), list.size());
        }
        return over;
    }

    /** Closes a pending connection the way the server's own idle reaper does. */
    public static void close(HttpServer server, Pending pending) {
        requireAvailable();
        try {
            serverCloseConnection.invoke(wrapperServer.get(server), pending.connection());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot close an HttpServer connection", e);
        }
    }

    private static void requireAvailable() {
        if (failure != null) throw new IllegalStateException("HttpServerUpgrade.checkAvailable() failed: " + failure);
    }
}
