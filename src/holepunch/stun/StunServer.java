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
 *
 * <p>It answers on a second port too, and every answer names the other one in OTHER-ADDRESS
 * (RFC 5780 §7.2 and §14.4), so that a client pointed at this server alone can send to two
 * destinations from one socket and tell an endpoint-dependent ("symmetric") NAT, which maps them
 * apart, from an endpoint-independent one. Its address is the one bound; bound to the wildcard,
 * the address is the wildcard, meaning "the one you sent to".
 *
 * <p>CHANGE-REQUEST (RFC 5780 §7.2, RFC 3489 §11.2.4): "change port" is answered from the second
 * port. This server has one IP address, so "change IP" cannot be honoured; {@link ChangePolicy}
 * says what it does then. The default answers from the address asked, as the public servers the
 * original worker's STUN library (RFC 3489's NAT-type tests) was written against do: that library
 * reads no error response and resends a refused request forever.
 */
public final class StunServer implements AutoCloseable {
    public static final String SOFTWARE = "holepunch";

    /** What a CHANGE-REQUEST this server cannot honour gets ({@code STUN_CHANGE_REQUEST}). */
    public enum ChangePolicy {
        /** Answered from the address asked (change-port from the second port when there is one), as public servers do. */
        ANSWER,
        /** RFC 5780 §7.2 to the letter: a change this server cannot make gets 420 (Unknown Attribute). */
        STRICT;

        public static ChangePolicy parse(String text) {
            return switch (text.strip().toLowerCase(java.util.Locale.ROOT)) {
                case "", "answer" -> ANSWER;
                case "strict" -> STRICT;
                default -> throw new IllegalArgumentException("STUN_CHANGE_REQUEST must be answer or strict, got '" + Log.excerpt(text) + "'");
            };
        }
    }

    /** A reply and the port it leaves from: this one, or the second one (CHANGE-REQUEST's change port). */
    public record Reply(byte[] bytes, boolean fromOtherPort) {
    }

    /** RFC 5780 §7.2: CHANGE-REQUEST's flags. */
    static final int CHANGE_IP = 0x04, CHANGE_PORT = 0x02;

    private final Log log = Log.of("stun-server");
    private final DatagramChannel channel;
    private final DatagramChannel other;
    private final SourceLimiter limiter;
    private final Thread thread;
    private final Thread otherThread;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong responses = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final ChangePolicy policy;
    private volatile boolean running = true;

    private StunServer(DatagramChannel channel, DatagramChannel other, double perSourcePerSecond, ChangePolicy policy) {
        this.channel = channel;
        this.other = other;
        this.policy = policy;
        this.limiter = new SourceLimiter(perSourcePerSecond, 100_000);
        InetSocketAddress otherAddress = other == null ? null : (InetSocketAddress) localAddress(other);
        InetSocketAddress mainAddress = (InetSocketAddress) localAddress(channel);
        this.thread = Thread.ofPlatform().name("stun-server").daemon(true).unstarted(() -> run(channel, other, otherAddress));
        this.otherThread = other == null ? null : Thread.ofPlatform().name("stun-server-2").daemon(true).unstarted(() -> run(other, channel, mainAddress));
    }

