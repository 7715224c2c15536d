package holepunch.peer;

import holepunch.crypto.Identity;
import holepunch.protocol.Message;
import holepunch.protocol.NatBehaviour;
import holepunch.protocol.RelayData;
import holepunch.protocol.Role;
import holepunch.testing.FakeScheduler;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * What the birthday technique's tests share: a worker "me" on a fake clock whose own socket and
 * extra sockets record what they send, and a scripted peer holding its own key. Its sides:
 * HardSideTest (our NAT maps per destination) and EasySideTest (the peer's does).
 */
abstract class HardNatFixture {
    static final InetSocketAddress PEER = new InetSocketAddress("127.0.0.1", 40002);
    static final long PAIR = 0xbd;
    static final Identity ME = Identity.generate();
    static final Identity THEM = Identity.generate();

    /** A socket the fake transport hands out: what was sent from it, and whether it was closed. */
    static final class FakeSocket implements Peers.Socket {
        final List<PeerFixture.Sent> sent = new ArrayList<>();
        final List<Integer> ttls = new ArrayList<>();
        final Peers.Receiver receiver;
        boolean closed;

        FakeSocket(Peers.Receiver receiver) {
            this.receiver = receiver;
        }

        @Override
        public void send(ByteBuffer d, InetSocketAddress to) {
            byte[] b = new byte[d.remaining()];
            d.get(b);
            sent.add(new PeerFixture.Sent(to, b));
            ttls.add(0);
        }

        @Override
        public boolean sendWithTtl(ByteBuffer d, InetSocketAddress to, int ttl) {
            send(d, to);
            ttls.set(ttls.size() - 1, ttl);
            return true;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    final FakeScheduler clock = new FakeScheduler();
    final FakeSocket own = new FakeSocket(null);
    final List<FakeSocket> extra = new ArrayList<>();
    final List<Message> toRendezvous = new ArrayList<>();
    final List<String> delivered = new ArrayList<>();

    Peers peers(boolean hardNat) {
        Peers p = new Peers("me", ME, new Peers.Transport() {
            @Override
            public void send(ByteBuffer d, InetSocketAddress to) {
                own.send(d, to);
            }

            @Override
            public Peers.Socket open(Peers.Receiver receiver) {
                FakeSocket s = new FakeSocket(receiver);
                extra.add(s);
                return s;
            }
        }, toRendezvous::add, clock, new PeerSettings(5000, 50, 15_000, 3000, 30_000, List.of(), List.of("*"), Map.of(), 120_000, 2, hardNat));
        p.onData((peer, buf, off, len) -> delivered.add(new String(buf, off, len, StandardCharsets.UTF_8)));
        return p;
    }

    static Map<String, Object> offer(String peer, long pair, String role, String peerMapping) {
        Map<String, Object> o = PeerFixture.offerJson(peer, pair, THEM, role);
        o.put("peer_nat_mapping", peerMapping);
        o.put("start_in_ms", 0L);
        o.put("peer_observed_ip", PEER.getAddress().getHostAddress());     // the rendezvous vouches for the peer's address
        return o;
    }

    static PathCrypto them(long pair, Role role, String peerId) {
        return role == Role.RESPONDER ? new PathCrypto(THEM, ME.publicIdentity(), Role.RESPONDER, pair, "me", peerId)
                : new PathCrypto(THEM, ME.publicIdentity(), Role.INITIATOR, pair, peerId, "me");
    }

    List<RelayData> relayed() {
        return toRendezvous.stream().filter(m -> m instanceof RelayData).map(m -> (RelayData) m).toList();
    }

    static byte[] b64(RelayData r) {
        return Base64.getDecoder().decode(r.data());
    }

    /** Plays the responder's half of the handshake "me" started over the relay. */
    void completeHandshake(Peers p, PathCrypto them, long pair) {
        byte[] hs1 = b64(relayed().getFirst());
        PathCrypto.Result answer = them.onHandshake(Probe.parse(hs1, hs1.length, them.recvProbeKey));
        assertNull(answer.dropped());
        toRendezvous.clear();
        p.onRelay(new RelayData(Long.toHexString(pair), "peer", Base64.getEncoder().encodeToString(answer.reply())));
    }

    /** "me" as the hard side (our NAT maps per destination), initiator of a pair with {@code peer}, keys done with {@code them}. */
    Peers hardSide(boolean technique, long pair, String peer, String peerMapping, PathCrypto them) {
        Peers p = peers(technique);
        p.ownMapping(NatBehaviour.ENDPOINT_DEPENDENT, false);
        PeerFixture.deliver(p, offer(peer, pair, "initiator", peerMapping));
        completeHandshake(p, them, pair);
        return p;
    }

    Peers hardSide(boolean technique, long pair, String peer, String peerMapping) {
        return hardSide(technique, pair, peer, peerMapping, them(pair, Role.RESPONDER, peer));
    }

    static Probe parse(PathCrypto them, byte[] d) {
        return Probe.parse(d, d.length, them.recvProbeKey);
    }

    /** The peer (the hard side) tells us over the relay; we are the easy side, the responder. */
    PathCrypto easySide(Peers p, long pair, String peer, byte[] signalKey, long counter) {
        PeerFixture.deliver(p, offer(peer, pair, "responder", "endpoint-dependent"));
        PathCrypto them = them(pair, Role.INITIATOR, peer);
        byte[] signal = new Probe(Probe.Kind.HARD_NAT, pair, counter, new byte[] {1, 0}).encode(signalKey == null ? them.sendProbeKey : signalKey);
        p.onRelay(new RelayData(Long.toHexString(pair), peer, Base64.getEncoder().encodeToString(signal)));
        return them;
    }

    Set<Integer> sprayedPorts() {
        Set<Integer> ports = new HashSet<>();
        for (PeerFixture.Sent s : own.sent) if (s.to().getPort() != PEER.getPort()) ports.add(s.to().getPort());
        return ports;
    }
}
