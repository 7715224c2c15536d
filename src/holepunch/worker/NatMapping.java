package holepunch.worker;

import holepunch.protocol.NatBehaviour;
import holepunch.stun.StunClient;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.List;

/**
 * The NAT's mapping behaviour seen from STUN answers on one socket (RFC 4787 §4.1 terms, as
 * RFC 5780 §4.3 tests them): the same mapping towards every server is endpoint-independent,
 * different mappings are endpoint-dependent, and a mapping equal to the socket's own address
 * means no NAT at all. One server cannot tell independent from dependent.
 */
record NatMapping(NatBehaviour behaviour, boolean portPreserved) {

    static NatMapping classify(List<StunClient.Binding> bindings, int localPort) {
        InetSocketAddress first = bindings.get(0).mapped();
        boolean preserved = first.getPort() == localPort;
        if (preserved && isLocalAddress(first.getAddress())) return new NatMapping(NatBehaviour.NONE, true);
        if (bindings.size() < 2) return new NatMapping(NatBehaviour.UNKNOWN, preserved);
        boolean same = bindings.stream().allMatch(b -> b.mapped().equals(first));
        return new NatMapping(same ? NatBehaviour.ENDPOINT_INDEPENDENT : NatBehaviour.ENDPOINT_DEPENDENT, preserved);
    }

    static boolean isLocalAddress(InetAddress a) {
        if (a.isLoopbackAddress()) return true;
        try {
            return NetworkInterface.getByInetAddress(a) != null;
        } catch (SocketException e) {
            return false;
        }
    }
}