    private static SocketAddress localAddress(DatagramChannel ch) {
        try {
            return ch.getLocalAddress();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** {@code perSourcePerSecond}: requests answered per second per source IP (0: no limit). No second port. */
    public static StunServer start(InetSocketAddress bind, double perSourcePerSecond) throws IOException {
        return start(bind, perSourcePerSecond, -1);
    }

    /**
     * As above, answering on {@code otherPort} as well (0: any free port; negative: none). A second
     * port that cannot be bound is logged and done without: the server still serves its first.
     */
    public static StunServer start(InetSocketAddress bind, double perSourcePerSecond, int otherPort) throws IOException {
        return start(bind, perSourcePerSecond, otherPort, ChangePolicy.ANSWER);
    }

    /** As above, with {@code policy} for CHANGE-REQUESTs this server cannot honour. */
    public static StunServer start(InetSocketAddress bind, double perSourcePerSecond, int otherPort, ChangePolicy policy) throws IOException {
        DatagramChannel ch = DatagramChannel.open();
        try {
            ch.bind(bind);
        } catch (IOException e) {
            ch.close();
            throw holepunch.config.ConfigException.cannotBind("UDP", bind.getHostString(), bind.getPort(), "STUN_UDP_PORT", e);
        }
        DatagramChannel second = null;
        if (otherPort >= 0) {
            second = DatagramChannel.open();
            try {
                second.bind(new InetSocketAddress(bind.getAddress(), otherPort));
            } catch (IOException e) {
                second.close();
                second = null;
                Log.of("stun-server").warn(null, "cannot bind the STUN server's second port UDP " + otherPort + " (STUN_OTHER_PORT): "
                        + e.getMessage() + "; answering without OTHER-ADDRESS, so one-server NAT classification is off");
            }
        }
        StunServer s = new StunServer(ch, second, perSourcePerSecond, policy);
        s.thread.start();
        if (s.otherThread != null) s.otherThread.start();
        s.log.info(null, "STUN server on UDP " + ch.getLocalAddress() + (second == null ? "" : " and " + second.getLocalAddress() + " (OTHER-ADDRESS)"));
        return s;
    }

    /** The second port, or 0 when there is none. */
    public int otherPort() {
        return other == null ? 0 : Addresses.localPort(other);
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

    private void run(DatagramChannel channel, DatagramChannel otherChannel, InetSocketAddress otherAddress) {
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
                Reply reply = respond(in.array(), in.position(), src, otherAddress, otherChannel != null, policy);
                if (reply == null) {
                    dropped.incrementAndGet();
                    continue;
                }
                (reply.fromOtherPort() ? otherChannel : channel).send(ByteBuffer.wrap(reply.bytes()), src);
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
        return respond(data, length, source, null);
    }

    /** As above, naming {@code otherAddress} (when not null) in OTHER-ADDRESS; no second port to answer from. */
    public static byte[] respond(byte[] data, int length, InetSocketAddress source, InetSocketAddress otherAddress) {
        Reply r = respond(data, length, source, otherAddress, false, ChangePolicy.ANSWER);
        return r == null ? null : r.bytes();
    }

    /**
     * The reply to one datagram and the port it leaves from. {@code hasOtherPort}: this server can
     * answer from its second port (CHANGE-REQUEST's change port); {@code policy}: what a change it
     * cannot make gets.
     */
    public static Reply respond(byte[] data, int length, InetSocketAddress source, InetSocketAddress otherAddress,
                                boolean hasOtherPort, ChangePolicy policy) {
        StunMessage request;
        try {
            request = StunMessage.parse(data, 0, length);
        } catch (StunException e) {
            StunMessage h = e.header();
            if (e.code() == ErrorCode.UNKNOWN_ATTRIBUTE && h != null && h.messageClass() == StunClass.REQUEST) {
                return new Reply(error(h, ErrorCode.UNKNOWN_ATTRIBUTE, e.unknownAttributes()), false);
            }
            return null;
        }
        if (request.messageClass() != StunClass.REQUEST) return null;
        if (request.method() != StunMessage.BINDING) return new Reply(error(request, ErrorCode.BAD_REQUEST, List.of()), false);
        byte[] change = request.attribute(AttributeType.CHANGE_REQUEST);
        int flags = change == null ? 0 : change[3] & (CHANGE_IP | CHANGE_PORT);
        boolean fromOther = false;
        if (flags != 0) {
            boolean canChange = (flags & CHANGE_IP) == 0 && hasOtherPort;      // one address: only the port can change
            if (canChange) {
                fromOther = true;
            } else if (policy == ChangePolicy.STRICT) {
                // RFC 5780 §7.2: a change the server cannot make gets 420.
                return new Reply(error(request, ErrorCode.UNKNOWN_ATTRIBUTE, List.of(AttributeType.CHANGE_REQUEST.code)), false);
            }
            // ANSWER: from the address asked, as the public servers RFC 3489 clients were written against answer
        }
        return new Reply(success(request, source, otherAddress), fromOther);
    }

    private static byte[] success(StunMessage request, InetSocketAddress source, InetSocketAddress otherAddress) {
        byte[] tid = request.transactionId();
        List<StunAttribute> attrs = new ArrayList<>(4);
        if (request.isClassic()) {
            attrs.add(new StunAttribute(AttributeType.MAPPED_ADDRESS, StunAddress.encode(source, false, tid)));
            return new StunMessage(StunClass.SUCCESS_RESPONSE, StunMessage.BINDING, tid, attrs).encode(false);
        }
        attrs.add(new StunAttribute(AttributeType.XOR_MAPPED_ADDRESS, StunAddress.encode(source, true, tid)));
        attrs.add(new StunAttribute(AttributeType.MAPPED_ADDRESS, StunAddress.encode(source, false, tid)));
        attrs.add(new StunAttribute(AttributeType.SOFTWARE, SOFTWARE.getBytes(StandardCharsets.UTF_8)));
        if (otherAddress != null && otherAddress.getAddress().getClass() == source.getAddress().getClass()) {
            attrs.add(new StunAttribute(AttributeType.OTHER_ADDRESS, StunAddress.encode(otherAddress, false, tid)));
        }
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
            if (other != null) other.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        try {
            thread.join(2000);
            if (otherThread != null) otherThread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
