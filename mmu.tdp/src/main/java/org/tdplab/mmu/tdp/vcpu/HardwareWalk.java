package org.tdplab.mmu.tdp.vcpu;

import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mmu.ErrorCode;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The CPU's walk of a TDP root, lockless like the hardware (inside an RCU read section so freed tables are not
 * reused under it). It sets the accessed and dirty bits as EPT with A/D does.
 */
public final class HardwareWalk {
    private HardwareWalk() {
    }

    /**
     * Translates the 4K page {@code indexGfn} (the GFN with the root's direct bits) for an access. Returns a
     * translated {@link Walk} with the page's own pfn, or a violation carrying the error code the exit reports
     * ({@link ErrorCode#RSVD} for an MMIO SPTE: an EPT misconfiguration).
     */
    public static long walk(TdpMmu mmu, int root, long indexGfn, boolean write, boolean exec) {
        TablePool pool = mmu.pool;
        int table = root;
        for (int level = mmu.rootLevel; level >= Spte.PG_LEVEL_4K; level--) {
            long sptep = TablePool.sptep(table, Spte.indexAt(indexGfn, level));
            long spte = pool.get(sptep);
            if (!isShadowPresent(spte)) {
                if (Spte.isMmio(spte, mmu.caps.mmioValue()))
                    return Walk.violation(ErrorCode.RSVD | ErrorCode.of(write, exec, true));
                return Walk.violation(ErrorCode.of(write, exec, false));
            }
            if (!isLast(spte, level)) {
                table = pool.idOfPfn(Spte.pfn(spte));
                continue;
            }
            if ((write && !Spte.isWritable(spte)) || (exec && (spte & Spte.X) == 0) || (spte & Spte.R) == 0)
                // EPT reports the entry's RWX as "present": an access-tracked leaf (RWX clear) is not present
                return Walk.violation(ErrorCode.of(write, exec, (spte & Spte.RWX_MASK) != 0));
            setAccessedDirty(pool, sptep, spte, write);
            long offset = indexGfn & (Spte.pagesPerHpage(level) - 1);
            return Walk.translated(Spte.pfn(spte) + offset, level);
        }
        return Walk.violation(ErrorCode.of(write, exec, false));
    }

    /**
     * The last SPTE a walk for {@code indexGfn} reaches: a leaf or the first non-present entry
     * ({@code kvm_tdp_mmu_get_walk}'s leaf). Caller holds the RCU read lock.
     */
    public static long lastSpte(TdpMmu mmu, int root, long indexGfn) {
        TablePool pool = mmu.pool;
        int table = root;
        for (int level = mmu.rootLevel;; level--) {
            long spte = pool.get(TablePool.sptep(table, Spte.indexAt(indexGfn, level)));
            if (!isShadowPresent(spte) || isLast(spte, level) || level == Spte.PG_LEVEL_4K)
                return spte;
            table = pool.idOfPfn(Spte.pfn(spte));
        }
    }

    /** The CPU sets A on every access and D on writes, atomically; losing the race to another update is fine. */
    private static void setAccessedDirty(TablePool pool, long sptep, long spte, boolean write) {
        if (Spte.adDisabled(spte))
            return;
        long want = spte | Spte.ACCESSED | (write ? Spte.DIRTY : 0);
        if (want != spte)
            pool.cas(sptep, spte, want);
    }
}
