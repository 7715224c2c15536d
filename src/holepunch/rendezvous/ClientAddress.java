package holepunch.rendezvous;

import holepunch.config.ConfigException;
import holepunch.net.Addresses;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * Who a connection is from when a load balancer stands in front ({@code TRUSTED_PROXIES}): only
 * when the TCP peer is one of those proxies, the client is the right-most address of
 * {@code Forwarded} (RFC 7239 {@code for=}) or else {@code X-Forwarded-For} that is not itself a
 * trusted proxy: each proxy appends what it saw, so addresses to the left of the last untrusted one
 * were written by the client and prove nothing. A header from any other peer is ignored. Per-address
 * limits key an IPv6 client by its /64 (one subscriber's prefix holds many addresses).
 */
final class ClientAddress {
    /** One trusted network: an address and its prefix length. */
    record Cidr(byte[] network, int bits) {
        boolean contains(InetAddress a) {
            byte[] b = a.getAddress();
            if (b.length != network.length) return false;
            for (int i = 0; i < bits; i++) {
                int mask = 0x80 >>> (i % 8);
                if ((b[i / 8] & mask) != (network[i / 8] & mask)) return false;
            }
            return true;
        }
    }

    /** Headers longer than this, and entries past {@link #MAX_HOPS}, are not read. */
    static final int MAX_HEADER = 4096, MAX_HOPS = 32;

    private final List<Cidr> trusted;

    private ClientAddress(List<Cidr> trusted) {
        this.trusted = trusted;
    }

    static final ClientAddress NONE = new ClientAddress(List.of());

    /** {@code TRUSTED_PROXIES}: comma-separated addresses or CIDRs ({@code 10.0.0.0/8}, {@code 2001:db8::/32}). */
    static ClientAddress parse(String spec) {
        List<Cidr> out = new ArrayList<>();
        for (String item : spec.split(",")) {
            String s = item.strip();
            if (s.isEmpty()) continue;
            int slash = s.indexOf('/');
            InetAddress a = Addresses.literal(slash < 0 ? s : s.substring(0, slash));
            int max = a == null ? 0 : a.getAddress().length * 8;
            int bits;
            try {
                bits = slash < 0 ? max : Integer.parseInt(s.substring(slash + 1));
            } catch (NumberFormatException e) {
                bits = -1;
            }
            if (a == null || bits < 0 || bits > max) {
                throw new ConfigException("TRUSTED_PROXIES entries must be addresses or CIDRs (10.0.0.0/8, 2001:db8::/32), got '" + s + "'");
            }
            out.add(new Cidr(a.getAddress(), bits));
        }
        return out.isEmpty() ? NONE : new ClientAddress(List.copyOf(out));
    }

    boolean trusts(InetAddress a) {
        for (Cidr c : trusted) if (c.contains(a)) return true;
        return false;
    }

    /**
     * The client of a connection from {@code peer} carrying these headers (null when absent): the
     * peer itself unless it is a trusted proxy that says who it forwards for.
     */
    InetSocketAddress client(InetSocketAddress peer, String forwarded, String xForwardedFor) {
        if (trusted.isEmpty() || !trusts(peer.getAddress())) return peer;
        List<InetSocketAddress> hops = forwarded != null ? forwardedFor(forwarded) : xForwardedFor(xForwardedFor);
        for (int i = hops.size() - 1; i >= 0; i--) {
            InetSocketAddress h = hops.get(i);
            if (h == null) return peer;                   // an entry we cannot read: trust nothing left of it
            if (!trusts(h.getAddress())) return h;
        }
        return peer;
    }

    /** RFC 7239 §4: {@code for=} of each element; an obfuscated or unknown node is null. */
    static List<InetSocketAddress> forwardedFor(String header) {
        List<InetSocketAddress> out = new ArrayList<>();
        if (header.length() > MAX_HEADER) return out;
        for (String element : header.split(",")) {
            if (out.size() == MAX_HOPS) break;
            InetSocketAddress found = null;
            boolean seen = false;
            for (String pair : element.split(";")) {
                int eq = pair.indexOf('=');
                if (eq < 0 || !pair.substring(0, eq).strip().equalsIgnoreCase("for")) continue;
                seen = true;
                String v = pair.substring(eq + 1).strip();
                if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) v = v.substring(1, v.length() - 1);
                found = node(v);
            }
            if (seen) out.add(found);
        }
        return out;
    }

    static List<InetSocketAddress> xForwardedFor(String header) {
        List<InetSocketAddress> out = new ArrayList<>();
        if (header == null || header.length() > MAX_HEADER) return out;
        for (String item : header.split(",")) {
            if (out.size() == MAX_HOPS) break;
            String v = item.strip();
            if (!v.isEmpty()) out.add(node(v));
        }
        return out;
    }

    /** {@code 192.0.2.1}, {@code 192.0.2.1:4711}, {@code [2001:db8::1]}, {@code [2001:db8::1]:4711} or a bare IPv6; else null. */
    private static InetSocketAddress node(String v) {
        InetAddress a = Addresses.literal(v);
        if (a != null) return new InetSocketAddress(a, 0);
        InetSocketAddress hp = Addresses.hostPort(v);
        if (hp != null) return hp;
        if (v.startsWith("[") && v.contains("]:")) {
            a = Addresses.literal(v.substring(0, v.indexOf(']') + 1));
            return a == null ? null : new InetSocketAddress(a, 0);
        }
        return null;
    }

    /** The key per-address limits count by: the IPv4 address, or an IPv6 address's /64. */
    static String limitKey(InetAddress a) {
        if (!(a instanceof Inet6Address)) return Addresses.text(a);
        byte[] b = a.getAddress();
        java.util.Arrays.fill(b, 8, 16, (byte) 0);
        try {
            return Addresses.text(InetAddress.getByAddress(b)) + "/64";
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
