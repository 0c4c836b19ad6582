package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.spte.Spte.isFrozen;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import java.util.function.LongToIntFunction;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * Huge pages changed in place: eager splitting of the direct roots when dirty logging starts and recovery of huge
 * leaves when it stops (read lock and RCU), and splits of mirror leaves across a zap's boundaries (write lock).
 */
public final class HugePages {
    private final TdpMmu mmu;
    private final TablePool pool;

    HugePages(TdpMmu mmu) {
        this.mmu = mmu;
        this.pool = mmu.pool;
    }

    /**
     * {@code kvm_tdp_mmu_try_split_huge_pages} down to 4K (eager page splitting when dirty logging starts): every
     * huge leaf of the valid direct roots over {@code [start, end)} is replaced by a table of its pieces, which the
     * walk then visits, so a 1G leaf ends as 4K leaves too. The translations stay the same: no TLB flush. Takes the
     * read lock and RCU as the kernel does, and yields to a waiting writer; a lost race is retried on the refreshed
     * entry.
     */
    public void split(long start, long end) {
        TdpIter it = new TdpIter(mmu.pool);
        mmu.lock.readLock();
        mmu.rcu.readLock();
        int[] roots = mmu.roots.hold(Roots.DIRECT_ROOTS); // the walk yields to writers
        try {
            for (int root : roots) {
                mmu.walk(it, root, Spte.PG_LEVEL_4K, start, end);
                while (it.valid) {
                    if (mmu.condReschedShared(it)) {
                        it.next(); // re-walks to the entry not handled yet
                        continue;
                    }
                    if (it.level > Spte.PG_LEVEL_4K && isShadowPresent(it.oldSpte) && isLast(it.oldSpte, it.level)) {
                        int child = mmu.allocChild(it, root);
                        if (mmu.splitHugePage(it, child) != TdpMmu.OK) {
                            mmu.freeUnlinked(child);
                            continue;
                        }
                    }
                    it.next();
                }
            }
        } finally {
            mmu.rcu.readUnlock();
            mmu.roots.putAll(roots);
            mmu.lock.readUnlock();
        }
    }

    /**
     * {@code kvm_mmu_recover_huge_pages} → {@code recover_huge_pages_range}, when dirty logging is disabled: under
     * the read lock and RCU (yielding to a waiting writer), every present table at 2M or 1G inside {@code [start, end)} of the valid direct roots
     * whose GFN may be mapped that large ({@code maxLevel}, as {@code kvm_mmu_max_mapping_level} says) is replaced by
     * a huge leaf made from its first present leaf ({@code make_huge_spte}; not executable with the NX mitigation),
     * atomically; a lost race is retried on the refreshed entry. One memslot flush at the end. Returns the number of
     * huge leaves made.
     * <p>
     * Unlike {@code recover_huge_pages_range} (v6.18), a table that an invalidation in progress overlaps is left
     * alone: a zap that yielded past part of it would otherwise be outlived by a huge leaf made from a page it has
     * not reached yet, mapping GFNs it already zapped (invariant 16; Fray's {@code ZapRaceTest} found it). Faults
     * close the same window with {@code mmu_invalidate_retry_gfn}; recovery has no such check in the kernel.
     */
    public int recover(long start, long end, LongToIntFunction maxLevel) {
        TdpIter it = new TdpIter(mmu.pool);
        TdpIter child = new TdpIter(mmu.pool);
        int made = 0;
        mmu.lock.readLock();
        mmu.rcu.readLock();
        int[] roots = mmu.roots.hold(Roots.DIRECT_ROOTS); // the walk yields to writers
        try {
            for (int root : roots) {
                mmu.walk(it, root, Spte.PG_LEVEL_2M, start, end);
                while (it.valid) {
                    if (mmu.condReschedShared(it)) {
                        it.next(); // re-walks to the entry not handled yet
                        continue;
                    }
                    long old = it.oldSpte;
                    if (it.level > Spte.MAX_HUGEPAGE_LEVEL || !isShadowPresent(old) || isLast(old, it.level)
                            || it.gfn < start || it.gfn + Spte.pagesPerHpage(it.level) > end
                            || maxLevel.applyAsInt(it.gfn) < it.level
                            || mmu.invalidation.inProgress(it.gfn, it.gfn + Spte.pagesPerHpage(it.level))) {
                        it.next();
                        continue;
                    }
                    long huge = makeHugeSpte(child, root, it.gfn, it.level);
                    if (huge == 0 || isFrozen(old)) {
                        it.next();
                        continue;
                    }
                    if (mmu.setSpteAtomic(it, huge) != TdpMmu.OK)
                        continue; // refreshed: look at the entry again
                    made++;
                    it.next();
                }
            }
            if (made > 0)
                mmu.flushRemoteTlbs(start, end - start);
        } finally {
            mmu.rcu.readUnlock();
            mmu.roots.putAll(roots);
            mmu.lock.readUnlock();
        }
        return made;
    }

    /** {@code kvm_tdp_mmu_make_huge_spte}: a huge leaf from the first present leaf under the table, or 0. */
    private long makeHugeSpte(TdpIter child, int root, long gfn, int level) {
        for (mmu.walk(child, root, Spte.PG_LEVEL_4K, gfn, gfn + Spte.pagesPerHpage(level)); child.valid; child.next()) {
            long spte = child.oldSpte;
            if (child.level >= level || !isShadowPresent(spte) || !isLast(spte, child.level))
                continue;
            long huge = Spte.makeHugeFromSmall(spte, level);
            if (mmu.caps.nxHugePages())
                huge = Spte.makeNonExecutable(huge);
            return huge;
        }
        return 0;
    }

