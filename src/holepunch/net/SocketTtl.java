package holepunch.net;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.channels.DatagramChannel;

/**
 * The IPv4 TTL of one UDP socket (IP_TTL, ip(7)), which Java's socket options do not offer for
 * unicast: set through libc {@code setsockopt(2)} with the Foreign Function API on the channel's
 * descriptor (reached by reflection; the jar's manifest opens {@code java.base/sun.nio.ch}).
 * A peer probe sent with a small TTL leaves this host's NAT, so the NAT maps the port, and expires
 * on the way, before the peer's NAT (RFC 5128 §3.3 calls this the TTL trick).
 */
public final class SocketTtl {
    private static final int IPPROTO_IP = 0, IP_TTL = 2;       // <netinet/in.h> on Linux
    private static final MethodHandle SETSOCKOPT, GETSOCKOPT;
    private static final String UNAVAILABLE;

    static {
        MethodHandle set = null, get = null;
        String why = null;
        try {
            Linker linker = Linker.nativeLinker();
            set = downcall(linker, "setsockopt", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            get = downcall(linker, "getsockopt", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        } catch (Throwable e) {
            why = e.toString();
        }
        SETSOCKOPT = set;
        GETSOCKOPT = get;
        UNAVAILABLE = why;
    }

    @SuppressWarnings("restricted")
    private static MethodHandle downcall(Linker linker, String name, FunctionDescriptor d) {
        return linker.downcallHandle(linker.defaultLookup().find(name).orElseThrow(), d);
    }

    private SocketTtl() {
    }

    /** Why the TTL cannot be set here, or null when it can. */
    public static String unavailable() {
        return UNAVAILABLE;
    }

    private static int fd(DatagramChannel channel) throws ReflectiveOperationException {
        java.lang.reflect.Method m = channel.getClass().getMethod("getFDVal");
        m.setAccessible(true);
        return (int) m.invoke(channel);
    }

    /** Sets the channel's IPv4 TTL; false when that is not possible here. */
    public static boolean set(DatagramChannel channel, int ttl) {
        if (SETSOCKOPT == null) return false;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocateFrom(ValueLayout.JAVA_INT, ttl);
            return (int) SETSOCKOPT.invokeExact(fd(channel), IPPROTO_IP, IP_TTL, value, 4) == 0;
        } catch (Throwable e) {
            return false;
        }
    }

    /** The channel's IPv4 TTL, or -1 when it cannot be read. */
    public static int get(DatagramChannel channel) {
        if (GETSOCKOPT == null) return -1;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment length = arena.allocateFrom(ValueLayout.JAVA_INT, 4);
            int rc = (int) GETSOCKOPT.invokeExact(fd(channel), IPPROTO_IP, IP_TTL, value, length);
            return rc == 0 ? value.get(ValueLayout.JAVA_INT, 0) : -1;
        } catch (Throwable e) {
            return -1;
        }
    }
}
