package holepunch.redis;

import holepunch.timer.Backoff;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * Redis Pub/Sub on a connection of its own (a subscribed RESP2 connection takes no other commands): subscribes
 * to fixed channels and hands each message to a callback on its one thread. A connection that says nothing for
 * {@code timeoutMillis} is asked PING; one that then stays silent as long is dropped. Reconnects with backoff,
 * telling {@code onState} each time it is subscribed (true) or lost (false).
 */
public final class RedisSubscriber implements AutoCloseable {
    private final RedisUrl url;
    private final int timeoutMillis;
    private final List<String> channels;
    private final BiConsumer<String, String> onMessage;
    private final Consumer<Boolean> onState;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile RespConnection connection;

    private final javax.net.ssl.SSLSocketFactory tls;

    public RedisSubscriber(RedisUrl url, javax.net.ssl.SSLSocketFactory tls, int timeoutMillis, List<String> channels,
                           BiConsumer<String, String> onMessage, Consumer<Boolean> onState) {
        this.url = url;
        this.tls = tls;
        this.timeoutMillis = timeoutMillis;
        this.channels = List.copyOf(channels);
        this.onMessage = onMessage;
        this.onState = onState;
        this.thread = Thread.ofPlatform().daemon().name("redis-subscriber").unstarted(this::loop);
    }

    public void start() {
        thread.start();
    }

    private void loop() {
        int failures = 0;
        while (running) {
            boolean subscribed = false;
            try (RespConnection c = RespConnection.open(url, timeoutMillis, false, tls)) {
                connection = c;
                if (!running) return;
                List<String> subscribe = new ArrayList<>(List.of("SUBSCRIBE"));
                subscribe.addAll(channels);
                c.write(List.of(subscribe));
                boolean pinged = false;
                int confirmed = 0;
                while (running) {
                    Resp.Value v;
                    try {
                        v = c.read(System.nanoTime() + timeoutMillis * 1_000_000L);
                    } catch (SocketTimeoutException quiet) {
                        if (pinged) throw new IOException("no answer to PING within " + timeoutMillis + " ms");
                        c.write(List.of(List.of("PING")));
                        pinged = true;
                        continue;
                    }
                    pinged = false;
                    if (!(v instanceof Resp.Array a) || a.items() == null || a.items().isEmpty()) {
                        if (v instanceof Resp.Error e) throw new IOException("redis refused SUBSCRIBE: " + e.message());
                        continue;
                    }
                    String kind = a.items().get(0) instanceof Resp.Bulk b ? b.text() : "";
                    if (kind.equals("message") && a.items().size() == 3
                            && a.items().get(1) instanceof Resp.Bulk ch && a.items().get(2) instanceof Resp.Bulk msg) {
                        try {
                            onMessage.accept(ch.text(), msg.text());
                        } catch (RuntimeException e) {
                            // the handler's fault costs its one message, not the subscription
                        }
                    } else if (kind.equals("subscribe") && ++confirmed == channels.size()) {
                        subscribed = true;
                        failures = 0;
                        onState.accept(true);
                    }
                }
            } catch (IOException | RuntimeException e) {
                if (!running) return;
                if (subscribed || failures == 0) onState.accept(false);
            } finally {
                connection = null;
            }
            try {
                Thread.sleep(Backoff.jittered(failures++, 100, 5000));
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    @Override
    public void close() {
        running = false;
        RespConnection c = connection;
        if (c != null) c.close();
        thread.interrupt();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
