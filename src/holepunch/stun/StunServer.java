package holepunch.stun;

import holepunch.log.Log;
import holepunch.net.Addresses;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A STUN Binding server on UDP (RFC 8489 §6.3). It answers well-formed Binding requests with
 * XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, SOFTWARE and FINGERPRINT (RFC 3489 clients, which send no
 * magic cookie, get MAPPED-ADDRESS alone, §12); a request with unknown comprehension-required
 * attributes gets 420, one for another method 400. Everything else (malformed datagrams,
 * indications, responses) is dropped without a reply, and each source IP is held to a rate.
 */
public final class StunServer implements AutoCloseable {
    public static final String SOFTWARE = "holepunch";

    private final Log log = Log.of("stun-server");
    private final DatagramChannel channel;
    private final SourceLimiter limiter;
    private final Thread thread;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong responses = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private volatile boolean running = true;

    private StunServer(DatagramChannel channel, double perSourcePerSecond) {
        this.channel = channel;
        this.limiter = new SourceLimiter(perSourcePerSecond, 100_000);
        this.thread = Thread.ofPlatform().name("stun-server").daemon(true).unstarted(this::run);
    }

    /** {@code perSourcePerSecond}: requests answered per second per source IP (0: no limit). */
    public static StunServer start(InetSocketAddress bind, double perSourcePerSecond) throws IOException {
        DatagramChannel ch = DatagramChannel.open();
        try {
            ch.bind(bind);
        } catch (IOException e) {
            ch.close();
            throw new IOException("cannot bind the STUN server to UDP " + bind + ": " + e.getMessage(), e);
        }
        StunServer s = new StunServer(ch, perSourcePerSecond);
        s.thread.start();
        s.log.info(null, "STUN server on UDP " + ch.getLocalAddress());
        return s;
    }

    public int port() {
        return Addresses.localPort(channel);
    }

    public long requests() {
        return requests.get();
    }

    public long responses() {
        return responses.get();
    }

    public long dropped() {
        return dropped.get();
    }

    private void run() {
        ByteBuffer in = ByteBuffer.allocate(2048);
        while (running) {
            try {
                in.clear();
                SocketAddress from = channel.receive(in);
                if (!(from instanceof InetSocketAddress src)) continue;
                requests.incrementAndGet();
                if (!limiter.allow(src.getAddress(), System.nanoTime())) {
                    dropped.incrementAndGet();
                    continue;
                }
                byte[] reply = respond(in.array(), in.position(), src);
                if (reply == null) {
                    dropped.incrementAndGet();
                    continue;
                }
                channel.send(ByteBuffer.wrap(reply), src);
                responses.incrementAndGet();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException | RuntimeException e) {
                if (running) log.warn(null, "STUN server: " + e);   // e.g. ICMP unreachable from a previous send
            }
        }
    }

    /** The reply to one datagram from {@code source}, or null when it gets none. */
    public static byte[] respond(byte[] data, int length, InetSocketAddress source) {
        StunMessage request;
        try {
            request = StunMessage.parse(data, 0, length);
        } catch (StunException e) {
            StunMessage h = e.header();
            if (e.code() == ErrorCode.UNKNOWN_ATTRIBUTE && h != null && h.messageClass() == StunClass.REQUEST) {
                return error(h, ErrorCode.UNKNOWN_ATTRIBUTE, e.unknownAttributes());
            }
            return null;
        }
        if (request.messageClass() != StunClass.REQUEST) return null;
        if (request.method() != StunMessage.BINDING) return error(request, ErrorCode.BAD_REQUEST, List.of());
        byte[] change = request.attribute(AttributeType.CHANGE_REQUEST);
        if (change != null && (change[3] & 0x06) != 0) {
            // RFC 5780 §7.2 asks to answer from another address or port; this server has none, and a
            // reply from the same one would tell the client its NAT filters nothing. 420 says so.
            return error(request, ErrorCode.UNKNOWN_ATTRIBUTE, List.of(AttributeType.CHANGE_REQUEST.code));
        }
        byte[] tid = request.transactionId();
        List<StunAttribute> attrs = new ArrayList<>(4);
        if (request.isClassic()) {
            attrs.add(new StunAttribute(AttributeType.MAPPED_ADDRESS, StunAddress.encode(source, false, tid)));
            return new StunMessage(StunClass.SUCCESS_RESPONSE, StunMessage.BINDING, tid, attrs).encode(false);
        }
        attrs.add(new StunAttribute(AttributeType.XOR_MAPPED_ADDRESS, StunAddress.encode(source, true, tid)));
        attrs.add(new StunAttribute(AttributeType.MAPPED_ADDRESS, StunAddress.encode(source, false, tid)));
        attrs.add(new StunAttribute(AttributeType.SOFTWARE, SOFTWARE.getBytes(StandardCharsets.UTF_8)));
        return new StunMessage(StunClass.SUCCESS_RESPONSE, StunMessage.BINDING, tid, attrs).encode(true);
    }

    private static byte[] error(StunMessage request, ErrorCode code, List<Integer> unknown) {
        List<StunAttribute> attrs = new ArrayList<>(2);
        byte[] reason = code.reason.getBytes(StandardCharsets.UTF_8);
        ByteBuffer v = ByteBuffer.allocate(4 + reason.length).putShort((short) 0)
                .put((byte) (code.code / 100)).put((byte) (code.code % 100)).put(reason);
        attrs.add(new StunAttribute(AttributeType.ERROR_CODE, v.array()));
        if (!unknown.isEmpty()) {
            ByteBuffer u = ByteBuffer.allocate(2 * unknown.size());
            for (int t : unknown) u.putShort((short) t);
            attrs.add(new StunAttribute(AttributeType.UNKNOWN_ATTRIBUTES, u.array()));
        }
        StunMessage m = new StunMessage(StunClass.ERROR_RESPONSE, request.method(), request.transactionId(), attrs);
        return m.encode(!request.isClassic());
    }

    @Override
    public void close() {
        running = false;
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
