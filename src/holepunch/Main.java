package holepunch;

import holepunch.config.ConfigException;
import holepunch.config.Env;
import holepunch.rendezvous.RendezvousConfig;
import holepunch.rendezvous.RendezvousServer;
import holepunch.worker.Worker;
import holepunch.worker.WorkerConfig;


/** {@code java -jar holepunch.jar rendezvous|worker|demo|--help|--version}. */
public final class Main {
    static final String USAGE = """
            usage: java -jar holepunch.jar <command>
              rendezvous   run the rendezvous service (HTTP + WebSocket on PORT, STUN on STUN_UDP_PORT)
              worker       run a worker (needs RENDEZVOUS_SERVICE_URL)
              worker --netcheck   report what this network allows (UDP, public endpoint, NAT mapping) and exit
              demo         a rendezvous and two workers on loopback, no internet needed
              --version    print the version
              --help       this text
            Configuration is read from environment variables; see README.md.""";

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        String command = args.length == 0 ? "--help" : args[0];
        Shutdown.prepare();
        try {
            switch (command) {
                case "rendezvous" -> runRendezvous();
                case "worker" -> {
                    if (args.length > 1 && args[1].equals("--netcheck")) System.exit(holepunch.worker.Worker.netcheck(Env.system(), System.out));
                    Shutdown.await(Worker.start(WorkerConfig.from(Env.system())));
                }
                case "demo" -> Demo.run(Env.system());
                case "train" -> {
                    Demo.train();
                    System.exit(0);
                }
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
        Shutdown.awaitDraining(server, server::drain);
    }

}
