package org.tdplab.mmu.tdp.mmu;

import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * MMU-notifier aging ({@code kvm_tdp_mmu_age_gfn_range}, {@code kvm_tdp_mmu_test_age_gfn}) over the valid direct
 * roots: RCU only, no MMU lock, no TLB flush; presence and pfn never change (invariant 25).
 */
public final class Aging {
    private final TdpMmu mmu;

    Aging(TdpMmu mmu) {
        this.mmu = mmu;
    }

    /** Counts the young 4K pages of {@code [start, end)}; with {@code clear}, ages each young leaf. */
    public long age(long start, long end, boolean clear) {
        long young = 0;
        TdpIter it = new TdpIter(mmu.pool);
        mmu.rcu.readLock();
        try {
            boolean tracing = mmu.host.tracing();
            TablePool pool = mmu.pool;
            for (int root : mmu.roots.of(Roots.DIRECT_ROOTS)) {
                for (mmu.walk(it, root, Spte.PG_LEVEL_4K, start, end); it.valid; it.next()) {
                    // this entry, and at 4K those after it in its table
                    long sptep = it.sptep, gfn = it.gfn, spte = it.oldSpte;
                    int level = it.level, run = it.sideStepsLeft(), k = 0;
                    while (true) {
                        if (Spte.isShadowPresent(spte) && Spte.isLast(spte, level) && Spte.isAccessed(spte)) {
                            long g = gfn + k, first = Math.max(start, g);
                            young += Math.min(end, g + Spte.pagesPerHpage(level)) - first;
                            if (clear)
                                spte = ageSpte(sptep + k, g, spte, level, tracing);
                        }
                        if (k == run)
                            break;
                        spte = pool.get(sptep + ++k);
                    }
                    it.sideStep(k, spte);
                }
            }
        } finally {
            mmu.rcu.readUnlock();
        }
        return young;
    }

    /**
     * {@code kvm_tdp_mmu_age_spte}: with A/D bits an atomic AND of A (it always lands: retried until A is clear);
     * without, {@code mark_spte_for_access_track} with one {@code cmpxchg} whose failure is ignored. The pfn and
     * presence never change, and nothing is flushed: a TLB entry that survives only makes the page look less idle.
     * The change is recorded (and traced) like any other.
     */
    private long ageSpte(long sptep, long gfn, long old, int level, boolean tracing) {
        long newSpte;
        if (Spte.adEnabled(old)) {
            while ((old & Spte.ACCESSED) != 0 && !mmu.pool.cas(sptep, old, Spte.clearAccessed(old)))
                old = mmu.pool.get(sptep);
            newSpte = Spte.clearAccessed(old);
        } else {
            newSpte = Spte.markForAccessTrack(old);
            if (!mmu.pool.cas(sptep, old, newSpte))
                return old; // losing the race is fine
        }
        mmu.handleChangedSpte(sptep, gfn, old, newSpte, level, true, tracing);
        return newSpte;
    }
}