    /**
     * {@code tdp_mmu_split_huge_page} with the write lock held ({@code shared=false}, so the link is a plain
     * {@code tdp_mmu_set_spte}): for a backend-owned table the backend splits its copy first
     * ({@code split_external_spt}); when it cannot, nothing changes and {@link TdpMmu#BUSY} is returned (the VM is
     * bugged).
     */
    private int splitHugePageLocked(TdpIter it, int child) {
        long huge = it.oldSpte;
        mmu.fillSplitChild(huge, it.level, child);
        long table = Spte.makeNonLeaf(pool.pfnOf(child), mmu.caps.adDisabled());
        if (pool.isMirror(TablePool.tableOf(it.sptep))
                && !mmu.external.split(RootKind.MIRROR, it.gfn, it.level, huge, table))
            return TdpMmu.BUSY;
        long old = huge;
        if (Spte.needsAtomicUpdate(huge, it.level))
            old = pool.xchg(it.sptep, table); // the A/D bits the hardware set meanwhile are not lost
        else
            pool.set(it.sptep, table);
        mmu.handleChangedSpte(it.sptep, it.gfn, old, table, it.level, false);
        it.oldSpte = table;
        mmu.stats.inc(Stat.TDP_MMU_PAGES);
        mmu.accountSplit(it.level);
        return TdpMmu.OK;
    }

    /**
     * {@code kvm_split_cross_boundary_leafs}, write lock held: in every valid mirror root, each huge leaf that covers
     * a boundary of {@code [start, end)} without starting there is split, down to 4K if need be, so a zap of the
     * range leaves the rest of the huge page mapped (a zap of a backend-owned leaf destroys its contents). Before
     * each split the backend may ask for its per-VM split cache to be topped up, which happens without the lock (the
     * kernel's {@code need_topup}/{@code topup_external_per_vm_split_cache}): the walk then starts over, the tables
     * having possibly changed meanwhile. Returns false when a split failed.
     */
    public boolean splitCrossBoundaryLeafs(long start, long end) {
        TdpIter it = new TdpIter(pool);
        mmu.rcu.readLock();
        try {
            int split = splitCrossBoundaryLeafsOnce(it, start, end);
            for (int topUps = 1; split == TOPPED_UP; topUps++) {
                if (topUps > MAX_TOP_UPS) { // a backend whose cache a topup never fills would loop for ever
                    mmu.host.bug(String.format("the split cache is still short after %d topups before splitting "
                            + "[0x%x, 0x%x)", MAX_TOP_UPS, start, end));
                    return false;
                }
                split = splitCrossBoundaryLeafsOnce(it, start, end);
            }
            return split == TdpMmu.OK;
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /** The split walk ended early to top up the backend's split cache: walk again. */
    private static final int TOPPED_UP = -1;
    /** Topups one split of a range may ask for (others' splits may drain the cache while the lock is let go). */
    public static final int MAX_TOP_UPS = 64;

    private int splitCrossBoundaryLeafsOnce(TdpIter it, long start, long end) {
        for (int root : mmu.roots.of(Roots.MIRROR_ROOTS)) {
            for (long boundary : new long[] { start, end }) {
                if (boundary <= 0 || boundary >= mmu.maxGfn())
                    continue;
                for (mmu.walk(it, root, Spte.PG_LEVEL_4K, boundary, boundary + 1); it.valid; it.next()) {
                    long spte = it.oldSpte;
                    if (it.level == Spte.PG_LEVEL_4K || !isShadowPresent(spte) || !isLast(spte, it.level)
                            || Spte.gfnRoundForLevel(boundary, it.level) == boundary)
                        continue;
                    if (mmu.host.backend().needTopUpExternalSplitCache(it.level))
                        return topUpSplitCache(it.gfn, it.level) ? TOPPED_UP : TdpMmu.BUSY;
                    int child = mmu.allocChild(it, root);
                    if (splitHugePageLocked(it, child) != TdpMmu.OK) {
                        mmu.freeUnlinked(child);
                        return TdpMmu.BUSY;
                    }
                }
            }
        }
        return TdpMmu.OK;
    }

    /**
     * {@code topup_external_split_cache}: the backend fills its split cache with the lock let go (when this thread
     * holds it once; a caller that holds it twice keeps it, and the model's backend allocates under it). An error
     * bugs the VM with its reason. Returns whether the cache was topped up.
     */
    private boolean topUpSplitCache(long gfn, int level) {
        boolean drop = mmu.lock.writeHeldOnce();
        HookStatus s;
        if (drop) {
            mmu.rcu.readUnlock();
            mmu.lock.writeUnlock();
        }
        try {
            s = mmu.host.backend().topUpExternalSplitCache(level);
        } finally {
            if (drop) {
                mmu.lock.writeLock();
                mmu.rcu.readLock();
            }
        }
        if (s.isOk())
            return true;
        mmu.host.bug(String.format("topup_external_per_vm_split_cache before splitting gfn 0x%x level %d: %s", gfn,
                level, s));
        return false;
    }
}
