package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.spte.Spte.FROZEN_SPTE;
import static org.tdplab.mmu.tdp.spte.Spte.SHADOW_NONPRESENT_VALUE;
import static org.tdplab.mmu.tdp.spte.Spte.isFrozen;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import java.util.Arrays;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.pt.Rcu;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * One VM's TDP MMU state: its page-table pool, its roots, and the two ways an SPTE changes — atomically under
 * the read lock ({@code tdp_mmu_set_spte_atomic}) or plainly under the write lock ({@code tdp_mmu_set_spte}) —
 * both funnelled into {@link #handleChangedSpte}, the one place that does the bookkeeping for every change.
 */
public final class TdpMmu {
    /** Status codes of SPTE updates. */
    public static final int OK = 0, BUSY = 1;

    public final VmCapabilities caps;
    public final TablePool pool;
    public final Rcu rcu;
    public final MmuLock lock = new MmuLock();
    public final Stats stats = new Stats();
    public final Invalidation invalidation = new Invalidation();
    public final int rootLevel;
    public final long directBits;
    final MmuHost host;
    public final Zapper zap;
    public final TdpMap map;

    /** Invariant violations seen as they happened (post-conditions of zaps, installs after a bug). */
    private final java.util.List<String> opViolations = java.util.Collections.synchronizedList(new java.util.ArrayList<>());

    /** Records a violated post-condition; {@code null} means it held. */
    public void postcondition(String violation) {
        if (violation != null && opViolations.size() < 100)
            opViolations.add(violation);
    }

    /** The violations recorded as operations ran. */
    public java.util.List<String> opViolations() {
        synchronized (opViolations) {
            return java.util.List.copyOf(opViolations);
        }
    }

    /** The root list ({@code kvm->arch.tdp_mmu_roots}); guarded by {@code this} for writers, read as a snapshot. */
    private volatile int[] roots = new int[0];

    public TdpMmu(VmCapabilities caps, TableFrames frames, MmuHost host) {
        this.caps = caps;
        this.pool = new TablePool(frames);
        this.rcu = new Rcu(pool);
        this.rootLevel = caps.rootLevel();
        this.directBits = caps.gfnDirectBits();
        this.host = host;
        this.zap = new Zapper(this);
        this.map = new TdpMap(this);
    }

    // ---- roots ------------------------------------------------------------------------------------------------

    /**
     * {@code kvm_tdp_mmu_alloc_root}: a reference to the valid root of this kind, creating it (refcount 2: one for
     * the vCPU, one the MMU keeps until the root is invalidated) when there is none.
     */
    public int getRoot(boolean mirror) {
        for (int root : roots)
            if (matches(root, mirror) && pool.tryGetRoot(root))
                return root;
        synchronized (this) {
            for (int root : roots)
                if (matches(root, mirror) && pool.tryGetRoot(root))
                    return root;
            int root = pool.alloc(rootLevel, 0, TablePool.ROLE_ROOT | (mirror ? TablePool.ROLE_MIRROR : 0));
            pool.setRootCount(root, 2);
            int[] next = Arrays.copyOf(roots, roots.length + 1);
            next[next.length - 1] = root;
            roots = next;
            stats.inc(Stat.ROOTS_ALLOCATED);
            return root;
        }
    }

    private boolean matches(int root, boolean mirror) {
        return !pool.isInvalid(root) && pool.isMirror(root) == mirror;
    }

    /** {@code kvm_tdp_mmu_put_root}: the last reference frees the root, which must be invalid by then. */
    public void putRoot(int root) {
        if (pool.putRoot(root) != 0)
            return;
        if (!pool.isInvalid(root))
            host.bug("root " + root + " lost its last reference while still valid");
        zap.zapRoot(root, !lock.isWriteLockedByMe());
        synchronized (this) {
            int[] cur = roots;
            int[] next = new int[cur.length - 1];
            for (int i = 0, j = 0; i < cur.length; i++)
                if (cur[i] != root)
                    next[j++] = cur[i];
            roots = next;
        }
        stats.inc(Stat.ROOTS_FREED);
        rcu.callRcu(root);
    }

    /** A snapshot of the root list. */
    public int[] roots() {
        return roots;
    }

    public RootKind kindOf(int tableId) {
        return pool.isMirror(tableId) ? RootKind.MIRROR : RootKind.DIRECT;
    }

    /** {@code kvm_gfn_root_bits}: mirror roots walk natural GFNs, direct roots the aliased (shared-bit) GFNs. */
    public long gfnBits(int root) {
        return pool.isMirror(root) ? 0 : directBits;
    }

    /** One past the last GFN a root of this VM indexes. */
    public long maxGfn() {
        return 1L << (9 * rootLevel);
    }

    // ---- SPTE updates ----------------------------------------------------------------------------------------

    /**
     * {@code tdp_mmu_set_spte_atomic}, under the read lock: CAS from the iterator's snapshot. A mirror entry goes
     * through the FROZEN protocol around the backend hook (§4.4). Returns {@link #BUSY} (snapshot refreshed) when the
     * entry changed meanwhile or the backend was busy; the caller retries.
     */
    public int setSpteAtomic(TdpIter it, long newSpte) {
        long sptep = it.sptep;
        long old = it.oldSpte;
        if (isFrozen(old))
            return BUSY;
        if (host.bugged() && isShadowPresent(newSpte))
            return BUSY; // invariant 24: nothing is installed once the VM is bugged
        if (pool.isMirror(TablePool.tableOf(sptep))) {
            if (!isShadowPresent(newSpte)) {
                host.bug("atomic zap of a mirror SPTE at gfn 0x" + Long.toHexString(it.gfn));
                return BUSY;
            }
            if (isShadowPresent(old)) {
                host.bug("replacing a present mirror SPTE at gfn 0x" + Long.toHexString(it.gfn));
                return BUSY;
            }
            if (!pool.cas(sptep, old, FROZEN_SPTE)) {
                it.refresh();
                return BUSY;
            }
            HookStatus status = host.backend().mirrorSpteChanged(it.gfn, it.level, old, newSpte);
            if (status != HookStatus.OK) {
                pool.set(sptep, old);
                if (status == HookStatus.ERROR)
                    host.bug("mirror hook failed to install gfn 0x" + Long.toHexString(it.gfn) + " level " + it.level);
                return BUSY;
            }
            pool.set(sptep, newSpte);
        } else if (!pool.cas(sptep, old, newSpte)) {
            it.refresh();
            return BUSY;
        }
        handleChangedSpte(sptep, it.gfn, old, newSpte, it.level, true);
        it.oldSpte = newSpte;
        return OK;
    }

    /**
     * {@code tdp_mmu_set_spte}, under the write lock. Leaves whose bits may change outside the lock are exchanged
     * atomically so no A/D update is lost. Removing a present mirror leaf calls the backend hook.
     */
    public void setSpte(TdpIter it, long newSpte) {
        it.oldSpte = writeSpte(it.sptep, it.oldSpte, newSpte, it.level, it.gfn);
    }

    long writeSpte(long sptep, long old, long newSpte, int level, long gfn) {
        if (isFrozen(old) || isFrozen(newSpte))
            host.bug("plain write of a FROZEN SPTE at gfn 0x" + Long.toHexString(gfn));
        if (isShadowPresent(old) && Spte.needsAtomicUpdate(old, level))
            old = pool.xchg(sptep, newSpte);
        else
            pool.set(sptep, newSpte);
        handleChangedSpte(sptep, gfn, old, newSpte, level, false);
        if (pool.isMirror(TablePool.tableOf(sptep)) && isShadowPresent(old) && isLast(old, level))
            removeMirrorLeaf(gfn, level, old, newSpte);
        return old;
    }

    private void removeMirrorLeaf(long gfn, int level, long old, long newSpte) {
        if (isShadowPresent(newSpte)) {
            host.bug("plain write of a present value to a mirror SPTE at gfn 0x" + Long.toHexString(gfn));
            return;
        }
        if (host.backend().mirrorSpteChanged(gfn, level, old, newSpte) != HookStatus.OK)
            host.bug("mirror hook failed to remove gfn 0x" + Long.toHexString(gfn) + " level " + level);
    }

    /**
     * {@code handle_changed_spte}: page stats, the trace event, and — when a present table is zapped or replaced —
     * the teardown of the detached subtree.
     */
    void handleChangedSpte(long sptep, long gfn, long old, long newSpte, int level, boolean shared) {
        if (old == newSpte)
            return;
        boolean wasPresent = isShadowPresent(old), isPresent = isShadowPresent(newSpte);
        boolean wasLeaf = wasPresent && isLast(old, level), isLeaf = isPresent && isLast(newSpte, level);
        boolean pfnChanged = Spte.pfn(old) != Spte.pfn(newSpte);
        int table = TablePool.tableOf(sptep);
        if (wasLeaf && isLeaf && pfnChanged) {
            String what = "present leaf at gfn 0x" + Long.toHexString(gfn) + " changed its pfn in place";
            postcondition("inv 3: " + what);
            host.bug(what);
        }
        if (isLeaf != wasLeaf)
            stats.add(Stat.pages(level), isLeaf ? 1 : -1);
        if (isLeaf && !wasLeaf && host.bugged() && opViolations.size() < 100)
            opViolations.add(String.format("inv 24: a leaf for gfn 0x%x was installed after the VM was bugged", gfn));
        host.traceSpteChanged(kindOf(table), gfn, level, old, newSpte);
        if (wasPresent && !wasLeaf && (isLeaf || !isPresent || pfnChanged))
            handleRemovedPt(pool.idOfPfn(Spte.pfn(old)), shared);
    }

    /**
     * {@code handle_removed_pt}: a detached table's children are frozen one by one, recursing into sub-tables, so
     * the backend sees every leaf removed before the table that held it is freed; the table itself goes back to
     * the pool only after an RCU grace period, when no lockless walker can still be inside it.
     */
    void handleRemovedPt(int table, boolean shared) {
        int level = pool.level(table);
        long base = pool.gfn(table);
        boolean mirror = pool.isMirror(table);
        long step = Spte.pagesPerHpage(level);
        stats.add(Stat.TDP_MMU_PAGES, -1);
        if (pool.nxHugePageDisallowed(table))
            unaccountNxHugePage(table); // tdp_mmu_unlink_sp
        if (mirror && shared)
            host.bug("tearing down a mirror table under the read lock");
        for (int i = 0; i < Spte.ENT_PER_PAGE; i++) {
            long sptep = TablePool.sptep(table, i);
            long gfn = base + i * step;
            long old;
            if (shared) {
                // another thread may hold the entry frozen for a moment; wait for its final value
                while (isFrozen(old = pool.xchg(sptep, FROZEN_SPTE)))
                    Thread.onSpinWait();
            } else {
                old = pool.get(sptep);
                if (!isShadowPresent(old))
                    continue;
                if (Spte.needsAtomicUpdate(old, level))
                    old = pool.xchg(sptep, FROZEN_SPTE);
                else
                    pool.set(sptep, FROZEN_SPTE);
            }
            handleChangedSpte(sptep, gfn, old, FROZEN_SPTE, level, shared);
            if (mirror && !shared && isShadowPresent(old) && isLast(old, level))
                removeMirrorLeaf(gfn, level, old, FROZEN_SPTE);
        }
        if (mirror && host.backend().mirrorTableFreed(base, level) != HookStatus.OK)
            host.bug("mirror table at gfn 0x" + Long.toHexString(base) + " level " + level + " could not be freed");
        rcu.callRcu(table);
    }

    // ---- table allocation ------------------------------------------------------------------------------------

    /** A child table for the entry the iterator is at, with the parent's role. */
    int allocChild(TdpIter it, int root) {
        int role = pool.role(root) & TablePool.ROLE_MIRROR;
        int child = pool.alloc(it.level - 1, Spte.gfnRoundForLevel(it.gfn, it.level), role);
        pool.setPtep(child, it.sptep);
        return child;
    }

    /** {@code tdp_mmu_link_sp}: installs a non-leaf SPTE for {@code child}, atomically. */
    int linkTable(TdpIter it, int child) {
        int r = setSpteAtomic(it, Spte.makeNonLeaf(pool.pfnOf(child), caps.adDisabled()));
        if (r == OK)
            stats.inc(Stat.TDP_MMU_PAGES);
        return r;
    }

    /**
     * {@code tdp_mmu_split_huge_page}: fills {@code child} with the huge leaf's 512 smaller pieces and links it in
     * its place. The translations stay the same, so no TLB flush is needed.
     */
    int splitHugePage(TdpIter it, int child) {
        long huge = it.oldSpte;
        boolean exec = caps.nxHugePages() && it.level - 1 == Spte.PG_LEVEL_4K;
        for (int i = 0; i < Spte.ENT_PER_PAGE; i++) {
            long small = Spte.makeSmallFromHuge(huge, it.level, i);
            // make_small_spte: with the NX mitigation huge leaves lost X; 4K pieces get it back
            pool.set(TablePool.sptep(child, i), exec ? Spte.makeExecutable(small) : small);
        }
        int r = linkTable(it, child);
        if (r == OK) {
            stats.add(Stat.pages(it.level - 1), Spte.ENT_PER_PAGE);
            stats.inc(Stat.LPAGE_SPLITS);
        }
        return r;
    }

    /**
     * {@code kvm_tdp_mmu_try_split_huge_pages} down to 4K (eager page splitting when dirty logging starts): every
     * huge leaf of the valid direct roots over {@code [start, end)} is replaced by a table of its pieces, which the
     * walk then visits, so a 1G leaf ends as 4K leaves too. The translations stay the same: no TLB flush. Takes the
     * read lock and RCU as the kernel does; a lost race is retried on the refreshed entry.
     */
    public void splitHugePages(long start, long end) {
        TdpIter it = new TdpIter(pool);
        lock.readLock();
        rcu.readLock();
        try {
            for (int root : roots) {
                if (pool.isInvalid(root) || pool.isMirror(root))
                    continue;
                it.start(root, rootLevel, Spte.PG_LEVEL_4K, start, Math.min(end, maxGfn()), gfnBits(root));
                while (it.valid) {
                    if (it.level > Spte.PG_LEVEL_4K && isShadowPresent(it.oldSpte) && isLast(it.oldSpte, it.level)) {
                        int child = allocChild(it, root);
                        if (splitHugePage(it, child) != OK) {
                            freeUnlinked(child);
                            continue;
                        }
                    }
                    it.next();
                }
            }
        } finally {
            rcu.readUnlock();
            lock.readUnlock();
        }
    }

    /**
     * {@code kvm_tdp_mmu_fast_pf_get_last_sptep}: the last SPTE a walk of the direct {@code root} reaches for
     * {@code indexGfn} (the GFN with the root's direct bits), lockless; the caller holds the RCU read lock. Returns
     * the entry's pointer and leaves its level in {@code f.fastLevel} and its value in {@code f.fastSpte}.
     */
    public long fastPfGetLastSptep(int root, long indexGfn, PageFault f) {
        int table = root;
        for (int level = rootLevel;; level--) {
            long sptep = TablePool.sptep(table, Spte.indexAt(indexGfn, level));
            long spte = pool.get(sptep);
            if (!isShadowPresent(spte) || isLast(spte, level) || level == Spte.PG_LEVEL_4K) {
                f.fastLevel = level;
                f.fastSpte = spte;
                return sptep;
            }
            table = pool.idOfPfn(Spte.pfn(spte));
        }
    }

    /**
     * {@code fast_pf_fix_direct_spte}: one {@code cmpxchg} from the snapshot, outside the MMU lock. Only W, the
     * access-tracking bits and D change (never the pfn or presence), so no other bookkeeping is needed.
     */
    public boolean fastPfFixDirectSpte(long sptep, long gfn, int level, long old, long newSpte) {
        if (!pool.cas(sptep, old, newSpte))
            return false;
        host.traceSpteChanged(RootKind.DIRECT, gfn, level, old, newSpte);
        return true;
    }

    /**
     * {@code kvm_mmu_recover_huge_pages} → {@code recover_huge_pages_range}, when dirty logging is disabled: under
     * the read lock and RCU, every present table at 2M or 1G inside {@code [start, end)} of the valid direct roots
     * whose GFN may be mapped that large ({@code maxLevel}, as {@code kvm_mmu_max_mapping_level} says) is replaced by
     * a huge leaf made from its first present leaf ({@code make_huge_spte}; not executable with the NX mitigation),
     * atomically; a lost race is retried on the refreshed entry. One memslot flush at the end. Returns the number of
     * huge leaves made.
     */
    public int recoverHugePages(long start, long end, java.util.function.LongToIntFunction maxLevel) {
        TdpIter it = new TdpIter(pool);
        TdpIter child = new TdpIter(pool);
        int made = 0;
        lock.readLock();
        rcu.readLock();
        try {
            for (int root : roots) {
                if (pool.isInvalid(root) || pool.isMirror(root))
                    continue;
                it.start(root, rootLevel, Spte.PG_LEVEL_2M, start, Math.min(end, maxGfn()), gfnBits(root));
                while (it.valid) {
                    long old = it.oldSpte;
                    if (it.level > Spte.MAX_HUGEPAGE_LEVEL || !isShadowPresent(old) || isLast(old, it.level)
                            || it.gfn < start || it.gfn + Spte.pagesPerHpage(it.level) > end
                            || maxLevel.applyAsInt(it.gfn) < it.level) {
                        it.next();
                        continue;
                    }
                    long huge = makeHugeSpte(child, root, it.gfn, it.level);
                    if (huge == 0 || isFrozen(old)) {
                        it.next();
                        continue;
                    }
                    if (setSpteAtomic(it, huge) != OK)
                        continue; // refreshed: look at the entry again
                    made++;
                    it.next();
                }
            }
            if (made > 0)
                host.flushRemoteTlbs(start, end - start);
        } finally {
            rcu.readUnlock();
            lock.readUnlock();
        }
        return made;
    }

    /** {@code kvm_tdp_mmu_make_huge_spte}: a huge leaf from the first present leaf under the table, or 0. */
    private long makeHugeSpte(TdpIter child, int root, long gfn, int level) {
        child.start(root, rootLevel, Spte.PG_LEVEL_4K, gfn, gfn + Spte.pagesPerHpage(level), gfnBits(root));
        for (; child.valid; child.next()) {
            long spte = child.oldSpte;
            if (child.level >= level || !isShadowPresent(spte) || !isLast(spte, child.level))
                continue;
            long huge = Spte.makeHugeFromSmall(spte, level);
            if (caps.nxHugePages())
                huge = Spte.makeNonExecutable(huge);
            return huge;
        }
        return 0;
    }

    // ---- NX huge pages ------------------------------------------------------------------------------------------

    /** {@code possible_nx_huge_pages}: tables split for NX, oldest first; guarded by {@link #nxLock}. */
    private int[] nxList = new int[16];
    private int nxCount;
    private final Object nxLock = new Object();

    /**
     * {@code track_possible_nx_huge_page}: onto the list, and {@code nx_lpage_splits} counts it — only if the table
     * is still flagged: between its link and this call a racing walker under the read lock may have unlinked it
     * ({@code tdp_mmu_unlink_sp} clears the flag under the same lock), and a table off the roots must not be listed.
     */
    void trackPossibleNxHugePage(int table) {
        synchronized (nxLock) {
            if (!pool.nxHugePageDisallowed(table))
                return;
            if (nxCount == nxList.length)
                nxList = Arrays.copyOf(nxList, nxCount * 2);
            nxList[nxCount++] = table;
            stats.inc(Stat.NX_LPAGE_SPLITS);
        }
    }

    /** {@code unaccount_nx_huge_page}: off the list (if it is on it), the flag cleared, the count down. */
    void unaccountNxHugePage(int table) {
        synchronized (nxLock) {
            pool.setNxHugePageDisallowed(table, false);
            for (int i = 0; i < nxCount; i++) {
                if (nxList[i] == table) {
                    System.arraycopy(nxList, i + 1, nxList, i, nxCount - i - 1);
                    nxCount--;
                    stats.add(Stat.NX_LPAGE_SPLITS, -1);
                    return;
                }
            }
        }
    }

    /** The tables on the possible-NX list now. */
    public int possibleNxHugePages() {
        synchronized (nxLock) {
            return nxCount;
        }
    }

    /**
     * {@code kvm_recover_nx_huge_pages} (the TDP MMU part, under the read lock since 6.18): takes
     * {@code ceil(nx_lpage_splits / ratio)} tables from the head of the list; one in a dirty-logged memslot is only
     * unaccounted (it would come back as 4K pages; disabling the log recovers it), the others are zapped by their
     * parent SPTE, atomically and only if the parent still points at the table. One flush for the batch, inside the
     * RCU section so no walker can still use a table freed after it. Returns the number of tables zapped.
     */
    public int recoverNxHugePages(java.util.function.LongPredicate dirtyLogged) {
        int ratio = caps.nxRecoveryRatio();
        if (ratio == 0)
            return 0;
        int zapped = 0;
        lock.readLock();
        rcu.readLock();
        try {
            int toZap;
            synchronized (nxLock) {
                toZap = (nxCount + ratio - 1) / ratio;
            }
            int skip = 0;
            for (; toZap > 0; toZap--) {
                int sp;
                synchronized (nxLock) {
                    if (skip >= nxCount)
                        break;
                    sp = nxList[skip];
                }
                if (dirtyLogged.test(pool.gfn(sp))) {
                    unaccountNxHugePage(sp);
                    continue;
                }
                if (zapPossibleNxHugePage(sp))
                    zapped++;
                else
                    skip++; // lost a race: the table is someone else's now
            }
            if (zapped > 0)
                host.flushRemoteTlbs(0, maxGfn());
        } finally {
            rcu.readUnlock();
            lock.readUnlock();
        }
        return zapped;
    }

    /** {@code kvm_tdp_mmu_zap_possible_nx_huge_page}: an atomic zap of the parent SPTE, if it still points at it. */
    private boolean zapPossibleNxHugePage(int sp) {
        long ptep = pool.ptep(sp);
        if (ptep == 0)
            return false;
        int level = pool.level(sp) + 1;
        long old = pool.get(ptep);
        if (!isShadowPresent(old) || isLast(old, level) || pool.idOfPfn(Spte.pfn(old)) != sp)
            return false;
        if (pool.isMirror(TablePool.tableOf(ptep)))
            return false;
        if (!pool.cas(ptep, old, SHADOW_NONPRESENT_VALUE))
            return false;
        handleChangedSpte(ptep, pool.gfn(sp), old, SHADOW_NONPRESENT_VALUE, level, true);
        return true;
    }

    /** Frees a table that never became visible (its link failed). */
    void freeUnlinked(int table) {
        pool.free(table);
    }

    static boolean nonPresent(long spte) {
        return spte == SHADOW_NONPRESENT_VALUE;
    }
}
