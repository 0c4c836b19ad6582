package org.tdplab.mmu.tdp.vcpu;

import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mmu.ErrorCode;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The CPU's walk of a TDP root, lockless like the hardware (inside an RCU read section so freed tables are not
 * reused under it), through {@link TdpIter} like every other walk. It sets the accessed and dirty bits as EPT with
 * A/D does.
 */
public final class HardwareWalk {
    private HardwareWalk() {
    }

    /**
     * Translates the 4K page {@code indexGfn} (the GFN with the root's direct bits) for an access, walking with the
     * vCPU's own iterator. Returns a translated {@link Walk} with the page's own pfn, or a violation carrying the
     * error code the exit reports ({@link ErrorCode#RSVD} for an MMIO SPTE: an EPT misconfiguration).
     */
    public static long walk(TdpMmu mmu, TdpIter it, int root, long indexGfn, boolean write, boolean exec) {
        return walk(mmu, it, null, root, indexGfn, write, exec);
    }

    /**
     * {@link #walk(TdpMmu, TdpIter, int, long, boolean, boolean)} for a vCPU whose page-modification log records
     * the GFN when the walk sets D on a leaf, if the VM logs dirty pages by D bits ({@code pml} may be null).
     */
    public static long walk(TdpMmu mmu, TdpIter it, PageModificationLog pml, int root, long indexGfn, boolean write,
            boolean exec) {
        return walk(mmu, it, pml, null, root, indexGfn, write, exec);
    }

    /**
     * {@link #walk(TdpMmu, TdpIter, PageModificationLog, int, long, boolean, boolean)} for a vCPU whose TLB's
     * paging-structure cache ({@link Tlb#lookupTable}) gives the 4K table of a region a walk went through before
     * ({@code tlb} may be null: every walk from the root). A walk that reaches a 4K table through present entries
     * caches it.
     */
    public static long walk(TdpMmu mmu, TdpIter it, PageModificationLog pml, Tlb tlb, int root, long indexGfn,
            boolean write, boolean exec) {
        while (true) {
            if (!descend(mmu, it, tlb, root, indexGfn))
                return Walk.violation(ErrorCode.of(write, exec, false));
            long spte = it.oldSpte;
            if (!isShadowPresent(spte)) {
                if (Spte.isMmio(spte, mmu.caps.mmioValue()))
                    return Walk.violation(ErrorCode.RSVD | ErrorCode.of(write, exec, true));
                return Walk.violation(ErrorCode.of(write, exec, false));
            }
            if (!isLast(spte, it.level))
                return Walk.violation(ErrorCode.of(write, exec, false)); // a table linked under a walk that stopped
            if ((write && !Spte.isWritable(spte)) || (exec && (spte & Spte.X) == 0) || (spte & Spte.R) == 0)
                // EPT reports the entry's RWX as "present": an access-tracked leaf (RWX clear) is not present
                return Walk.violation(ErrorCode.of(write, exec, (spte & Spte.RWX_MASK) != 0));
            if (setAccessedDirty(mmu, it.sptep, spte, write)) {
                if (write && (spte & Spte.DIRTY) == 0 && pml != null && !Spte.adDisabled(spte)
                        && mmu.caps.dirtyLogByDirtyBit())
                    pml.log(indexGfn & ~mmu.roots.gfnBits(root));
                long offset = indexGfn & (Spte.pagesPerHpage(it.level) - 1);
                return Walk.translated(Spte.pfn(spte) + offset, it.level);
            }
            // the entry changed under the walk, and not only in its A/D bits: the CPU walks again
        }
    }

    /**
     * The last SPTE a walk for {@code indexGfn} reaches: a leaf or the first non-present entry
     * ({@code kvm_tdp_mmu_get_walk}'s leaf). Caller holds the RCU read lock.
     */
    public static long lastSpte(TdpMmu mmu, int root, long indexGfn) {
        TdpIter it = new TdpIter(mmu.pool); // the rare path (MMIO faults): a walker of its own
        return descend(mmu, it, root, indexGfn) ? it.oldSpte : Spte.SHADOW_NONPRESENT_VALUE;
    }

    /** Walks to the leaf or the first non-present entry; the iterator takes the root's direct bits apart. */
    private static boolean descend(TdpMmu mmu, TdpIter it, int root, long indexGfn) {
        assert mmu.mayWalk() : "the CPU's walk outside an RCU read section";
        long bits = mmu.roots.gfnBits(root);
        return it.walkTo(root, mmu.rootLevel, indexGfn & ~bits, bits, Spte.PG_LEVEL_4K);
    }

    /** {@link #descend(TdpMmu, TdpIter, int, long)} through the paging-structure cache of {@code tlb}, if any. */
    private static boolean descend(TdpMmu mmu, TdpIter it, Tlb tlb, int root, long indexGfn) {
        if (tlb == null)
            return descend(mmu, it, root, indexGfn);
        assert mmu.mayWalk() : "the CPU's walk outside an RCU read section";
        long bits = mmu.roots.gfnBits(root);
        int table = tlb.lookupTable(root, indexGfn);
        if (table != 0) {
            it.readAt(table, indexGfn & ~bits, bits);
            return true;
        }
        if (!it.walkTo(root, mmu.rootLevel, indexGfn & ~bits, bits, Spte.PG_LEVEL_4K))
            return false;
        if (it.level == Spte.PG_LEVEL_4K)
            tlb.insertTable(root, indexGfn, it.tableAt(Spte.PG_LEVEL_4K));
        return true;
    }

    /**
     * The CPU sets A on every access and D on writes with a locked update of the entry as it is now: another update
     * of its A or D bits meanwhile (aging clearing A, a dirty-log harvest clearing D) does not stop it. Giving up when
     * the compare-and-swap lost left a write cached in the TLB over a leaf whose D bit stayed clear: lost to the log.
     * An entry that changed otherwise (write-protected, zapped, remapped) is not the one the walk translated through:
     * false, and the walk starts again.
     */
    private static boolean setAccessedDirty(TdpMmu mmu, long sptep, long spte, boolean write) {
        long ad = Spte.ACCESSED | (write ? Spte.DIRTY : 0);
        while (!Spte.adDisabled(spte) && (spte | ad) != spte && !mmu.pool.cas(sptep, spte, spte | ad)) {
            long now = mmu.pool.get(sptep);
            if ((now & ~(Spte.ACCESSED | Spte.DIRTY)) != (spte & ~(Spte.ACCESSED | Spte.DIRTY)))
                return false;
            spte = now;
        }
        return true;
    }
}
