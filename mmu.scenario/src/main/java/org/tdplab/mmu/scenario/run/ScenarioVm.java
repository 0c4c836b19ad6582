package org.tdplab.mmu.scenario.run;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.scenario.workload.Workloads;

/**
 * A VM a scenario created, under the name the scenario gave it, with what the runner remembers about it as a VMM
 * would: where its memslots are (for {@code dirty.clear} of a whole slot and for dirty bitmaps), which of them log
 * dirty pages, the last dirty bitmap of each slot, and the invariant violations already reported.
 */
final class ScenarioVm {
    final String name;
    final Vm vm;
    private final Map<Integer, long[]> slots = new HashMap<>();
    private final Map<Integer, DirtyLog> dirtyLogs = new HashMap<>();
    private final Set<Integer> logging = new HashSet<>();
    private final Set<String> reported = new HashSet<>();
    private boolean destroyed;

    ScenarioVm(String name, Vm vm) {
        this.name = name;
        this.vm = vm;
    }

    /** The GPA bit that marks a shared address (TDX), as a mask; 0 when the VM has none. */
    long sharedMask() {
        int bit = vm.capabilities().sharedBit();
        return bit < 0 ? 0 : 1L << bit;
    }

    boolean destroyed() {
        return destroyed;
    }

    void destroyed(boolean value) {
        destroyed = value;
    }

    /** Refuses a statement on a VM the scenario destroyed (its name stays known to state expectations). */
    Vm live() {
        if (destroyed)
            throw new MmuException(Errno.ENODEV, "VM '%s' was destroyed", name);
        return vm;
    }

    /** Every memslot as {@code id -> {gpa, size}}. */
    java.util.SortedMap<Integer, long[]> slots() {
        java.util.SortedMap<Integer, long[]> m = new java.util.TreeMap<>();
        slots.forEach((k, v) -> m.put(k, v.clone()));
        return m;
    }

    void slotAdded(int id, long gpa, long size, boolean dirtyLogging) {
        slots.put(id, new long[] { gpa, size });
        logging(id, dirtyLogging);
    }

    void slotDeleted(int id) {
        slots.remove(id);
        logging.remove(id);
    }

    /** Dirty logging on memslot {@code id} was turned on or off. */
    void logging(int id, boolean on) {
        if (on)
            logging.add(id);
        else
            logging.remove(id);
    }

    void slotMoved(int id, long gpa) {
        long[] s = slots.get(id);
        if (s != null)
            s[0] = gpa;
    }

    /** {@code {gpa, size}} of memslot {@code id}; ENOENT as the ioctl would answer for a slot that is not there. */
    long[] slot(int id) {
        long[] s = slots.get(id);
        if (s == null)
            throw new MmuException(Errno.ENOENT, "VM '%s' has no memslot %d", name, id);
        return s.clone();
    }

    /** Memslot {@code id} as a workload sees it; ENOENT as {@link #slot} answers. */
    Workloads.Slot workloadSlot(int id) {
        long[] s = slot(id);
        return new Workloads.Slot(s[0], s[1], logging.contains(id));
    }

    void dirtyLog(int id, long[] bitmap) {
        long[] s = slot(id);
        dirtyLogs.put(id, new DirtyLog(s[0], s[1], bitmap));
    }

    Optional<DirtyLog> dirtyLog(int id) {
        return Optional.ofNullable(dirtyLogs.get(id));
    }

    /** Whether a violation is new (not reported before for this VM); remembers it. */
    boolean firstReport(String violation) {
        return reported.add(violation);
    }
}
