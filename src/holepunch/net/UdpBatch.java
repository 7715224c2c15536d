package holepunch.net;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.DatagramChannel;

/**
 * Batched UDP system calls for one thread's use of one socket: {@code recvmmsg(2)} fills up to
 * {@value #BATCH} datagrams with one call, {@code sendmmsg(2)} sends as many, through the Foreign
 * Function API on the channel's descriptor (Linux, x86-64 and AArch64 layouts). Each batch owns
 * its native buffers for its life: nothing is allocated per datagram (a sender's address object is
 * made only when it differs from the previous datagram's). Where the calls are not available
 * ({@link #unavailable()} says why), callers use the channel as before; the data plane works
 * either way. A batch belongs to the thread that opens it (its memory is confined to that thread),
 * which also closes it.
 *
 * <p>A receive waits at most {@link #RECEIVE_WAIT_MILLIS} (SO_RCVTIMEO), so a thread blocked in
 * it notices a close: the JDK cannot wake a thread in a call it did not make. The descriptor may
 * also be non-blocking: the JDK makes a channel's descriptor so for good once a virtual thread uses
 * the channel (a send from the worker's session handlers does). Then {@code recvmmsg} returns at once
 * with nothing, and the receive waits in {@code poll(2)} instead: before, the reader spun on it,
 * a whole core and about 800 MB/s of garbage from an idle worker.
 */
public final class UdpBatch implements AutoCloseable {
    public static final int BATCH = 32;
    public static final int RECEIVE_WAIT_MILLIS = 200;
    private static final int AF_INET = 2, AF_INET6 = 10;
    private static final int SOL_SOCKET = 1, SO_RCVTIMEO = 20;
    private static final int MSG_WAITFORONE = 0x10000;
    private static final int EAGAIN = 11, EINTR = 4, EIO = 5, EINVAL = 22, EOPNOTSUPP = 95;
    private static final int SOCKADDR = 28;                          // sockaddr_in6, the larger of the two

    private static final StructLayout IOVEC = MemoryLayout.structLayout(ValueLayout.ADDRESS.withName("base"),
            ValueLayout.JAVA_LONG.withName("len"));
    private static final StructLayout MMSGHDR = MemoryLayout.structLayout(
            ValueLayout.ADDRESS.withName("name"), ValueLayout.JAVA_INT.withName("namelen"), MemoryLayout.paddingLayout(4),
            ValueLayout.ADDRESS.withName("iov"), ValueLayout.JAVA_LONG.withName("iovlen"),
            ValueLayout.ADDRESS.withName("control"), ValueLayout.JAVA_LONG.withName("controllen"),
            ValueLayout.JAVA_INT.withName("flags"), MemoryLayout.paddingLayout(4),
            ValueLayout.JAVA_INT.withName("len"), MemoryLayout.paddingLayout(4));
    private static final VarHandle IOV_BASE = IOVEC.varHandle(MemoryLayout.PathElement.groupElement("base"));
    private static final VarHandle IOV_LEN = IOVEC.varHandle(MemoryLayout.PathElement.groupElement("len"));
    private static final VarHandle H_NAME = MMSGHDR.varHandle(MemoryLayout.PathElement.groupElement("name"));
    private static final VarHandle H_NAMELEN = MMSGHDR.varHandle(MemoryLayout.PathElement.groupElement("namelen"));
    private static final VarHandle H_IOV = MMSGHDR.varHandle(MemoryLayout.PathElement.groupElement("iov"));
    private static final VarHandle H_IOVLEN = MMSGHDR.varHandle(MemoryLayout.PathElement.groupElement("iovlen"));
    private static final VarHandle H_LEN = MMSGHDR.varHandle(MemoryLayout.PathElement.groupElement("len"));
    private static final VarHandle H_CONTROL = MMSGHDR.varHandle(MemoryLayout.PathElement.groupElement("control"));
    private static final VarHandle H_CONTROLLEN = MMSGHDR.varHandle(MemoryLayout.PathElement.groupElement("controllen"));
    private static final VarHandle H_FLAGS = MMSGHDR.varHandle(MemoryLayout.PathElement.groupElement("flags"));
    /** udp(7): segmentation offload (a send of many equal datagrams in one buffer) and its receive side. */
    private static final int SOL_UDP = 17, UDP_SEGMENT = 103, UDP_GRO = 104;
    /** A cmsghdr (length, level, type) and room for its int, as CMSG_SPACE(4); one per message. */
    private static final int CONTROL = 24;
    /** At most this many datagrams, and bytes, in one segmented send (UDP_MAX_SEGMENTS; an IP datagram's limit). */
    private static final int GSO_MAX_SEGMENTS = 64, GSO_MAX_BYTES = 65_000;
    /** The receive buffer for a coalesced batch (UDP_GRO): the largest IP datagram. */
    public static final int GRO_BUFFER = 65_536;
    private static final int MSG_TRUNC = 0x20;

