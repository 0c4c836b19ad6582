package org.tdplab.backend.snp.kvm;

import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import org.tdplab.mmu.api.backend.SnapshotCodec;

/**
 * What survives an SNP backend swap, typed: KVM's SNP state of one VM and the RMP entries it owns.
 * {@link SnapshotCodec} turns it into plain data and back, refusing a snapshot of another format or
 * {@link #VERSION} with EINVAL naming what differs, unless {@link #UPGRADES} carries it forward.
 *
 * @param asid the VM's ASID (reserved again at restore)
 * @param unprepared guest_memfd folios handed out but not prepared yet, as (pfn, gfn, order) triples
 * @param launch the launch state and its firmware pages
 * @param guest the Linux guest's PVALIDATE fallback cursors, per vCPU
 * @param warnings what the kernel would only have warned about, and how many were dropped
 * @param tornDown whether the VM was torn down already
 * @param rmp the RMP entries of the ASID and of its firmware pages, as {pfn, lo, hi, writer} quadruples
 */
record SnpSnapshot(int asid, long[] unprepared, LaunchState launch, Guest guest, Warnings warnings,
        boolean tornDown, long[] rmp) {
    /**
     * The format's version; 4: no instruction counts (the core counts them as firmware calls, across swaps); 3: the
     * guest request response page; 2: typed records; 1 was the hand-cast map.
     */
    static final int VERSION = 4;

    /**
     * The older versions a snapshot of which this backend takes over: 3 had the RMP instruction counts, which the core
     * has counted as firmware calls all along (they cross the swap there), so they are dropped. Version 2 had no
     * guest request response page, which only a launch allocates: no upgrade.
     */
    static final Map<Integer, UnaryOperator<Map<String, Object>>> UPGRADES = Map.of(3, v3 -> {
        v3.remove("counts");
        return v3;
    });

    /**
     * The launch: its state, the firmware's context page and guest request response page, the VMSA pages and whether
     * each is private.
     */
    record LaunchState(Launch.State state, long contextPfn, long respPfn, long[] vmsa, boolean[] vmsaPrivate) {
    }

    /** Per vCPU: the GFN of a 2M validation that fell back to 4K (-1: none), and the next 4K page of it. */
    record Guest(long[] fallbackGfn, int[] fallbackNext) {
    }

    /** The anomalies kept, and how many were dropped past the limit. */
    record Warnings(List<String> kept, long dropped) {
    }
}
