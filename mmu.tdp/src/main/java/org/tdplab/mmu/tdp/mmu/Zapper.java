package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.spte.Spte.SHADOW_NONPRESENT_VALUE;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/** Zaps: leaf zaps of a range, whole-root zaps, fast invalidation of direct roots, and teardown. */
public final class Zapper {
    private final TdpMmu mmu;
    private final TablePool pool;
    /** The write-lock iterator: write-lock operations are exclusive, so one suffices. */
    private final TdpIter it;

    Zapper(TdpMmu mmu) {
        this.mmu = mmu;
        this.pool = mmu.pool;
        this.it = new TdpIter(mmu.pool);
    }

    /**
     * {@code kvm_tdp_mmu_zap_leafs} over the roots of {@code types}: every present leaf overlapping
     * {@code [start, end)} becomes non-present; tables stay. Write lock. Returns whether a TLB flush is needed.
     */
    public boolean zapLeafs(int types, long start, long end) {
        boolean flush = false;
        int[] roots = mmu.roots.hold(types); // the walk yields: a root it holds no reference to may be freed meanwhile
        boolean batch = mmu.stats.openPageBatch();
        try {
            for (int root : roots)
                flush |= zapRootLeafs(root, start, end);
        } finally {
            if (batch)
                mmu.stats.closePageBatch();
            mmu.roots.putAll(roots);
        }
        return flush;
    }

    /**
     * A backend-owned leaf holds what it maps only while it is mapped: before a zap of mirror roots, the huge leaves
     * crossing the range's edges are split, so the zap takes exactly the range asked for.
     */
    private void splitMirrorEdges(int types, long start, long end) {
        if ((types & Roots.MIRROR_ROOTS) != 0 && mmu.caps.mirroredPt())
            mmu.hugePages.splitCrossBoundaryLeafs(start, Math.min(end, mmu.maxGfn())); // zap only what is asked for
    }

    /** {@link #zapLeafs} with invariant 16 checked on return; mirror leaves crossing the edges split first. */
    public boolean zapLeafsChecked(int types, long start, long end) {
        splitMirrorEdges(types, start, end);
        boolean flush = zapLeafs(types, start, end);
        mmu.postcondition(survivor(types, start, end));
        return flush;
    }

