package org.tdplab.mmu.tdp.vm;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

import org.tdplab.mmu.api.DestroyedVm;
import org.tdplab.mmu.api.backend.Backend;

/**
 * One simulated host: the VMs of one session of the core. It holds what backend services share among the VMs of the
 * host ({@code VmContext#hostState}, per service and type) and what is left of the VMs it destroyed.
 */
final class HostScope {
    private final Map<Backend, Map<Class<?>, Object>> states = new ConcurrentHashMap<>();
    private final Deque<DestroyedVm> destroyed = new ArrayDeque<>();
    private final int keep;

    /** @param keep how many destroyed VMs to remember, the oldest forgotten first */
    HostScope(int keep) {
        this.keep = keep;
    }

    <T> T state(Backend service, Class<T> type, Supplier<? extends T> create) {
        Map<Class<?>, Object> byType = states.computeIfAbsent(service, s -> new ConcurrentHashMap<>());
        return type.cast(byType.computeIfAbsent(type, t -> {
            T made = create.get();
            if (made == null)
                throw new IllegalStateException("hostState: the supplier of " + type.getName() + " returned null");
            return made;
        }));
    }

    /** The service went away: its host state goes with it (the VMs it served carry theirs in their snapshots). */
    void forget(Backend service) {
        states.remove(service);
    }

    synchronized void destroyed(DestroyedVm vm) {
        destroyed.addLast(vm);
        while (destroyed.size() > keep)
            destroyed.removeFirst();
    }

    synchronized List<DestroyedVm> destroyed() {
        return List.copyOf(destroyed);
    }
}
