package holepunch.worker;

import holepunch.json.Json;
import holepunch.crypto.Identity;
import holepunch.crypto.UpgradeProof;
import holepunch.log.Log;
import holepunch.protocol.Message;
import holepunch.protocol.ProtocolException;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The worker's WebSocket session to the rendezvous (java.net.http.WebSocket): connects, pings
 * every PING_INTERVAL_SEC and drops a session silent for longer than the timeout, and reconnects
 * with exponential backoff and equal jitter capped at 10 s (the original's fixed delay), so a
 * restarted rendezvous is not hit by every worker at once.
 */
final class RendezvousSession {
    static final long MAX_BACKOFF_MILLIS = 10_000;
    private static final int MAX_MESSAGE_CHARS = 1 << 20;

    interface Handler {
        void onConnected(RendezvousSession session);

        void onMessage(Message message);

        void onDisconnected();

        /** A binary message: relayed datagrams ({@link holepunch.protocol.RelayFrame}); valid during the call only. */
        default void onRelayFrame(ByteBuffer message) {
        }
    }

    private final Log log = Log.of("worker");
    private final String workerId;
    private final URI uri;
    private final long pingIntervalNanos;
    private final long pingTimeoutNanos;
    private final Handler handler;
    private final String token;
    private final Identity identity;
    private final holepunch.metrics.Metrics metrics;
    /** One client (one selector thread) for every session in this JVM. */
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    static final int OUTBOX_MESSAGES = 1024;
    private final Object sendLock = new Object();
    private final Object pacedLock = new Object();
    private CompletableFuture<?> tail = CompletableFuture.completedFuture(null);
    private final java.util.concurrent.atomic.AtomicInteger waiting = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong outboxDropped = new java.util.concurrent.atomic.AtomicLong();
    private final Object wake = new Object();
    private final AtomicLong lastHeard = new AtomicLong();
    private volatile WebSocket ws;
    /** The current session selected the binary relay (holepunch.relay.1). */
    private volatile boolean binaryRelay;
    private volatile CompletableFuture<WebSocket> connecting;
    private volatile boolean running = true;
    private Thread thread;

    /** Whether the key is this process's alone (no WORKER_KEY_FILE): the proof says so. */
    private final boolean ephemeralKey;
    /** The last upgrade the rendezvous refused: status, its detail and when (null before any or after a session). */
    private volatile Refusal lastRefusal;
    /** Retry-After is honoured up to this. */
    static final long MAX_RETRY_AFTER_MILLIS = 300_000;

    /** A refused upgrade: the HTTP status, the server's {@code detail} (or the body's start) and when, for logs and /status. */
    record Refusal(int status, String detail, long retryAfterMillis, long atMillis) {
        static Refusal of(java.net.http.WebSocketHandshakeException e) {
            java.net.http.HttpResponse<?> r = e.getResponse();
            String detail = "";
            Object body = r.body();
            String text = body instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : body == null ? "" : body.toString();
            try {
                Object d = text.isBlank() ? null : Json.parseObject(text).get("detail");
                detail = d == null ? text : d.toString();
            } catch (Exception notJson) {
                detail = text;                        // a proxy's page, say: its first words
            }
            long retry = r.headers().firstValue("Retry-After").map(v -> {
                try {
                    return Math.min(MAX_RETRY_AFTER_MILLIS, Math.max(0, Long.parseLong(v.strip()) * 1000));
                } catch (NumberFormatException bad) {
                    return 0L;
                }
            }).orElse(0L);
            return new Refusal(r.statusCode(), Log.excerpt(detail.strip()), retry, System.currentTimeMillis());
        }

        java.util.Map<String, Object> json() {
            return Json.obj("status", status, "detail", detail, "at", java.time.Instant.ofEpochMilli(atMillis).toString());
        }
    }

    /** The client for this session: the JVM's shared one, or one that trusts RENDEZVOUS_CA_FILE's CAs too. */
    private final HttpClient http;

    RendezvousSession(String workerId, URI uri, long pingIntervalNanos, long pingTimeoutNanos, String token,
                      holepunch.metrics.Metrics metrics, Identity identity, boolean ephemeralKey, Handler handler) {
        this(workerId, uri, pingIntervalNanos, pingTimeoutNanos, token, metrics, identity, ephemeralKey, null, handler);
    }

    RendezvousSession(String workerId, URI uri, long pingIntervalNanos, long pingTimeoutNanos, String token,
                      holepunch.metrics.Metrics metrics, Identity identity, boolean ephemeralKey, javax.net.ssl.SSLContext tls, Handler handler) {
        this.http = tls == null ? HTTP : HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).sslContext(tls).build();
        this.identity = identity;
        this.ephemeralKey = ephemeralKey;
        this.token = token;
        this.metrics = metrics;
        this.workerId = workerId;
        this.uri = uri;
        this.pingIntervalNanos = pingIntervalNanos;
        this.pingTimeoutNanos = pingTimeoutNanos;
        this.handler = handler;
    }

    void start() {
        thread = Thread.ofVirtual().name("rendezvous-session").start(this::run);
    }

    boolean isConnected() {
        WebSocket w = ws;
        return w != null && !w.isInputClosed() && !w.isOutputClosed();
    }

    /** The Host header java.net.http sends for {@code uri}: host, and the port unless it is the scheme's default. */
    static String hostHeader(URI uri) {
        String host = uri.getHost().contains(":") && !uri.getHost().startsWith("[") ? "[" + uri.getHost() + "]" : uri.getHost();
        return uri.getPort() < 0 ? host : host + ":" + uri.getPort();
    }

    /** Equal jitter: a random delay between half of and all of min(cap, 500 ms x 2^attempt). */
    static long backoffMillis(int attempt) {
        return holepunch.timer.Backoff.jittered(attempt, 500, MAX_BACKOFF_MILLIS);
    }

    /** The last refused upgrade, or null (for /status). */
    Refusal lastRefusal() {
        return lastRefusal;
    }

    /** An exception as a person reads it: its class's simple name and its message, and its cause's when it has one. */
    static String describe(Throwable t) {
        String text = t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
        Throwable c = t.getCause();
        if (c != null && c != t && c.getMessage() != null && !text.contains(c.getMessage())) {
            text += " (" + c.getClass().getSimpleName() + ": " + c.getMessage() + ")";
        }
        return Log.excerpt(text);
    }

    private long retryAfter;

    private void run() {
        int attempt = 0;
        while (running) {
            CompletableFuture<String> closed = new CompletableFuture<>();
            current = closed;
            try {
                log.info(workerId, "connecting to the rendezvous at " + uri);
                metrics.inc("holepunch_worker_connect_attempts_total");      // an attempt starts with its challenge
                WebSocket.Builder builder = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10));
                if (token != null) builder.header("Authorization", "Bearer " + token);
                builder.subprotocols(holepunch.protocol.RelayFrame.SUBPROTOCOL);     // the original's server selects none: JSON relay
                // A fresh proof for every attempt: it signs a challenge the rendezvous just made, good once, for 30 s.
                String challenge = challenge();
                if (challenge != null) {
                    builder.header(UpgradeProof.HEADER, UpgradeProof.create(identity, workerId, hostHeader(uri), challenge, ephemeralKey));
                }
                CompletableFuture<WebSocket> pending = builder.buildAsync(uri, new Listener(closed));
                connecting = pending;
                if (!running) pending.cancel(true);
                WebSocket w = pending.get(15, TimeUnit.SECONDS);
                connecting = null;
                binaryRelay = holepunch.protocol.RelayFrame.SUBPROTOCOL.equals(w.getSubprotocol());
                ws = w;
                attempt = 0;
                lastRefusal = null;
                lastHeard.set(System.nanoTime());
                log.info(workerId, "connected to the rendezvous");
                handler.onConnected(this);
                String why = keepAlive(w, closed);
                if (running) log.warn(workerId, "rendezvous session ended: " + why);
            } catch (Exception e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                if (cause instanceof java.net.http.WebSocketHandshakeException refused) {
                    Refusal r = Refusal.of(refused);
                    lastRefusal = r;
                    retryAfter = r.retryAfterMillis();
                    if (running) log.warn(workerId, "the rendezvous at " + uri + " refused the session: HTTP " + r.status()
                            + (r.detail().isEmpty() ? "" : ": " + r.detail()));
                } else if (running) {
                    log.warn(workerId, "cannot connect to the rendezvous at " + uri + ": " + describe(cause));
                }
            } finally {
                WebSocket w = ws;
                ws = null;
                if (w != null) w.abort();
            }
            handler.onDisconnected();
            if (!running) break;
            long delay = Math.max(backoffMillis(attempt++), retryAfter);
            retryAfter = 0;
            log.info(workerId, "retrying the rendezvous connection in " + delay + " ms");
            pause(delay);
        }
    }

    /** Where the rendezvous at {@code ws} hands out challenges: the same host and path prefix, over http(s). */
    static URI challengeUri(URI ws) {
        String scheme = "wss".equalsIgnoreCase(ws.getScheme()) ? "https" : "http";
        String path = ws.getRawPath() == null ? "" : ws.getRawPath();
        int at = path.lastIndexOf("/ws/register/");
        return URI.create(scheme + "://" + hostHeader(ws) + (at < 0 ? "" : path.substring(0, at)) + "/challenge");
    }

    /**
     * A challenge from the rendezvous ({@code GET /challenge}) for this attempt's proof, or null where the
     * rendezvous makes none (404, 405 or 501: the original's, which takes no proof): the session is then keyless there.
     * Any other answer fails the attempt, which is retried as any other.
     */
    private String challenge() throws IOException, InterruptedException, Json.ParseException {
        // HTTP/1.1 plainly: the default (HTTP/2) asks a cleartext server to upgrade to h2c, which the original refuses with 400.
        java.net.http.HttpRequest.Builder get = java.net.http.HttpRequest.newBuilder(challengeUri(uri)).version(HttpClient.Version.HTTP_1_1)
                .timeout(Duration.ofSeconds(10)).GET();
        if (token != null) get.header("Authorization", "Bearer " + token);       // a proxy in front may ask for it on every path
        java.net.http.HttpRequest request = get.build();
        java.net.http.HttpResponse<String> r = http.send(request, java.net.http.HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 404 || r.statusCode() == 405 || r.statusCode() == 501) {
            if (!warnedNoChallenges) {
                log.warn(workerId, "the rendezvous at " + uri + " makes no challenges (HTTP " + r.statusCode()
                        + " on GET /challenge: the original's answer): the session proves no key");
            }
            warnedNoChallenges = true;
            return null;
        }
        String body = r.body() == null ? "" : r.body();
        if (r.statusCode() != 200) {
            throw new IOException("GET /challenge answered HTTP " + r.statusCode() + ": " + Log.excerpt(body));
        }
        if (body.length() > 4096) throw new IOException("GET /challenge answered " + body.length() + " characters (a challenge is under 100)");
        Object c = Json.parseObject(body).get("challenge");
        if (!(c instanceof String s) || s.isEmpty()) throw new IOException("GET /challenge answered no challenge");
        return s;
    }

    private boolean warnedNoChallenges;

    /** Pings until the session closes or goes silent; returns why it ended. */
    private String keepAlive(WebSocket w, CompletableFuture<String> closed) {
        long interval = Math.max(1, pingIntervalNanos / 1_000_000);
        while (running) {
            try {
                return closed.get(interval, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                long silent = System.nanoTime() - lastHeard.get();
                if (silent > pingIntervalNanos + pingTimeoutNanos) {
                    return "no answer for " + silent / 1_000_000 + " ms (ping timeout)";
                }
                w.sendPing(ByteBuffer.allocate(0));
            } catch (Exception e) {
                return e.toString();
            }
        }
        return "worker stopping";
    }

    private void pause(long millis) {
        synchronized (wake) {
            long end = System.currentTimeMillis() + millis;
            long left;
            while (running && (left = end - System.currentTimeMillis()) > 0) {
                try {
                    wake.wait(left);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    /**
     * Sends one message without blocking; false when there is no session or {@value #OUTBOX_MESSAGES}
     * are waiting already. The UDP reader and the timer call it. Sends are chained on the
     * previous one's future (java.net.http.WebSocket allows one outstanding send), so they keep
     * their order and start at once when nothing is outstanding.
     */
    boolean send(Message message) {
        return enqueue(message) != null;
    }

    /**
     * Sends one message and waits (at most 10 s) until it is written: for application payloads,
     * whose senders may block, so that a fast sender is paced by the connection instead of queueing.
     */
    boolean sendAndWait(Message message) {
        WebSocket w = ws;
        if (w == null) return false;
        String text = message.encode();
        synchronized (pacedLock) {          // paced senders take turns here; send() never waits on this lock
            try {
                CompletableFuture<?> sent;
                CompletableFuture<?> before;
                synchronized (sendLock) {
                    before = tail;
                }
                before.handle((r, e) -> null).get(10, java.util.concurrent.TimeUnit.SECONDS);   // what send() queued goes first
                synchronized (sendLock) {
                    if (!tail.isDone()) {
                        sent = tail.handle((r, e) -> null).thenCompose(x -> w.sendText(text, true));   // a send() came in between
                    } else {
                        sent = w.sendText(text, true);     // the usual case: straight from this thread, no hand-over
                    }
                    tail = sent;
                }
                sent.get(10, java.util.concurrent.TimeUnit.SECONDS);
                return true;
            } catch (Exception e) {
                if (running && ws == w) log.warn(workerId, "sending " + message.type().wire + " to the rendezvous failed: " + e);
                return false;
            }
        }
    }

    private CompletableFuture<?> enqueue(Message message) {
        WebSocket w = ws;
        if (w == null) return null;
        if (waiting.incrementAndGet() > OUTBOX_MESSAGES) {
            waiting.decrementAndGet();
            long n = outboxDropped.incrementAndGet();
            if (Long.bitCount(n) == 1) log.warn(workerId, "the rendezvous session's send queue is full; dropped " + n + " messages so far");
            return null;
        }
        String text = message.encode();
        synchronized (sendLock) {
            CompletableFuture<?> next = tail.handle((r, e) -> null)
                    .thenCompose(x -> w.sendText(text, true))
                    .whenComplete((r, e) -> {
                        waiting.decrementAndGet();
                        if (e != null && running && ws == w) log.warn(workerId, "sending " + message.type().wire + " to the rendezvous failed: " + e);
                    });
            tail = next;
            return next;
        }
    }

    /** The current attempt's end (completed by the listener, or by {@link #restart}). */
    private volatile CompletableFuture<String> current;

    /**
     * Ends the current session now and connects again at once: for a network that changed under
     * it (a new address, a NAT that forgot its mappings), where its TCP connection is most likely
     * dead but would be noticed only at the ping timeout.
     */
    void restart(String why) {
        CompletableFuture<String> c = current;
        WebSocket w = ws;
        if (c == null || w == null) return;
        log.info(workerId, "reconnecting to the rendezvous: " + why);
        c.complete(why);
        w.abort();
    }

    /** Whether the session is up and selected the binary relay. */
    boolean binaryRelay() {
        return binaryRelay && ws != null;
    }

    /**
     * Sends one binary message (after whatever text was queued before it); the future completes
     * when it is written, and {@code message} must stay untouched until then. A failed future when
     * there is no session.
     */
    CompletableFuture<?> sendBinary(ByteBuffer message) {
        WebSocket w = ws;
        if (w == null) return CompletableFuture.failedFuture(new java.io.IOException("no rendezvous session"));
        synchronized (sendLock) {
            CompletableFuture<?> next = tail.isDone() ? w.sendBinary(message, true)
                    : tail.handle((r, e) -> null).thenCompose(x -> w.sendBinary(message, true));
            tail = next;
            return next;
        }
    }

    /** Closes the session with 1000 and stops reconnecting. */
    void close() {
        running = false;
        synchronized (wake) {
            wake.notifyAll();
        }
        CompletableFuture<WebSocket> pending = connecting;
        if (pending != null) pending.cancel(true);
        WebSocket w = ws;
        if (w != null) {
            try {
                w.sendClose(WebSocket.NORMAL_CLOSURE, "worker stopping").get(3, TimeUnit.SECONDS);
            } catch (Exception e) {
                w.abort();
            }
        }
        if (thread != null) {
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private final class Listener implements WebSocket.Listener {
        private final CompletableFuture<String> closed;
        private final StringBuilder text = new StringBuilder();

        Listener(CompletableFuture<String> closed) {
            this.closed = closed;
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            lastHeard.set(System.nanoTime());
            if (text.length() + data.length() > MAX_MESSAGE_CHARS) {
                closed.complete("message from the rendezvous over " + MAX_MESSAGE_CHARS + " characters");
                webSocket.abort();
                return null;
            }
            text.append(data);
            if (last) {
                String message = text.toString();
                text.setLength(0);
                try {
                    handler.onMessage(Message.parse(Json.parseObject(message)));
                } catch (Json.ParseException e) {
                    log.warn(workerId, "the rendezvous sent a message that is not a JSON object: " + e.getMessage());
                } catch (ProtocolException e) {
                    log.warn(workerId, "the rendezvous sent an unusable message: " + e.getMessage());
                } catch (RuntimeException e) {
                    log.error(workerId, "handling a rendezvous message failed: " + e);
                }
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onPong(WebSocket webSocket, ByteBuffer message) {
            lastHeard.set(System.nanoTime());
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onPing(WebSocket webSocket, ByteBuffer message) {
            lastHeard.set(System.nanoTime());
            webSocket.request(1);
            return null;
        }

        /** Parts of a binary message that came in pieces (rare: the rendezvous sends each whole, up to 64 KiB). */
        private ByteBuffer binary;

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
            lastHeard.set(System.nanoTime());
            try {
                if (binary == null && last) {
                    handler.onRelayFrame(data);
                } else {
                    int have = binary == null ? 0 : binary.position();
                    if (have + data.remaining() > MAX_MESSAGE_CHARS) {
                        closed.complete("binary message from the rendezvous over " + MAX_MESSAGE_CHARS + " bytes");
                        webSocket.abort();
                        return null;
                    }
                    if (binary == null || binary.remaining() < data.remaining()) {
                        ByteBuffer grown = ByteBuffer.allocate(Math.max(64 * 1024, 2 * (have + data.remaining())));
                        if (binary != null) grown.put(binary.flip());
                        binary = grown;
                    }
                    binary.put(data);
                    if (last) {
                        handler.onRelayFrame(binary.flip());
                        binary = null;
                    }
                }
            } catch (RuntimeException e) {
                binary = null;
                log.error(workerId, "handling relayed data failed: " + e);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closed.complete("closed by the rendezvous with " + statusCode + (reason.isEmpty() ? "" : " (" + reason + ")"));
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            closed.complete("error: " + error);
        }
    }
}
