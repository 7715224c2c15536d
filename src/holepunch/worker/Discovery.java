package holepunch.worker;

import holepunch.log.Log;
import holepunch.metrics.Metrics;
import holepunch.net.Addresses;
import holepunch.stun.StunClient;
import holepunch.timer.Backoff;
import holepunch.timer.Scheduler;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;

/**
 * STUN discovery on the worker's own socket: asks every configured server, classifies the NAT's
 * mapping from the answers ({@link NatMapping}), learns the IPv6 endpoint from the servers' IPv6
 * addresses when this host has a global IPv6 address, keeps the last endpoint through failures, and
 * runs again every STUN_REFRESH_SEC (after a failure, backing off from 1 s). What it finds goes to
 * the {@link Listener}; the worker decides what to report.
 */
final class Discovery {
    /** Told each result; {@code report} when it changed or a report was asked for. */
    interface Listener {
        void found(InetSocketAddress endpoint, NatMapping mapping, boolean report);
    }

    private final Log log = Log.of("worker");
    private final WorkerConfig config;
    private final StunClient stun;
    private final Scheduler scheduler;
    private final Metrics metrics;
    private final IntSupplier localPort;
    /** Whether to ask STUN servers over IPv6: a dual-stack socket on a host with a global IPv6 address. */
    private final java.util.function.BooleanSupplier ipv6;
    private final Listener listener;
    private final Object lock = new Object();
    private volatile InetSocketAddress endpoint;
    /** The next STUN result is logged at INFO even when unchanged: the first one, and the first after failures. */
    private boolean firstResult = true;
    private volatile InetSocketAddress endpoint6;
    private volatile NatMapping mapping;
    private volatile long lastRttMillis = -1;
    private volatile boolean running = true;
    private volatile boolean inProgress;
    private int failures;
    private volatile Scheduler.Handle next;

    Discovery(WorkerConfig config, StunClient stun, Scheduler scheduler, Metrics metrics, IntSupplier localPort,
              java.util.function.BooleanSupplier ipv6, Listener listener) {
        this.ipv6 = ipv6;
        this.config = config;
        this.stun = stun;
        this.scheduler = scheduler;
        this.metrics = metrics;
        this.localPort = localPort;
        this.listener = listener;
        metrics.counterFamily("holepunch_worker_stun_transactions_total", "STUN transactions, by outcome.");
        metrics.gauge("holepunch_worker_stun_rtt_seconds", "Round-trip time of the last successful STUN transaction (NaN before one).",
                () -> lastRttMillis < 0 ? Double.NaN : lastRttMillis / 1000.0);
    }

    InetSocketAddress endpoint() {
        return endpoint;
    }

    /** The IPv6 endpoint STUN saw (null without IPv6, or before an answer). */
    InetSocketAddress endpoint6() {
        return endpoint6;
    }

    NatMapping mapping() {
        return mapping;
    }

    boolean inProgress() {
        return inProgress;
    }

    /** Runs STUN against every server now; {@code report}: the listener reports even an unchanged result. */
    void run(boolean report) {
        synchronized (lock) {
            if (!running) return;
            inProgress = true;
            try {
                runLocked(report);
            } finally {
                inProgress = false;
            }
        }
    }

