package org.tdplab.mmu.tdp.mem;

import java.util.ArrayList;
import java.util.List;

/**
 * The {@link CpuFrames} of every CPU that allocated lately, found by its key without a lock: an open-addressed
 * table, replaced whole (copy on write) when a CPU is added or a VM's CPUs go. Changes are made under the allocator's
 * lock.
 */
final class CpuFrameLists {
    private final int kinds;
    private volatile CpuFrames[] table = new CpuFrames[16];
    private int size;

    CpuFrameLists(int kinds) {
        this.kinds = kinds;
    }

    /** The list of CPU {@code cpu}, or null when it has none yet. */
    CpuFrames find(long cpu) {
        CpuFrames[] t = table;
        int mask = t.length - 1;
        for (int i = slot(cpu, mask);; i = (i + 1) & mask) {
            CpuFrames f = t[i];
            if (f == null || f.cpu == cpu)
                return f;
        }
    }

    /** The list of CPU {@code cpu}, made if it has none. Holds the allocator's lock. */
    CpuFrames findOrAdd(long cpu) {
        CpuFrames f = find(cpu);
        if (f != null)
            return f;
        f = new CpuFrames(cpu, kinds);
        CpuFrames[] t = table;
        CpuFrames[] copy = new CpuFrames[(size + 1) * 2 > t.length ? t.length * 2 : t.length];
        for (CpuFrames old : t)
            if (old != null)
                put(copy, old);
        put(copy, f);
        size++;
        table = copy;
        return f;
    }

    /** Removes the lists of VM {@code vmId}'s CPUs and returns them. Holds the allocator's lock. */
    List<CpuFrames> removeVm(int vmId) {
        List<CpuFrames> gone = new ArrayList<>();
        CpuFrames[] t = table;
        CpuFrames[] copy = new CpuFrames[t.length];
        for (CpuFrames f : t)
            if (f != null) {
                if ((int) (f.cpu >>> 32) == vmId)
                    gone.add(f);
                else
                    put(copy, f);
            }
        size -= gone.size();
        table = copy;
        return gone;
    }

    /** Every list, in table order. */
    List<CpuFrames> all() {
        List<CpuFrames> out = new ArrayList<>();
        for (CpuFrames f : table)
            if (f != null)
                out.add(f);
        return out;
    }

    private static void put(CpuFrames[] t, CpuFrames f) {
        int mask = t.length - 1;
        int i = slot(f.cpu, mask);
        while (t[i] != null)
            i = (i + 1) & mask;
        t[i] = f;
    }

    private static int slot(long cpu, int mask) {
        return (int) ((cpu * 0x9E3779B97F4A7C15L) >>> 40) & mask;
    }
}
