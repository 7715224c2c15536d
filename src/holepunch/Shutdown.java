package holepunch;

import holepunch.log.Log;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.CountDownLatch;

/**
 * A clean stop on SIGTERM or SIGINT: the service closes (sessions get their close frames), the log
 * is flushed, and the process exits 0. A process started with SIGINT ignored (a background job of
 * a script, {@code nohup ... &}) would otherwise ignore Ctrl-C-style stops for good: the JVM does
 * not take over a signal that was ignored when it started, so the disposition is reset to the
 * default through libc {@code signal(2)} first, and then handled.
 */
final class Shutdown {
    private static final int SIGINT = 2;

    private Shutdown() {
    }

    /** Blocks until SIGTERM/SIGINT, then closes {@code service} before the JVM exits. */
    static void await(AutoCloseable service) throws InterruptedException {
        onSignal(service).await();
    }

    static void forever() throws InterruptedException {
        new CountDownLatch(1).await();
    }

    /** On SIGTERM/SIGINT, closes {@code service} before the JVM exits; the latch opens when it is closed. */
    static CountDownLatch onSignal(AutoCloseable service) {
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                service.close();
            } catch (Exception e) {
                System.err.println("holepunch: error while stopping: " + e);
            } finally {
                Log.flush(2000);
                done.countDown();
            }
            // A clean stop on SIGTERM/SIGINT exits 0 (the JVM would report 143/130 otherwise).
            Runtime.getRuntime().halt(0);
        }, "shutdown"));
        return done;
    }

    /**
     * As {@link #await}, but SIGTERM (what orchestrators send) first runs {@code drain} (it blocks while the
     * service drains), then stops as above; SIGINT (a person's Ctrl-C) stops at once.
     */
    static void awaitDraining(AutoCloseable service, Runnable drain) throws InterruptedException {
        CountDownLatch done = onSignal(service);
        try {
            handle("TERM", () -> Thread.ofPlatform().name("drain").start(() -> {
                try {
                    drain.run();
                } finally {
                    System.exit(0);                 // the hook above closes the service
                }
            }));
        } catch (ReflectiveOperationException | RuntimeException e) {
            Log.of("main").warn(null, "SIGTERM stops at once (no drain): its handler could not be set: " + e);
        }
        done.await();
    }

    /** First thing at start: SIGINT will run the shutdown hooks, whatever the disposition it was started with. */
    static void prepare() {
        takeSigintBack();
    }

    /** sun.misc.Signal.handle (jdk.unsupported), reached by reflection: javac warns on every direct use. */
    private static void handle(String name, Runnable action) throws ReflectiveOperationException {
        Class<?> signal = Class.forName("sun.misc.Signal");
        Class<?> handler = Class.forName("sun.misc.SignalHandler");
        Object h = java.lang.reflect.Proxy.newProxyInstance(handler.getClassLoader(), new Class<?>[] {handler}, (proxy, method, args) -> {
            if (method.getName().equals("handle")) action.run();
            return null;
        });
        signal.getMethod("handle", signal, handler).invoke(null, signal.getConstructor(String.class).newInstance(name), h);
    }

    /** Makes SIGINT stop the process even when it was ignored at start; best effort, logged when impossible. */
    @SuppressWarnings("restricted")
    private static void takeSigintBack() {
        try {
            Linker linker = Linker.nativeLinker();
            MethodHandle signal = linker.downcallHandle(linker.defaultLookup().find("signal").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            MemorySegment previous = (MemorySegment) signal.invokeExact(SIGINT, MemorySegment.NULL);   // SIG_DFL
            if (previous.address() == 1) {                                                           // it was SIG_IGN
                handle("INT", () -> System.exit(0));                                                  // through the hooks
            } else {
                MemorySegment ignored = (MemorySegment) signal.invokeExact(SIGINT, previous);        // leave the JVM's own
            }
        } catch (Throwable e) {
            Log.of("main").debug(null, "cannot take SIGINT back (" + e + "); SIGTERM still stops cleanly");
        }
    }
}
