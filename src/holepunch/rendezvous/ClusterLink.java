package holepunch.rendezvous;

import java.io.IOException;
import java.util.Map;

/**
 * Joins a broker to the cluster directory: its messages for other instances go out on their
 * channels, theirs come in to it, and so does the list of instances alive.
 */
final class ClusterLink implements PeerBroker.Cluster {
    private final ClusterDirectory cluster;

    private ClusterLink(ClusterDirectory cluster) {
        this.cluster = cluster;
    }

    static void join(PeerBroker broker, ClusterDirectory cluster) {
        broker.cluster(new ClusterLink(cluster));
        cluster.onInstanceMessage(broker::onCluster);
        cluster.onInstancesAlive(broker::instancesAlive);
    }

    @Override
    public void send(String instance, Map<String, Object> message) {
        cluster.send(instance, message);
    }

    @Override
    public String holderOf(String workerId) {
        try {
            return cluster.instanceHolding(workerId);
        } catch (IOException e) {
            return null;       // Redis down: the target is unknown here, and the error says so
        }
    }
}