    private void runLocked(boolean report) {
        List<CompletableFuture<StunClient.Binding>> pending = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        boolean v6 = ipv6.getAsBoolean();
        for (InetSocketAddress server : config.stunServers()) {
            try {
                for (InetAddress ip : resolve(server.getHostString(), v6)) pending.add(stun.bind(new InetSocketAddress(ip, server.getPort())));
            } catch (UnknownHostException e) {
                problems.add("DNS lookup of STUN server " + server.getHostString() + " failed: " + e.getMessage());
            }
        }
        List<StunClient.Binding> all = new ArrayList<>();
        for (CompletableFuture<StunClient.Binding> f : pending) {
            try {
                all.add(f.get(120, TimeUnit.SECONDS));      // bounded: the client's own retransmissions end sooner
                metrics.inc("holepunch_worker_stun_transactions_total", "outcome", "success");
            } catch (ExecutionException e) {
                problems.add(e.getCause().getMessage());
                metrics.inc("holepunch_worker_stun_transactions_total", "outcome", "failure");
            } catch (Exception e) {
                problems.add(e.toString());
                metrics.inc("holepunch_worker_stun_transactions_total", "outcome", "failure");
            }
        }
        List<StunClient.Binding> bindings = new ArrayList<>(all.stream().filter(b -> b.server().getAddress() instanceof Inet4Address).toList());
        List<StunClient.Binding> bindings6 = all.stream().filter(b -> b.server().getAddress() instanceof Inet6Address).toList();
        InetSocketAddress previous6 = endpoint6;
        endpoint6 = bindings6.isEmpty() ? endpoint6 : bindings6.getFirst().mapped();
        if (bindings.isEmpty() && !bindings6.isEmpty()) bindings.addAll(bindings6);     // an IPv6-only host reports its IPv6 endpoint
        if (bindings.size() == 1 && bindings.getFirst().otherAddress() != null) {
            // One server that names another address (RFC 5780 OTHER-ADDRESS): ask there too, from the
            // same socket, so that the mapping can be classified with one configured server.
            InetSocketAddress other = otherAddress(bindings.getFirst());
            try {
                bindings.add(stun.bind(other).get(120, TimeUnit.SECONDS));
                metrics.inc("holepunch_worker_stun_transactions_total", "outcome", "success");
            } catch (Exception e) {
                problems.add("OTHER-ADDRESS " + Addresses.text(other) + ": " + (e.getCause() == null ? e : e.getCause().getMessage()));
                metrics.inc("holepunch_worker_stun_transactions_total", "outcome", "failure");
            }
        }
        for (String p : problems) log.warn(config.workerId(), "STUN: " + p);
        if (bindings.isEmpty()) {
            int n = ++failures;
            long retry = Backoff.delay(n - 1, 1000, Math.min(config.stunRefreshMillis(), 64_000));
            log.warn(config.workerId(), "STUN discovery failed (" + n + " in a row); keeping the last endpoint "
                    + (endpoint == null ? "(none yet)" : Addresses.text(endpoint)) + ", retrying in " + retry + " ms");
            schedule(retry);
            return;
        }
        if (failures > 0) firstResult = true;
        failures = 0;
        StunClient.Binding first = bindings.getFirst();
        lastRttMillis = first.rttMillis();
        NatMapping m = NatMapping.classify(bindings, localPort.getAsInt());
        InetSocketAddress found = first.mapped();
        boolean changed = !found.equals(endpoint) || !m.equals(mapping) || !java.util.Objects.equals(previous6, endpoint6);
        endpoint = found;
        mapping = m;
        String result = "STUN result: " + Addresses.text(found) + " for local UDP port " + localPort.getAsInt()
                + " (NAT mapping " + m.behaviour().wire + ", port " + (m.portPreserved() ? "preserved" : "not preserved")
                + ", rtt " + first.rttMillis() + " ms)" + (endpoint6 == null || endpoint6.equals(found) ? "" : "; IPv6 " + Addresses.text(endpoint6));
        if (changed || firstResult) {
            log.info(config.workerId(), result);            // one line per change; the periodic refresh that finds the same is debug
        } else {
            log.debug(config.workerId(), result);
        }
        firstResult = false;
        listener.found(found, m, changed || report);
        schedule(config.stunRefreshMillis());
    }

    private void schedule(long delayMillis) {
        Scheduler.Handle old = next;
        if (old != null) old.cancel();
        if (running) next = scheduler.schedule(delayMillis, () -> Thread.ofVirtual().start(() -> run(false)));
    }

    /** OTHER-ADDRESS as an address to send to; a wildcard address means the server's own (the one we used). */
    static InetSocketAddress otherAddress(StunClient.Binding b) {
        InetSocketAddress o = b.otherAddress();
        return o.getAddress().isAnyLocalAddress() ? new InetSocketAddress(b.server().getAddress(), o.getPort()) : o;
    }

    /** A STUN server's addresses to ask: its first IPv4 one and, when {@code ipv6}, its first IPv6 one. */
    static List<InetAddress> resolve(String host, boolean ipv6) throws UnknownHostException {
        InetAddress literal = Addresses.literal(host);
        InetAddress[] all = literal != null ? new InetAddress[] {literal} : InetAddress.getAllByName(host);
        List<InetAddress> out = new ArrayList<>();
        for (InetAddress a : all) if (a instanceof Inet4Address) { out.add(a); break; }
        if (ipv6) for (InetAddress a : all) if (a instanceof Inet6Address) { out.add(a); break; }
        if (out.isEmpty()) throw new UnknownHostException(host + " has no " + (ipv6 ? "IPv4 or IPv6" : "IPv4") + " address" + (ipv6 ? "" : " (and this host has no global IPv6 address)"));
        return out;
    }

    /** Whether this host has an IPv6 address a peer elsewhere could reach: not loopback, link-local or multicast. */
    static boolean hasGlobalIpv6() {
        return !ipv6Addresses().isEmpty();
    }

    static List<InetAddress> ipv6Addresses() {
        List<InetAddress> out = new ArrayList<>();
        try {
            for (java.net.NetworkInterface nif : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
                if (!nif.isUp() || nif.isLoopback()) continue;
                for (InetAddress a : java.util.Collections.list(nif.getInetAddresses())) {
                    if (a instanceof Inet6Address && !a.isLinkLocalAddress() && !a.isLoopbackAddress() && !a.isMulticastAddress()
                            && !a.isAnyLocalAddress()) out.add(a);
                }
            }
        } catch (java.net.SocketException e) {
            // no interfaces to list: none
        }
        return out;
    }

    void close() {
        running = false;
        Scheduler.Handle n = next;
        if (n != null) n.cancel();
    }
}
