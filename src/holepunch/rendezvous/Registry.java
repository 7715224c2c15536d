package holepunch.rendezvous;

import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/** The connected workers by id. An entry is removed only by the session that owns it. */
final class Registry {
    private final ConcurrentHashMap<String, WorkerEntry> workers = new ConcurrentHashMap<>();
    /** Told the id of every entry added, changed or removed (the cluster directory); never blocks. */
    private volatile java.util.function.Consumer<String> onChange = id -> { };

    void onChange(java.util.function.Consumer<String> listener) {
        onChange = listener;
    }

    /** An entry's fields changed. */
    void changed(String id) {
        onChange.accept(id);
    }

    /** Installs {@code entry}; returns the entry of an earlier session with the same id, if any. */
    WorkerEntry register(WorkerEntry entry) {
        WorkerEntry old = workers.put(entry.id, entry);
        onChange.accept(entry.id);
        return old;
    }

    /** Removes {@code entry} unless a newer session has taken its id; true when removed. */
    boolean remove(WorkerEntry entry) {
        boolean removed = workers.remove(entry.id, entry);
        if (removed) onChange.accept(entry.id);
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
