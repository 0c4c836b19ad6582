package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.spte.Spte.SHADOW_NONPRESENT_VALUE;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/** Zaps: leaf zaps of a range, whole-root zaps, fast invalidation of direct roots, and teardown. */
public final class Zapper {
    /** Root types, as {@code enum kvm_tdp_mmu_root_types}. */
    public static final int INVALID_ROOTS = 1, DIRECT_ROOTS = 2, MIRROR_ROOTS = 4,
            VALID_ROOTS = DIRECT_ROOTS | MIRROR_ROOTS, ALL_ROOTS = VALID_ROOTS | INVALID_ROOTS;

    private final TdpMmu mmu;
    private final TablePool pool;
    /** The write-lock iterator: write-lock operations are exclusive, so one suffices. */
    private final TdpIter it;

    Zapper(TdpMmu mmu) {
        this.mmu = mmu;
        this.pool = mmu.pool;
        this.it = new TdpIter(mmu.pool);
    }

    /** {@code tdp_mmu_root_match}. */
    public boolean rootMatches(int root, int types) {
        if (pool.isInvalid(root))
            return (types & INVALID_ROOTS) != 0;
        return (types & (pool.isMirror(root) ? MIRROR_ROOTS : DIRECT_ROOTS)) != 0;
    }

    /**
     * {@code kvm_tdp_mmu_zap_leafs} over the roots of {@code types}: every present leaf overlapping
     * {@code [start, end)} becomes non-present; tables stay. Write lock. Returns whether a TLB flush is needed.
     */
    public boolean zapLeafs(int types, long start, long end) {
        boolean flush = false;
        for (int root : mmu.roots())
            if (rootMatches(root, types))
                flush |= zapRootLeafs(root, start, Math.min(end, mmu.maxGfn()));
        return flush;
    }

    /** {@link #zapLeafs} with invariant 16 checked on return. */
    public boolean zapLeafsChecked(int types, long start, long end) {
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
        for (it.start(root, mmu.rootLevel, Spte.PG_LEVEL_4K, start, end, mmu.gfnBits(root)); it.valid; it.next()) {
            if (condResched(flush)) {
                flush = false;
                continue;
            }
            if (!isShadowPresent(it.oldSpte) || !isLast(it.oldSpte, it.level))
                continue;
            mmu.setSpte(it, SHADOW_NONPRESENT_VALUE);
            // translations through an invalid root are dropped when vCPUs reload their roots
            flush |= !invalid;
        }
        return flush;
    }

    /**
     * Invariant 16: after a zap returns, no root of {@code types} has a present leaf overlapping the range.
     * Returns a description of the first survivor, or null.
     */
    public String survivor(int types, long start, long end) {
        TdpIter walk = new TdpIter(pool);
        for (int root : mmu.roots()) {
            if (!rootMatches(root, types))
                continue;
            for (walk.start(root, mmu.rootLevel, Spte.PG_LEVEL_4K, start, Math.min(end, mmu.maxGfn()),
                    mmu.gfnBits(root)); walk.valid; walk.next())
                if (isShadowPresent(walk.oldSpte) && isLast(walk.oldSpte, walk.level))
                    return String.format("inv 16: %s leaf for gfn 0x%x level %d survived the zap of [0x%x, 0x%x)",
                            mmu.kindOf(root), walk.gfn, walk.level, start, end);
        }
        return null;
    }

    /** The root types {@link #unmapGfnRange} zaps for these kinds. */
    public int unmapTypes(boolean privateKind, boolean sharedKind) {
        int types = INVALID_ROOTS;
        if (!mmu.caps.mirroredPt())
            return types | DIRECT_ROOTS;
        if (privateKind)
            types |= MIRROR_ROOTS;
        if (sharedKind)
            types |= DIRECT_ROOTS;
        return types;
    }

    /**
     * {@code kvm_tdp_mmu_unmap_gfn_range}: leaf zap over the roots an attribute filter selects, plus invalid
     * roots. VMs without mirrored page tables have only direct roots, whatever the filter.
     */
    public boolean unmapGfnRange(long start, long end, boolean privateKind, boolean sharedKind) {
        int types = unmapTypes(privateKind, sharedKind);
        boolean flush = zapLeafs(types, start, end);
        mmu.postcondition(survivor(types, start, end));
        return flush;
    }

