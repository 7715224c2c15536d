package holepunch.stun;

import holepunch.timer.Scheduler;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Binding transactions over a socket the caller owns (the worker's one UDP socket, which also
 * carries peer traffic): the caller hands every STUN-looking datagram to {@link #onDatagram}.
 * Retransmits per RFC 8489 §6.2.1: RTO doubling from its initial value, Rc requests in all, then
 * Rm x RTO for the last answer. A response counts only if its transaction is outstanding and it
 * comes from the address the request went to.
 */
public final class StunClient {

    /** Sends one datagram on the shared socket. */
    public interface Transport {
        void send(ByteBuffer datagram, InetSocketAddress to) throws IOException;
    }

    /** §6.2.1 parameters: initial RTO, Rc (requests in all), Rm (final wait in RTOs). */
    public record Retransmission(long rtoMillis, int rc, int rm) {
        public static final Retransmission RFC_DEFAULT = new Retransmission(500, 7, 16);

        public Retransmission {
            if (rtoMillis < 1 || rc < 1 || rm < 1) throw new IllegalArgumentException("RTO, Rc and Rm must be positive");
        }
    }

    /** A completed binding: the mapped address, and OTHER-ADDRESS when the server sent one (RFC 5780). */
    public record Binding(InetSocketAddress server, InetSocketAddress mapped, InetSocketAddress otherAddress, long rttMillis) {
    }

    /** The transaction ended without a usable answer; the message says why. */
    public static final class StunFailure extends Exception {
        public StunFailure(String message) {
            super(message, null, false, false);
        }
    }

    static final int MAX_OUTSTANDING = 64;

    private final Transport transport;
    private final Scheduler scheduler;
    private final Retransmission params;
    private final Map<String, Transaction> outstanding = new ConcurrentHashMap<>();

    public StunClient(Transport transport, Scheduler scheduler, Retransmission params) {
        this.transport = transport;
        this.scheduler = scheduler;
        this.params = params;
    }

    private final class Transaction {
        final byte[] id;
        final byte[] request;
        final InetSocketAddress server;
        final CompletableFuture<Binding> result = new CompletableFuture<>();
        final long started;
        int sent;
        long rto;
        volatile Scheduler.Handle timer;

        Transaction(byte[] id, InetSocketAddress server) {
            this.id = id;
            this.request = StunMessage.bindingRequest(id).encode(true);
            this.server = server;
            this.started = scheduler.nowMillis();
            this.rto = params.rtoMillis();
        }

        /** Sends (again) and arms the timer for the next step. */
        synchronized void transmit() {
            if (result.isDone()) return;
            if (sent == params.rc()) {
                finish(new StunFailure("no answer from " + server + " after " + sent + " requests over "
                        + (scheduler.nowMillis() - started) + " ms"));
                return;
            }
            sent++;
            try {
                transport.send(ByteBuffer.wrap(request), server);
            } catch (IOException e) {
                finish(new StunFailure("cannot send to " + server + ": " + e.getMessage()));
                return;
            }
            long wait = sent == params.rc() ? params.rm() * params.rtoMillis() : rto;
            rto *= 2;
            timer = scheduler.schedule(wait, this::transmit);
        }

        void finish(Throwable failure) {
            outstanding.remove(key(id));
            Scheduler.Handle t = timer;
            if (t != null) t.cancel();
            result.completeExceptionally(failure);
        }
    }

    /** Starts a Binding transaction with {@code server}. */
    public CompletableFuture<Binding> bind(InetSocketAddress server) {
        if (server.isUnresolved()) return CompletableFuture.failedFuture(new StunFailure("unresolved STUN server " + server));
        if (outstanding.size() >= MAX_OUTSTANDING) {
            return CompletableFuture.failedFuture(new StunFailure("too many STUN transactions outstanding"));
        }
        byte[] id = StunMessage.newTransactionId();
        Transaction t = new Transaction(id, server);
        outstanding.put(key(id), t);
        t.transmit();
        return t.result;
    }

    /**
     * Offers a received datagram; true when it was the answer to an outstanding transaction.
     * Anything else (unknown transaction, wrong source, malformed) is ignored and false returned.
     */
    public boolean onDatagram(InetSocketAddress from, byte[] data, int length) throws StunException {
        StunMessage m = StunMessage.parse(data, 0, length);
        if (m.messageClass() != StunClass.SUCCESS_RESPONSE && m.messageClass() != StunClass.ERROR_RESPONSE) return false;
        Transaction t = outstanding.get(key(m.transactionId()));
        if (t == null || !t.server.equals(from)) return false;
        outstanding.remove(key(t.id));
        Scheduler.Handle timer = t.timer;
        if (timer != null) timer.cancel();
        if (m.messageClass() == StunClass.ERROR_RESPONSE) {
            t.result.completeExceptionally(new StunFailure("STUN server " + from + " answered with error " + m.errorCode()));
            return true;
        }
        InetSocketAddress mapped = m.mappedAddress();
        if (mapped == null) {
            t.result.completeExceptionally(new StunFailure("STUN server " + from + " sent no (XOR-)MAPPED-ADDRESS"));
            return true;
        }
        t.result.complete(new Binding(from, mapped, m.address(AttributeType.OTHER_ADDRESS), scheduler.nowMillis() - t.started));
        return true;
    }

    public int outstanding() {
        return outstanding.size();
    }

    private static String key(byte[] id) {
        return HexFormat.of().formatHex(id);
    }
}
