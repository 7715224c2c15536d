package holepunch;

import holepunch.config.ConfigException;
import holepunch.config.Env;
import holepunch.rendezvous.RendezvousConfig;
import holepunch.rendezvous.RendezvousServer;
import holepunch.worker.Worker;
import holepunch.worker.WorkerConfig;

import java.util.concurrent.CountDownLatch;

/** {@code java -jar holepunch.jar rendezvous|worker|demo|--help|--version}. */
public final class Main {
    static final String USAGE = """
            usage: java -jar holepunch.jar <command>
              rendezvous   run the rendezvous service (HTTP + WebSocket on PORT, STUN on STUN_UDP_PORT)
              worker       run a worker (needs RENDEZVOUS_SERVICE_URL)
              demo         a rendezvous and two workers on loopback, no internet needed
              --version    print the version
              --help       this text
            Configuration is read from environment variables; see README.md.""";

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        String command = args.length == 0 ? "--help" : args[0];
        try {
            switch (command) {
                case "rendezvous" -> runRendezvous();
                case "worker" -> awaitShutdown(Worker.start(WorkerConfig.from(Env.system())));
                case "demo" -> Demo.run(Env.system());
                case "--version", "version" -> System.out.println("holepunch " + version());
                case "--help", "-h", "help" -> System.out.println(USAGE);
                default -> {
                    System.err.println("holepunch: unknown command '" + command + "'\n" + USAGE);
                    System.exit(2);
                }
            }
        } catch (ConfigException e) {
            System.err.println("holepunch: configuration error: " + e.getMessage());
            System.exit(2);
        } catch (java.io.IOException e) {
            System.err.println("holepunch: cannot start: " + e.getMessage());
            System.exit(1);
        }
    }

    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    private static void runRendezvous() throws Exception {
        RendezvousServer server = RendezvousServer.start(RendezvousConfig.from(Env.system()));
        awaitShutdown(server);
    }

    /** Blocks until SIGTERM/SIGINT, then closes {@code service} before the JVM exits. */
    static void awaitShutdown(AutoCloseable service) throws InterruptedException {
        awaitShutdownAsync(service).await();
    }

    static void blockForever() throws InterruptedException {
        new CountDownLatch(1).await();
    }

    /** On SIGTERM/SIGINT, closes {@code service} before the JVM exits; the latch opens when it is closed. */
    static CountDownLatch awaitShutdownAsync(AutoCloseable service) {
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                service.close();
            } catch (Exception e) {
                System.err.println("holepunch: error while stopping: " + e);
            } finally {
                holepunch.log.Log.flush(2000);
                done.countDown();
            }
            // A clean stop on SIGTERM/SIGINT exits 0 (the JVM would report 143/130 otherwise).
            Runtime.getRuntime().halt(0);
        }, "shutdown"));
        return done;
    }
}