    private boolean zapRootLeafs(int root, long start, long end) {
        mmu.rcu.readLock();
        try {
            return zapRootLeafsRcu(root, start, end);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    private boolean zapRootLeafsRcu(int root, long start, long end) {
        boolean flush = false;
        boolean invalid = pool.isInvalid(root);
        boolean tracing = mmu.host.tracing(); // read again whenever the walk retakes the lock
        MmuLock lock = mmu.lock;
        for (mmu.walk(it, root, Spte.PG_LEVEL_4K, start, end); it.valid; it.next()) {
            if (condResched(flush)) {
                flush = false;
                tracing = mmu.host.tracing();
                continue;
            }
            // this entry, and at 4K those after it in its table until someone waits for the lock: the step after
            // the last one handled yields then
            long sptep = it.sptep, gfn = it.gfn, spte = it.oldSpte;
            int level = it.level, run = it.sideStepsLeft(), k = 0;
            while (true) {
                if (isShadowPresent(spte) && isLast(spte, level)) {
                    spte = mmu.writeSpte(sptep + k, spte, SHADOW_NONPRESENT_VALUE, level, gfn + k, tracing);
                    // translations through an invalid root are dropped when vCPUs reload their roots
                    flush |= !invalid;
                }
                if (k == run || lock.contended())
                    break;
                spte = pool.get(sptep + ++k);
            }
            it.sideStep(k, spte);
        }
        return flush;
    }

    /**
     * Invariant 16: after a zap returns, no root of {@code types} has a present leaf overlapping the range, at any
     * level. Returns a description of the first survivor, or null. A walk of its own over the final state, not
     * the zap's iterator: the entries of each table that overlap the range are scanned in one tight loop
     * ({@link TablePool#firstWithAny}), and only present non-leaf entries are stepped into. Allocates nothing
     * unless a leaf survived.
     */
    public String survivor(int types, long start, long end) {
        mmu.rcu.readLock(); // a vCPU may put a root's last reference meanwhile: its tables stay until we are out
        try {
            for (int root : mmu.roots.all()) {
                if (!mmu.roots.matches(root, types))
                    continue;
                long bits = mmu.roots.gfnBits(root), hi = Math.min(end, bits != 0 ? bits : mmu.maxGfn());
                // a direct root indexes the aliased GFNs: scan [start, hi) with the bits, report natural GFNs
                long found = start < hi ? firstLeaf(root, mmu.rootLevel, 0, start | bits, (hi - 1 | bits) + 1) : -1;
                if (found >= 0)
                    return String.format("inv 16: %s leaf for gfn 0x%x level %d survived the zap of [0x%x, "
                            + "0x%x)", mmu.roots.kindOf(root), (found >>> 3) & ~bits, found & 7, start, end);
            }
            return null;
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /**
     * The first present leaf overlapping {@code [lo, hi)} under {@code table}, a table of {@code level} whose first
     * entry maps {@code base} (GFNs as the tables index them), as {@code gfn << 3 | level}; -1 if there is none.
     */
    private long firstLeaf(int table, int level, long base, long lo, long hi) {
        int shift = Spte.LEVEL_BITS * (level - 1), from = sliceFrom(shift, base, lo), to = sliceTo(shift, base, hi);
        for (int i = from; (i = pool.firstWithAny(table, i, to, Spte.MMU_PRESENT)) >= 0; i++) {
            long spte = pool.get(TablePool.sptep(table, i)), gfn = base + ((long) i << shift);
            if (!isShadowPresent(spte))
                continue; // zapped since the scan saw it
            if (isLast(spte, level))
                return gfn << 3 | level;
            int child = pool.idOfPfn(Spte.pfn(spte));
            long found = child == 0 ? -1 : firstLeaf(child, level - 1, gfn, lo, hi);
            if (found >= 0)
                return found;
        }
        return -1;
    }

    /**
     * The first entry reaching {@code lo} of a table whose first entry maps {@code base}, each entry
     * {@code 1 << shift} GFNs.
     */
    private static int sliceFrom(int shift, long base, long lo) {
        return (int) ((Math.max(lo, base) - base) >>> shift);
    }

    /** One past the last entry of that table that starts below {@code hi}. */
    private static int sliceTo(int shift, long base, long hi) {
        return (int) ((Math.min(hi, base + ((long) Spte.ENT_PER_PAGE << shift)) - 1 - base) >>> shift) + 1;
    }

    /** The root types {@link #unmapGfnRange} zaps for these kinds. */
    public int unmapTypes(boolean privateKind, boolean sharedKind) {
        int types = Roots.INVALID_ROOTS;
        if (!mmu.caps.mirroredPt())
            return types | Roots.DIRECT_ROOTS;
        if (privateKind)
            types |= Roots.MIRROR_ROOTS;
        if (sharedKind)
            types |= Roots.DIRECT_ROOTS;
        return types;
    }

    /**
     * {@code kvm_tdp_mmu_unmap_gfn_range}: leaf zap over the roots an attribute filter selects, plus invalid
     * roots. VMs without mirrored page tables have only direct roots, whatever the filter.
     */
    public boolean unmapGfnRange(long start, long end, boolean privateKind, boolean sharedKind) {
        int types = unmapTypes(privateKind, sharedKind);
        splitMirrorEdges(types, start, end);
        boolean flush = zapLeafs(types, start, end);
        mmu.postcondition(survivor(types, start, end));
        return flush;
    }

    /** {@link #unmapGfnRange} and the flush it asks for; write lock. */
    public void unmapAndFlush(long start, long end, boolean privateKind, boolean sharedKind) {
        if (unmapGfnRange(start, end, privateKind, sharedKind))
            mmu.flushRemoteTlbs(start, end - start);
    }

    /**
     * {@code kvm_mmu_invalidate_begin} over {@code [windowStart, windowEnd)} (faults there retry until
     * {@link #invalidateEnd}), and the unmap of the given kinds over {@code [start, end)} inside it, with a flush.
     * If the unmap fails the window is closed again before the failure reaches the caller, which ends only a window
     * it got.
     */
    public void invalidateBegin(long windowStart, long windowEnd, long start, long end, boolean privateKind,
            boolean sharedKind) {
        mmu.lock.writeLock();
        try {
            mmu.invalidation.begin(Math.min(windowStart, start), Math.max(windowEnd, end));
            try {
                unmapAndFlush(start, end, privateKind, sharedKind);
            } catch (RuntimeException | Error e) {
                mmu.invalidation.end();
                throw e;
            }
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    /** {@link #invalidateBegin(long, long, long, long, boolean, boolean)} unmapping the whole window. */
    public void invalidateBegin(long start, long end, boolean privateKind, boolean sharedKind) {
        invalidateBegin(start, end, start, end, privateKind, sharedKind);
    }

    /** {@code kvm_mmu_invalidate_end}. */
    public void invalidateEnd() {
        mmu.lock.writeLock();
        try {
            mmu.invalidation.end();
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    /** {@link #unmapAndFlush} under the write lock. */
    public void unmapAndFlushLocked(long start, long end, boolean privateKind, boolean sharedKind) {
        mmu.lock.writeLock();
        try {
            unmapAndFlush(start, end, privateKind, sharedKind);
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    /** {@code kvm_zap_gfn_range}: a leaf zap of every valid root inside an invalidation window, with a flush. */
    public void zapGfnRange(long start, long end) {
        mmu.lock.writeLock();
        try {
            mmu.invalidation.begin(start, end);
            try {
                if (zapLeafsChecked(Roots.VALID_ROOTS, start, end))
                    mmu.flushRemoteTlbs(start, end - start);
            } finally {
                mmu.invalidation.end();
            }
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    /**
     * {@code tdp_mmu_iter_cond_resched} for write-lock walks: when someone waits for the MMU lock and the walk has
     * made progress, flush what is pending, drop and retake the lock, and restart the walk from the root where it
     * was. The iterator is this zapper's one write-lock iterator, which whoever takes the lock meanwhile walks with
     * too: the walk's position is kept aside and the iterator set back to it.
     */
    private boolean condResched(boolean flush) {
        if (!mmu.lock.contended() || !it.canYield() || !mmu.lock.writeHeldOnce())
            return false;
        if (flush)
            mmu.flushRemoteTlbs(0, mmu.maxGfn());
        int root = it.rootId, rootLevel = it.rootLevel, minLevel = it.minLevel;
        long resume = it.nextLastLevelGfn, end = it.endGfn, bits = it.gfnBits;
        mmu.rcu.readUnlock();
        // whoever takes the lock meanwhile counts straight into the counters, and reads them whole
        boolean batched = mmu.stats.closePageBatch();
        mmu.lock.yieldWrite();
        if (batched)
            mmu.stats.openPageBatch();
        mmu.rcu.readLock();
        it.start(root, rootLevel, minLevel, resume, end, bits);
        it.markYielded(); // the next step re-walks to the entry not handled yet
        return true;
    }

    /**
     * {@code tdp_mmu_zap_root}: zaps a whole root level by level (4K, 2M, 1G, then the top), so a shared zap
     * never tears down a large subtree in one step. {@code shared} means the caller holds the read lock. Each pass
     * walks every entry of the root without its direct bits ({@code for_each_tdp_pte_min_level_all}, 6.14), so the
     * changes of a direct root's aliased entries carry the bit in their GFN, as the kernel traces them. Each step
     * may yield the lock ({@code tdp_mmu_iter_cond_resched} without a flush): the caller holds a reference to
     * {@code root}, so it cannot be freed meanwhile, and no fault maps into it again, as it is invalid.
     */
    public void zapRoot(int root, boolean shared) {
        zapRoot(root, shared, true);
    }

    /** A root whose last reference went while it still mapped memory: zapped without yielding, as none holds it. */
    void zapUnreferencedRoot(int root, boolean shared) {
        zapRoot(root, shared, false);
    }

    private void zapRoot(int root, boolean shared, boolean mayYield) {
        TdpIter walk = shared ? new TdpIter(pool) : it;
        int[] levels = { Spte.PG_LEVEL_4K, Spte.PG_LEVEL_2M, Spte.PG_LEVEL_1G, mmu.rootLevel };
        mmu.rcu.readLock();
        try {
            for (int zapLevel : levels)
                zapRootAt(walk, root, zapLevel, shared, mayYield);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    private void zapRootAt(TdpIter walk, int root, int zapLevel, boolean shared, boolean mayYield) {
        for (mmu.walkAll(walk, root, zapLevel); walk.valid; walk.next()) {
            if (mayYield && (shared ? mmu.condReschedShared(walk) : condResched(false)))
                continue;
            while (isShadowPresent(walk.oldSpte) && walk.level <= zapLevel) {
                if (!shared) {
                    mmu.setSpte(walk, SHADOW_NONPRESENT_VALUE);
                    break;
                }
                if (mmu.setSpteAtomic(walk, SHADOW_NONPRESENT_VALUE) == TdpMmu.OK || mmu.host.bugged())
                    break;
            }
        }
    }

    /**
     * {@code kvm_mmu_zap_all_fast} for the TDP MMU: marks every valid direct root invalid (mirror roots are never
     * fast-zapped), asks vCPUs to reload, and zaps the invalidated roots under the read lock. No TLB flush: a new
     * root is flushed when it is loaded. The caller holds no MMU lock. The zap yields to writers, who may change the
     * mirror roots meanwhile: that the fast zap leaves them alone is checked on what it invalidated.
     */
    public void zapAllFast() {
        int[] invalidated;
        mmu.lock.writeLock();
        try {
            invalidated = mmu.roots.invalidate(Roots.DIRECT_ROOTS);
            mmu.host.requestRootReload();
        } finally {
            mmu.lock.writeUnlock();
        }
        for (int root : invalidated)
            if (pool.isMirror(root))
                mmu.postcondition("inv 15: a fast zap invalidated mirror root " + root);
        mmu.lock.readLock();
        try {
            for (int root : invalidated) {
                zapRoot(root, true);
                // checked while the MMU's reference keeps the root: once put, a vCPU dropping its own reference
                // may free it and its id may come back as a new table that a fault fills
                if (countPresent(root) != 0)
                    mmu.postcondition("inv 15: direct root " + root + " still maps memory after a fast zap");
                mmu.roots.put(root);
            }
        } finally {
            mmu.lock.readUnlock();
        }
    }

    /**
     * The present entries, of any level, of the GFNs {@code root} indexes. Under the read lock: another walk may
     * zap and free tables meanwhile, so the count runs inside RCU.
     */
    int countPresent(int root) {
        long bits = mmu.roots.gfnBits(root), end = bits != 0 ? bits : mmu.maxGfn();
        mmu.rcu.readLock();
        try {
            return countPresent(root, mmu.rootLevel, 0, bits, (end - 1 | bits) + 1);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /** The present entries overlapping {@code [lo, hi)} under {@code table}, counted as {@link #firstLeaf} scans. */
    private int countPresent(int table, int level, long base, long lo, long hi) {
        int shift = Spte.LEVEL_BITS * (level - 1), from = sliceFrom(shift, base, lo), to = sliceTo(shift, base, hi);
        int n = 0;
        for (int i = from; (i = pool.firstWithAny(table, i, to, Spte.MMU_PRESENT)) >= 0; i++) {
            long spte = pool.get(TablePool.sptep(table, i));
            if (!isShadowPresent(spte))
                continue;
            n++;
            int child = isLast(spte, level) ? 0 : pool.idOfPfn(Spte.pfn(spte));
            if (child != 0)
                n += countPresent(child, level - 1, base + ((long) i << shift), lo, hi);
        }
        return n;
    }

    /** {@code kvm_tdp_mmu_zap_invalidated_roots}: zap each, then drop the reference the MMU held. */
    public void zapInvalidatedRoots(int[] invalidated, boolean shared) {
        for (int root : invalidated) {
            zapRoot(root, shared);
            mmu.roots.put(root);
        }
    }

    /**
     * {@code kvm_mmu_uninit_tdp_mmu}: at VM teardown every valid root, mirror included, is invalidated and zapped
     * under the write lock. The caller holds the write lock.
     */
    public void teardown() {
        int[] invalidated = mmu.roots.invalidate(Roots.VALID_ROOTS);
        zapInvalidatedRoots(invalidated, false);
    }
}
