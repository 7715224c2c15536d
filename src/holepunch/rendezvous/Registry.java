package holepunch.rendezvous;

import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/** The connected workers by id. An entry is removed only by the session that owns it. */
final class Registry {
    private final ConcurrentHashMap<String, WorkerEntry> workers = new ConcurrentHashMap<>();

    /** Installs {@code entry}; returns the entry of an earlier session with the same id, if any. */
    WorkerEntry register(WorkerEntry entry) {
        return workers.put(entry.id, entry);
    }

    /** Removes {@code entry} unless a newer session has taken its id; true when removed. */
    boolean remove(WorkerEntry entry) {
        boolean removed = workers.remove(entry.id, entry);
        if (removed && workers.isEmpty()) {
            synchronized (this) {
                notifyAll();
            }
        }
        return removed;
    }

    /** Waits until no worker is registered, at most {@code millis}; true when empty. */
    synchronized boolean awaitEmpty(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        long left;
        while (!workers.isEmpty() && (left = deadline - System.nanoTime()) > 0) {
            wait(Math.max(1, left / 1_000_000L));
        }
        return workers.isEmpty();
    }

    WorkerEntry get(String id) {
        return workers.get(id);
    }

    int size() {
        return workers.size();
    }

    Collection<WorkerEntry> snapshot() {
        return List.copyOf(workers.values());
    }
}