    /**
     * {@code tdp_mmu_iter_cond_resched} for write-lock walks: when someone waits for the MMU lock and the walk has
     * made progress, flush what is pending, drop and retake the lock, and restart the walk from the root.
     */
    private boolean condResched(boolean flush) {
        if (!mmu.lock.contended() || !it.canYield() || !mmu.lock.writeHeldOnce())
            return false;
        if (flush)
            mmu.host.flushRemoteTlbs(0, mmu.maxGfn());
        mmu.rcu.readUnlock();
        mmu.lock.writeUnlock();
        Thread.yield();
        mmu.lock.writeLock();
        mmu.rcu.readLock();
        it.markYielded();
        return true;
    }

    /**
     * {@code tdp_mmu_zap_root}: zaps a whole root level by level (4K, 2M, 1G, then the top), so a shared zap
     * never tears down a large subtree in one step. {@code shared} means the caller holds the read lock.
     */
    public void zapRoot(int root, boolean shared) {
        TdpIter walk = shared ? new TdpIter(pool) : it;
        int[] levels = { Spte.PG_LEVEL_4K, Spte.PG_LEVEL_2M, Spte.PG_LEVEL_1G, mmu.rootLevel };
        mmu.rcu.readLock();
        try {
            for (int zapLevel : levels)
                zapRootAt(walk, root, zapLevel, shared);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    private void zapRootAt(TdpIter walk, int root, int zapLevel, boolean shared) {
        for (walk.start(root, mmu.rootLevel, zapLevel, 0, mmu.maxGfn(), mmu.gfnBits(root)); walk.valid; walk.next()) {
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
     * root is flushed when it is loaded. The caller holds no MMU lock.
     */
    public void zapAllFast() {
        int[] invalidated;
        mmu.lock.writeLock();
        try {
            invalidated = invalidateRoots(DIRECT_ROOTS);
            mmu.host.requestRootReload();
        } finally {
            mmu.lock.writeUnlock();
        }
        mmu.lock.readLock();
        try {
            int[] mirrors = presentPerRoot(MIRROR_ROOTS);
            for (int root : invalidated) {
                zapRoot(root, true);
                // checked while the MMU's reference keeps the root: once put, a vCPU dropping its own reference
                // may free it and its id may come back as a new table that a fault fills
                if (countPresent(root) != 0)
                    mmu.postcondition("inv 15: direct root " + root + " still maps memory after a fast zap");
                mmu.putRoot(root);
            }
            if (!java.util.Arrays.equals(mirrors, presentPerRoot(MIRROR_ROOTS)))
                mmu.postcondition("inv 15: a fast zap changed a mirror root");
        } finally {
            mmu.lock.readUnlock();
        }
    }

    private int[] presentPerRoot(int types) {
        return java.util.Arrays.stream(mmu.roots()).filter(r -> rootMatches(r, types)).map(this::countPresent)
                .toArray();
    }

    private int countPresent(int root) {
        TdpIter walk = new TdpIter(pool);
        int n = 0;
        for (walk.start(root, mmu.rootLevel, Spte.PG_LEVEL_4K, 0, mmu.maxGfn(), mmu.gfnBits(root)); walk.valid; walk.next())
            if (isShadowPresent(walk.oldSpte))
                n++;
        return n;
    }

    /** {@code kvm_tdp_mmu_invalidate_roots}: returns the roots it invalidated. Write lock. */
    public int[] invalidateRoots(int types) {
        int[] roots = mmu.roots();
        int[] out = new int[roots.length];
        int n = 0;
        for (int root : roots)
            if (!pool.isInvalid(root) && rootMatches(root, types)) {
                pool.setRoleBits(root, TablePool.ROLE_INVALID);
                out[n++] = root;
            }
        return java.util.Arrays.copyOf(out, n);
    }

    /** {@code kvm_tdp_mmu_zap_invalidated_roots}: zap each, then drop the reference the MMU held. */
    public void zapInvalidatedRoots(int[] invalidated, boolean shared) {
        for (int root : invalidated) {
            zapRoot(root, shared);
            mmu.putRoot(root);
        }
    }

    /**
     * {@code kvm_mmu_uninit_tdp_mmu}: at VM teardown every valid root, mirror included, is invalidated and zapped
     * under the write lock. The caller holds the write lock.
     */
    public void teardown() {
        int[] invalidated = invalidateRoots(VALID_ROOTS);
        zapInvalidatedRoots(invalidated, false);
    }
}
