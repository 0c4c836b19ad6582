package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_FIXED;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_INVALID;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_SPURIOUS;

import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.slot.Memslots;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * {@code fast_page_fault}: fixes a write-protected (mmu-writable) or access-tracked leaf of the direct root without
 * the MMU lock, inside RCU only, with {@code cmpxchg}.
 */
public final class FastPageFault {
    /** {@code fast_page_fault} gives up after this many lost {@code cmpxchg} races. */
    public static final int MAX_RETRIES = 4;

    private final TdpMmu mmu;

    FastPageFault(TdpMmu mmu) {
        this.mmu = mmu;
    }

    /**
     * Up to {@value #MAX_RETRIES} retries on the direct {@code root}. Refuses ({@code RET_PF_INVALID}, the slow path)
     * a huge page in a dirty-logged slot (it must be split) and a leaf that is not mmu-writable. Marks the page dirty
     * when it makes a leaf writable.
     */
    public int fix(int root, PageFault f, Memslots memslots) {
        int ret = RET_PF_INVALID;
        int retries = 0;
        mmu.rcu.readLock();
        try {
            while (true) {
                long sptep = getLastSptep(root, f);
                long spte = f.fastSpte;
                int level = f.fastLevel;
                if (!Spte.isShadowPresent(spte) || !Spte.isLast(spte, level))
                    break;
                if (TdpMap.accessAllowed(f, spte)) {
                    ret = RET_PF_SPURIOUS;
                    break;
                }
                long newSpte = spte;
                if (Spte.isAccessTracked(spte))
                    newSpte = Spte.restoreAccessTrack(newSpte);
                if (f.write && Spte.isMmuWritable(spte)) {
                    newSpte = Spte.makeWritable(newSpte);
                    // a huge page in a dirty-logged slot must be split by the slow path, not made writable
                    if (level > Spte.PG_LEVEL_4K) {
                        Memslot slot = memslots.find(f.gfn);
                        if (slot != null && slot.isDirtyLogging())
                            break;
                    }
                }
                if (newSpte == spte || !TdpMap.accessAllowed(f, newSpte))
                    break;
                if (fixDirectSpte(sptep, f.gfn, level, spte, newSpte)) {
                    if (Spte.isWritable(newSpte) && !Spte.isWritable(spte)) {
                        Memslot slot = memslots.find(f.gfn);
                        if (slot != null && slot.isDirtyLogging())
                            slot.markDirty(f.gfn); // mark_page_dirty_in_slot
                    }
                    ret = RET_PF_FIXED;
                    break;
                }
                if (++retries > MAX_RETRIES)
                    break;
            }
        } finally {
            mmu.rcu.readUnlock();
        }
        if (ret != RET_PF_INVALID) // fast_page_fault counts a spurious fault it found too
            mmu.stats.inc(Stat.PF_FAST);
        return ret;
    }

    /**
     * {@code kvm_tdp_mmu_fast_pf_get_last_sptep}: the last SPTE a walk of the direct {@code root} reaches for the
     * fault's GFN, lockless (the caller holds the RCU read lock). Returns the entry's pointer and leaves its level
     * in {@code f.fastLevel} and its value in {@code f.fastSpte}.
     */
    long getLastSptep(int root, PageFault f) {
        TdpIter it = f.iter;
        long sptep = 0;
        for (mmu.walk(it, root, Spte.PG_LEVEL_4K, f.gfn, f.gfn + 1); it.valid; it.next()) {
            sptep = it.sptep;
            f.fastSpte = it.oldSpte;
            f.fastLevel = it.level;
        }
        return sptep;
    }

    /**
     * {@code fast_pf_fix_direct_spte}: one {@code cmpxchg} from the snapshot, outside the MMU lock. Only W, the
     * access-tracking bits and D change (never the pfn or presence); the change is recorded like any other.
     */
    private boolean fixDirectSpte(long sptep, long gfn, int level, long old, long newSpte) {
        if (!mmu.pool.cas(sptep, old, newSpte))
            return false;
        mmu.handleChangedSpte(sptep, gfn, old, newSpte, level, true);
        return true;
    }
}