    private static final MethodHandle RECVMMSG, SENDMMSG, SETSOCKOPT, POLL;
    private static final short POLLIN = 1;
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final String UNAVAILABLE;

    static {
        MethodHandle recv = null, send = null, sso = null, poll = null;
        String why = null;
        try {
            if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
                throw new UnsupportedOperationException("recvmmsg and sendmmsg are Linux's");
            }
            if (ValueLayout.ADDRESS.byteSize() != 8) throw new UnsupportedOperationException("a 64-bit platform is needed");
            Linker linker = Linker.nativeLinker();
            Linker.Option errno = Linker.Option.captureCallState("errno");
            recv = downcall(linker, "recvmmsg", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS), errno);
            send = downcall(linker, "sendmmsg", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), errno);
            sso = downcall(linker, "setsockopt", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            poll = downcall(linker, "poll", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT));
        } catch (Throwable e) {
            why = e.getMessage() == null ? e.toString() : e.getMessage();
        }
        RECVMMSG = recv;
        SENDMMSG = send;
        SETSOCKOPT = sso;
        POLL = poll;
        UNAVAILABLE = why;
    }

    @SuppressWarnings("restricted")
    private static MethodHandle downcall(Linker linker, String name, FunctionDescriptor d, Linker.Option... options) {
        return linker.downcallHandle(linker.defaultLookup().find(name).orElseThrow(), d, options);
    }

    /** Why batched calls cannot be used here, or null when they can. {@code UDP_BATCH=false} turns them off. */
    public static String unavailable() {
        return UNAVAILABLE;
    }

    private final Arena arena = Arena.ofConfined();
    private int fd;
    private boolean ipv6Socket;
    private final int size;
    private final MemorySegment headers, iovecs, names, buffers, capture, controls, pollFd;
    /** Each message's header, address, iovec and control slices, made once (a receive or an add allocates nothing). */
    private final MemorySegment[] headerSlices = new MemorySegment[BATCH], nameSlices = new MemorySegment[BATCH],
            iovSlices = new MemorySegment[BATCH], controlSlices = new MemorySegment[BATCH];
    /** Segmented sends: one header per run of equal datagrams to one destination, each with its UDP_SEGMENT. */
    private final MemorySegment gsoHeaders, gsoControls;
    private final int[] lengths = new int[BATCH];
    private final int[] segments = new int[BATCH];
    private final int[] runStarts = new int[BATCH];
    private final InetSocketAddress[] destinations = new InetSocketAddress[BATCH];
    private boolean gso = true;
    private boolean gro;
    private final InetSocketAddress[] sources = new InetSocketAddress[BATCH];
    private final byte[] lastName = new byte[SOCKADDR];
    private final byte[] name = new byte[SOCKADDR];
    private InetSocketAddress lastSource;
    private InetSocketAddress lastDestination;
    private final MemorySegment destinationName;
    private int destinationLength;
    private int pending;

    private UdpBatch(DatagramChannel ch, int size) throws IOException {
        this.fd = ch == null ? -1 : fd(ch);
        this.ipv6Socket = ch != null && ch.getLocalAddress() instanceof InetSocketAddress a && a.getAddress() instanceof Inet6Address;
        this.size = size;
        headers = arena.allocate(MMSGHDR, BATCH);
        iovecs = arena.allocate(IOVEC, BATCH);
        names = arena.allocate(SOCKADDR * BATCH, 8);
        buffers = arena.allocate((long) size * BATCH, 64);
        capture = arena.allocate(CAPTURE);
        destinationName = arena.allocate(SOCKADDR, 8);
        controls = arena.allocate((long) CONTROL * BATCH, 8);
        gsoHeaders = arena.allocate(MMSGHDR, BATCH);
        gsoControls = arena.allocate((long) CONTROL * BATCH, 8);
        pollFd = arena.allocate(8, 4);
        for (int i = 0; i < BATCH; i++) {
            headerSlices[i] = headers.asSlice(i * MMSGHDR.byteSize(), MMSGHDR);
            nameSlices[i] = names.asSlice((long) i * SOCKADDR, SOCKADDR);
            iovSlices[i] = iovecs.asSlice(i * IOVEC.byteSize(), IOVEC);
            controlSlices[i] = controls.asSlice((long) i * CONTROL, CONTROL);
            MemorySegment iov = iovSlices[i];
            IOV_BASE.set(iov, 0L, buffers.asSlice((long) i * size, size));
            IOV_LEN.set(iov, 0L, (long) size);
            MemorySegment h = headerSlices[i];
            H_IOV.set(h, 0L, iov);
            H_IOVLEN.set(h, 0L, 1L);
        }
    }

    /** A batch for sending only, on whichever channel {@link #switchTo} names (before anything is added); null where unavailable. */
    public static UdpBatch forSending(int size) throws IOException {
        return UNAVAILABLE != null ? null : new UdpBatch(null, size);
    }

    /** Sends what is pending on the current channel, then sends on {@code ch}; returns what the kernel refused of the former. */
    public int switchTo(DatagramChannel ch) throws IOException {
        int refused = pending - flush();
        fd = fd(ch);
        ipv6Socket = ch.getLocalAddress() instanceof InetSocketAddress a && a.getAddress() instanceof Inet6Address;
        lastDestination = null;
        return refused;
    }

    /** Adds {@code data[off, off + len)} for a connected channel's own peer. */
    public void addConnected(byte[] data, int off, int len) throws IOException {
        add(data, off, len, null);
    }

    /** A batch over {@code ch} for datagrams of up to {@code size} bytes; null where batched calls are unavailable. */
    public static UdpBatch open(DatagramChannel ch, int size) throws IOException {
        return open(ch, size, false);
    }

    /**
     * As above; {@code coalesce}: ask the kernel to hand over runs of equal datagrams from one
     * sender as one buffer (UDP_GRO), which {@link #segmentSize} then splits, where it can.
     */
    public static UdpBatch open(DatagramChannel ch, int size, boolean coalesce) throws IOException {
        if (UNAVAILABLE != null) return null;
        UdpBatch b = new UdpBatch(ch, coalesce ? GRO_BUFFER : size);
        if (coalesce) {
            try (Arena a = Arena.ofConfined()) {
                b.gro = (int) SETSOCKOPT.invokeExact(b.fd, SOL_UDP, UDP_GRO, a.allocateFrom(ValueLayout.JAVA_INT, 1), 4) == 0;
            } catch (Throwable e) {
                b.gro = false;
            }
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment tv = a.allocate(16, 8);
            tv.set(ValueLayout.JAVA_LONG, 0, 0);
            tv.set(ValueLayout.JAVA_LONG, 8, RECEIVE_WAIT_MILLIS * 1000L);
            if ((int) SETSOCKOPT.invokeExact(b.fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) != 0) {
                b.close();
                throw new IOException("setsockopt(SO_RCVTIMEO) failed");
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable e) {
            b.close();
            throw new IOException("setsockopt: " + e, e);
        }
        return b;
    }

    private static int fd(DatagramChannel channel) throws IOException {
        try {
            java.lang.reflect.Method m = channel.getClass().getMethod("getFDVal");
            m.setAccessible(true);
            return (int) m.invoke(channel);
        } catch (ReflectiveOperationException e) {
            throw new IOException("cannot reach the socket's descriptor (java.base/sun.nio.ch must be opened): " + e, e);
        }
    }

    private MemorySegment header(int i) {
        return headerSlices[i];
    }

    // ---- receiving

    /**
     * Waits up to {@value #RECEIVE_WAIT_MILLIS} ms for at least one datagram and takes what is
     * there, up to {@value #BATCH}; returns how many (0 when none came). Datagrams longer than the
     * batch's size are cut by the kernel: callers size it one byte over their largest, and drop
     * those that fill it.
     */
    public int receive() throws IOException {
        int n = recvmmsg();
        if (n < 0) {                                    // nothing there on a non-blocking descriptor: wait for something
            if (!awaitReadable()) return 0;
            n = recvmmsg();
            if (n < 0) return 0;
        }
        for (int i = 0; i < n; i++) {
            MemorySegment h = header(i);
            lengths[i] = (int) H_LEN.get(h, 0L);
            if (((int) H_FLAGS.get(h, 0L) & MSG_TRUNC) != 0) lengths[i] = size;        // cut: the caller drops what fills the buffer
            segments[i] = gro ? groSegment(i, (long) H_CONTROLLEN.get(h, 0L)) : 0;
            sources[i] = decodeSource(i);
        }
        return n;
    }

    /** One {@code recvmmsg}: how many messages, or -1 when none was there (EAGAIN, EINTR). */
    private int recvmmsg() throws IOException {
        for (int i = 0; i < BATCH; i++) {
            MemorySegment h = headerSlices[i];
            H_NAME.set(h, 0L, nameSlices[i]);
            H_NAMELEN.set(h, 0L, SOCKADDR);
            IOV_LEN.set(iovSlices[i], 0L, (long) size);
            H_CONTROL.set(h, 0L, gro ? controlSlices[i] : MemorySegment.NULL);
            H_CONTROLLEN.set(h, 0L, gro ? (long) CONTROL : 0L);
            H_FLAGS.set(h, 0L, 0);
        }
        int n;
        try {
            n = (int) RECVMMSG.invokeExact(capture, fd, headers, BATCH, MSG_WAITFORONE, MemorySegment.NULL);
        } catch (Throwable e) {
            throw new IOException("recvmmsg: " + e, e);
        }
        if (n >= 0) return n;
        int errno = (int) ERRNO.get(capture, 0L);
        if (errno == EAGAIN || errno == EINTR) return -1;
        throw new IOException("recvmmsg failed: errno " + errno);
    }

    /** Waits up to {@value #RECEIVE_WAIT_MILLIS} ms for the descriptor to be readable; false when it was not. */
    private boolean awaitReadable() throws IOException {
        pollFd.set(ValueLayout.JAVA_INT, 0, fd);
        pollFd.set(ValueLayout.JAVA_SHORT, 4, POLLIN);
        pollFd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
        try {
            return (int) POLL.invokeExact(pollFd, 1L, RECEIVE_WAIT_MILLIS) > 0;
        } catch (Throwable e) {
            throw new IOException("poll: " + e, e);
        }
    }

    /** UDP_GRO's segment size in message {@code i}'s control data, or 0 (one datagram, not coalesced). */
    private int groSegment(int i, long controlLength) {
        long base = (long) i * CONTROL;
        if (controlLength < 16 + 4) return 0;
        long cmsgLen = controls.get(ValueLayout.JAVA_LONG, base);
        int level = controls.get(ValueLayout.JAVA_INT, base + 8), type = controls.get(ValueLayout.JAVA_INT, base + 12);
        if (cmsgLen < 16 + 2 || level != SOL_UDP || type != UDP_GRO) return 0;
        return controls.get(ValueLayout.JAVA_INT, base + 16);
    }

    /**
     * The size of each datagram in received message {@code i} when the kernel coalesced several
     * (UDP_GRO; the last may be shorter), else 0: the message is one datagram.
     */
    public int segmentSize(int i) {
        return segments[i];
    }

    /** Copies {@code len} bytes of received message {@code i} from {@code from} into {@code dst} at {@code off}. */
    public void copy(int i, int from, int len, byte[] dst, int off) {
        MemorySegment.copy(buffers, ValueLayout.JAVA_BYTE, (long) i * size + from, dst, off, len);
    }

    /** The length of received datagram {@code i}. */
    public int length(int i) {
        return lengths[i];
    }

    /** The sender of received datagram {@code i} (the same object as the previous one's when it is the same sender). */
    public InetSocketAddress source(int i) {
        return sources[i];
    }

    /** Copies received datagram {@code i} into {@code dst} at {@code off}; returns its length. */
    public int copy(int i, byte[] dst, int off) {
        int len = Math.min(lengths[i], dst.length - off);
        MemorySegment.copy(buffers, ValueLayout.JAVA_BYTE, (long) i * size, dst, off, len);
        return len;
    }

    private InetSocketAddress decodeSource(int i) throws IOException {
        MemorySegment.copy(names, ValueLayout.JAVA_BYTE, (long) i * SOCKADDR, name, 0, SOCKADDR);
        if (lastSource != null && java.util.Arrays.equals(name, lastName)) return lastSource;
        int family = (name[0] & 0xFF) | (name[1] & 0xFF) << 8;
        int port = (name[2] & 0xFF) << 8 | (name[3] & 0xFF);
        InetAddress a;
        if (family == AF_INET) {
            a = InetAddress.getByAddress(java.util.Arrays.copyOfRange(name, 4, 8));
        } else if (family == AF_INET6) {
            a = InetAddress.getByAddress(java.util.Arrays.copyOfRange(name, 8, 24));     // a v4-mapped one comes back as IPv4
        } else {
            throw new IOException("a datagram from address family " + family);
        }
        System.arraycopy(name, 0, lastName, 0, SOCKADDR);
        lastSource = new InetSocketAddress(a, port);
        return lastSource;
    }

    // ---- sending

    /** Room for another datagram in this batch before {@link #flush}. */
    public boolean full() {
        return pending == BATCH;
    }

    public int pending() {
        return pending;
    }

    /**
     * Adds {@code data[off, off + len)} for {@code to} (null: a connected channel's own peer);
     * {@link #flush} sends what was added (a full batch is sent first).
     */
    public void add(byte[] data, int off, int len, InetSocketAddress to) throws IOException {
        if (len > size) throw new IOException("a datagram of " + len + " bytes is over this batch's " + size);
        if (pending == BATCH) flush();
        if (to != null && !to.equals(lastDestination)) encode(to);
        int i = pending++;
        destinations[i] = to;
        lengths[i] = len;
        MemorySegment.copy(data, off, buffers, ValueLayout.JAVA_BYTE, (long) i * size, len);
        MemorySegment h = header(i);
        H_CONTROL.set(h, 0L, MemorySegment.NULL);
        H_CONTROLLEN.set(h, 0L, 0L);
        if (to == null) {
            H_NAME.set(h, 0L, MemorySegment.NULL);
            H_NAMELEN.set(h, 0L, 0);
        } else {
            MemorySegment slot = nameSlices[i];
            MemorySegment.copy(destinationName, 0, slot, 0, destinationLength);
            H_NAME.set(h, 0L, slot);
            H_NAMELEN.set(h, 0L, destinationLength);
        }
        IOV_LEN.set(iovSlices[i], 0L, (long) len);
    }

    private void encode(InetSocketAddress to) throws IOException {
        InetAddress a = to.getAddress();
        if (a == null) throw new IOException("unresolved address " + to);
        MemorySegment d = destinationName;
        d.fill((byte) 0);
        if (ipv6Socket) {
            byte[] v6 = a instanceof Inet4Address ? mapped(a.getAddress()) : a.getAddress();
            d.set(ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) AF_INET6);
            d.set(ValueLayout.JAVA_BYTE, 2, (byte) (to.getPort() >> 8));
            d.set(ValueLayout.JAVA_BYTE, 3, (byte) to.getPort());
            MemorySegment.copy(v6, 0, d, ValueLayout.JAVA_BYTE, 8, 16);
            if (a instanceof Inet6Address six) d.set(ValueLayout.JAVA_INT_UNALIGNED, 24, six.getScopeId());
            destinationLength = 28;
        } else {
            if (!(a instanceof Inet4Address)) throw new IOException("this socket has no IPv6");
            d.set(ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) AF_INET);
            d.set(ValueLayout.JAVA_BYTE, 2, (byte) (to.getPort() >> 8));
            d.set(ValueLayout.JAVA_BYTE, 3, (byte) to.getPort());
            MemorySegment.copy(a.getAddress(), 0, d, ValueLayout.JAVA_BYTE, 4, 4);
            destinationLength = 16;
        }
        lastDestination = to;
    }

    private static byte[] mapped(byte[] v4) {
        byte[] out = new byte[16];
        out[10] = (byte) 0xFF;
        out[11] = (byte) 0xFF;
        System.arraycopy(v4, 0, out, 12, 4);
        return out;
    }

    /**
     * Sends what was added, waiting for room in the socket's send buffer as a blocking send does;
     * returns how many were sent. A datagram the kernel refuses (an ICMP error from an earlier one,
     * say) is skipped and counted as not sent; the rest still go.
     */
    public int flush() throws IOException {
        if (gso && pending > 1) {
            int sent = flushSegmented();
            if (sent >= 0) return sent;
            gso = false;                                 // this socket's path cannot segment: one message per datagram from now on
        }
        return flushEach();
    }

    /**
     * Sends runs of equal datagrams to one destination (the last of a run may be shorter) as one
     * message each, the kernel cutting it at UDP_SEGMENT: one trip through the stack for the run.
     * Returns the datagrams sent, or -1 when the kernel cannot segment (nothing was sent then).
     */
    private int flushSegmented() throws IOException {
        int messages = 0;
        for (int i = 0; i < pending; ) {
            int seg = lengths[i], j = i + 1, bytes = seg;
            while (j < pending && j - i < GSO_MAX_SEGMENTS && lengths[j] <= seg && bytes + lengths[j] <= GSO_MAX_BYTES
                    && java.util.Objects.equals(destinations[j], destinations[i]) && lengths[j - 1] == seg) {
                bytes += lengths[j];
                j++;
            }
            MemorySegment g = gsoHeaders.asSlice(messages * MMSGHDR.byteSize(), MMSGHDR);
            MemorySegment h = header(i);
            H_NAME.set(g, 0L, (MemorySegment) H_NAME.get(h, 0L));
            H_NAMELEN.set(g, 0L, (int) H_NAMELEN.get(h, 0L));
            H_IOV.set(g, 0L, iovSlices[i]);                       // its run's iovecs follow it
            H_IOVLEN.set(g, 0L, (long) (j - i));
            H_FLAGS.set(g, 0L, 0);
            if (j - i > 1) {
                MemorySegment c = gsoControls.asSlice((long) messages * CONTROL, CONTROL);
                c.set(ValueLayout.JAVA_LONG, 0, 16 + 2);               // CMSG_LEN(sizeof(uint16_t))
                c.set(ValueLayout.JAVA_INT, 8, SOL_UDP);
                c.set(ValueLayout.JAVA_INT, 12, UDP_SEGMENT);
                c.set(ValueLayout.JAVA_SHORT, 16, (short) seg);
                H_CONTROL.set(g, 0L, c);
                H_CONTROLLEN.set(g, 0L, (long) CONTROL);
            } else {
                H_CONTROL.set(g, 0L, MemorySegment.NULL);
                H_CONTROLLEN.set(g, 0L, 0L);
            }
            runStarts[messages++] = i;
            i = j;
        }
        return sendAll(gsoHeaders, messages, true);
    }

    private int flushEach() throws IOException {
        for (int i = 0; i < pending; i++) {                  // one iovec per message again, as added
            H_IOV.set(header(i), 0L, iovSlices[i]);
            H_IOVLEN.set(header(i), 0L, 1L);
        }
        for (int i = 0; i < pending; i++) runStarts[i] = i;
        return sendAll(headers, pending, false);
    }

    /**
     * {@code sendmmsg} over the first {@code count} messages of {@code hdrs}, message m carrying the
     * datagrams from {@code runStarts[m]} to the next message's first (or {@code pending}); returns
     * the datagrams sent. A message the kernel refuses is skipped and the rest still go; -1 when a
     * segmented send is refused at the first message for want of segmentation (nothing was sent).
     */
    private int sendAll(MemorySegment hdrs, int count, boolean segmented) throws IOException {
        int sent = 0, start = 0;
        while (start < count) {
            int n;
            try {
                n = (int) SENDMMSG.invokeExact(capture, fd, hdrs.asSlice(start * MMSGHDR.byteSize()), count - start, 0);
            } catch (Throwable e) {
                pending = 0;
                throw new IOException("sendmmsg: " + e, e);
            }
            if (n < 0) {
                int errno = (int) ERRNO.get(capture, 0L);
                if (errno == EINTR) continue;
                if (segmented && start == 0 && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) return -1;
                start++;                                 // refused: the next ones still go
                continue;
            }
            for (int m = start; m < start + n; m++) sent += (m + 1 < count ? runStarts[m + 1] : pending) - runStarts[m];
            start += n;
        }
        pending = 0;
        return sent;
    }

    @Override
    public void close() {
        arena.close();
    }

}
