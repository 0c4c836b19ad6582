package org.tdplab.mmu.tdp.mmu;

import java.util.Arrays;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.tdp.pt.TablePool;

/**
 * The VM's root list ({@code kvm->arch.tdp_mmu_roots}): allocation and references of roots, and the one filter every
 * walk over roots goes through ({@link #of}, the kernel's {@code for_each_tdp_mmu_root} with root types).
 */
public final class Roots {
    /** Root types, as {@code enum kvm_tdp_mmu_root_types}. */
    public static final int INVALID_ROOTS = 1, DIRECT_ROOTS = 2, MIRROR_ROOTS = 4,
            VALID_ROOTS = DIRECT_ROOTS | MIRROR_ROOTS, ALL_ROOTS = VALID_ROOTS | INVALID_ROOTS;

    private final TdpMmu mmu;
    private final TablePool pool;
    /** Guarded by {@code this} for writers, read as a snapshot. */
    private volatile int[] list = new int[0];

    Roots(TdpMmu mmu) {
        this.mmu = mmu;
        this.pool = mmu.pool;
    }

    /**
     * {@code kvm_tdp_mmu_alloc_root}: a reference to the valid root of this kind, creating it (refcount 2: one for
     * the vCPU, one the MMU keeps until the root is invalidated) when there is none.
     */
    public int get(boolean mirror) {
        int types = mirror ? MIRROR_ROOTS : DIRECT_ROOTS;
        for (int root : list)
            if (matches(root, types) && pool.tryGetRoot(root))
                return root;
        synchronized (this) {
            for (int root : list)
                if (matches(root, types) && pool.tryGetRoot(root))
                    return root;
            int root = pool.alloc(mmu.rootLevel, 0, TablePool.ROLE_ROOT | (mirror ? TablePool.ROLE_MIRROR : 0));
            pool.setRootCount(root, 2);
            int[] next = Arrays.copyOf(list, list.length + 1);
            next[next.length - 1] = root;
            list = next;
            mmu.stats.inc(Stat.ROOTS_ALLOCATED);
            return root;
        }
    }

    /**
     * {@code kvm_tdp_mmu_put_root}: the last reference frees the root, which must be invalid by then, and (6.18)
     * already zapped: the reference the MMU keeps is put only after the root's zap, which does not happen here.
     */
    public void put(int root) {
        if (pool.putRoot(root) != 0)
            return;
        if (!pool.isInvalid(root))
            mmu.host.bug("root " + root + " lost its last reference while still valid");
        if (mmu.zap.countPresent(root) != 0) { // the kernel would leak the tables: the model reports and zaps them
            mmu.postcondition("inv 14: root " + root + " lost its last reference while still mapping memory");
            mmu.zap.zapUnreferencedRoot(root, !mmu.lock.isWriteLockedByMe());
        }
        synchronized (this) {
            int[] cur = list;
            int[] next = new int[cur.length - 1];
            for (int i = 0, j = 0; i < cur.length; i++)
                if (cur[i] != root)
                    next[j++] = cur[i];
            list = next;
        }
        mmu.stats.inc(Stat.ROOTS_FREED);
        mmu.rcu.callRcu(root);
    }

    // ---- the roots a vCPU holds -------------------------------------------------------------------------------

    /**
     * {@code kvm_mmu_reload}: before entering the guest a vCPU drops obsolete roots and loads valid ones. Returns
     * whether a new direct root was loaded: the vCPU then flushes its TLB, as {@code kvm_mmu_load} does.
     */
    public boolean load(VcpuRoots v) {
        if (v.direct != 0 && (v.reload || pool.isInvalid(v.direct))) {
            v.reload = false;
            int old = v.direct;
            v.direct = 0;
            mmu.lock.readLock();
            try {
                put(old);
            } finally {
                mmu.lock.readUnlock();
            }
        }
        if (v.reload)
            v.reload = false; // a volatile store only when there is a request to clear: no fence on every entry
        if (mmu.caps.mirroredPt() && v.mirror == 0)
            v.mirror = getLocked(true);
        if (v.direct != 0)
            return false;
        v.direct = getLocked(false);
        return true;
    }

    private int getLocked(boolean mirror) {
        mmu.lock.readLock();
        try {
            return get(mirror);
        } finally {
            mmu.lock.readUnlock();
        }
    }

    /** {@code tdp_mmu_get_root_for_fault}. */
    public int forFault(VcpuRoots v, boolean isPrivate) {
        return mmu.routing.followsMirror(isPrivate) ? v.mirror : v.direct;
    }

    /** The vCPU drops its references (VM teardown); the caller holds the read lock. */
    public void release(VcpuRoots v) {
        if (v.direct != 0)
            put(v.direct);
        if (v.mirror != 0)
            put(v.mirror);
        v.direct = v.mirror = 0;
    }

    // ---- the list ----------------------------------------------------------------------------------------------

    /** A snapshot of the whole list, invalid roots included. */
    public int[] all() {
        return list;
    }

    /** The roots of {@code types} now, in list order: what every walk over roots iterates. */
    public int[] of(int types) {
        int[] cur = list;
        int[] out = new int[cur.length];
        int n = 0;
        for (int root : cur)
            if (matches(root, types))
                out[n++] = root;
        return n == cur.length ? cur : Arrays.copyOf(out, n);
    }

    /**
     * The roots of {@code types} now, each with a reference taken ({@code for_each_tdp_mmu_root_yield_safe}): a walk
     * that drops the MMU lock and RCU to yield cannot have a root freed under it, and its id come back as another
     * table. A root whose last reference is going is left out. {@link #putAll} gives the references back.
     */
    public int[] hold(int types) {
        int[] cur = of(types), held = new int[cur.length];
        int n = 0;
        for (int root : cur)
            if (pool.tryGetRoot(root))
                held[n++] = root;
        return n == cur.length ? held : Arrays.copyOf(held, n);
    }

    /** Puts the references {@link #hold} took. */
    public void putAll(int[] held) {
        for (int root : held)
            put(root);
    }

    /** {@code tdp_mmu_root_match}. */
    public boolean matches(int root, int types) {
        if (pool.isInvalid(root))
            return (types & INVALID_ROOTS) != 0;
        return (types & (pool.isMirror(root) ? MIRROR_ROOTS : DIRECT_ROOTS)) != 0;
    }

    /** The valid roots of one kind. */
    public static int typesOf(RootKind kind) {
        return kind == RootKind.MIRROR ? MIRROR_ROOTS : DIRECT_ROOTS;
    }

    /** {@code kvm_tdp_mmu_invalidate_roots}: returns the roots it invalidated. Write lock. */
    public int[] invalidate(int types) {
        int[] out = of(types & VALID_ROOTS);
        for (int root : out)
            pool.setRoleBits(root, TablePool.ROLE_INVALID);
        return out;
    }

    public RootKind kindOf(int tableId) {
        return pool.isMirror(tableId) ? RootKind.MIRROR : RootKind.DIRECT;
    }

    /** {@code kvm_gfn_root_bits}: mirror roots walk natural GFNs, direct roots the aliased (shared-bit) GFNs. */
    public long gfnBits(int root) {
        return pool.isMirror(root) ? 0 : mmu.directBits;
    }
}
