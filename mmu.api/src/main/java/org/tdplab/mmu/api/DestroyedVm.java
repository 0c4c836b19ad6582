package org.tdplab.mmu.api;

import java.util.Map;
import java.util.Set;

/**
 * A VM after {@link Vm#destroy()}: what {@link VmManager#destroyed()} keeps of it.
 *
 * @param name its name
 * @param type its VM type
 * @param stats its final counters ({@link Vm#stats()} after the teardown, the teardown's firmware calls included)
 * @param firmwareCalls which of those count firmware calls ({@link Vm#firmwareCalls()})
 * @param bugged whether {@code KVM_BUG_ON} had marked it bugged (the teardown's included)
 * @param deadReason why it died, or {@code ""} when it was alive when destroyed
 */
public record DestroyedVm(String name, String type, Map<String, Long> stats, Set<String> firmwareCalls, boolean bugged,
        String deadReason) {
    public DestroyedVm {
        stats = java.util.Collections.unmodifiableSortedMap(new java.util.TreeMap<>(stats));
        firmwareCalls = java.util.Collections.unmodifiableSortedSet(new java.util.TreeSet<>(firmwareCalls));
    }
}
