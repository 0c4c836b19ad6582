package org.tdplab.mmu.tdp.mmu;

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
            for (int root : mmu.roots.of(Roots.DIRECT_ROOTS)) {
                for (mmu.walk(it, root, Spte.PG_LEVEL_4K, start, end); it.valid; it.next()) {
                    long spte = it.oldSpte;
                    if (!Spte.isShadowPresent(spte) || !Spte.isLast(spte, it.level) || !Spte.isAccessed(spte))
                        continue;
                    long first = Math.max(start, it.gfn), last = Math.min(end, it.gfn + Spte.pagesPerHpage(it.level));
                    young += last - first;
                    if (clear)
                        ageSpte(it, tracing);
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
    private void ageSpte(TdpIter it, boolean tracing) {
        long old = it.oldSpte, newSpte;
        if (Spte.adEnabled(old)) {
            while ((old & Spte.ACCESSED) != 0 && !mmu.pool.cas(it.sptep, old, Spte.clearAccessed(old)))
                old = mmu.pool.get(it.sptep);
            newSpte = Spte.clearAccessed(old);
        } else {
            newSpte = Spte.markForAccessTrack(old);
            if (!mmu.pool.cas(it.sptep, old, newSpte))
                return; // losing the race is fine
        }
        mmu.handleChangedSpte(it.sptep, it.gfn, old, newSpte, it.level, true, tracing);
        it.oldSpte = newSpte;
    }
}
