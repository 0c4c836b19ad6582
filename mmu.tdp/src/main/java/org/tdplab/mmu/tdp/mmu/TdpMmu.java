package org.tdplab.mmu.tdp.mmu;

import static org.tdplab.mmu.tdp.spte.Spte.FROZEN_SPTE;
import static org.tdplab.mmu.tdp.spte.Spte.isFrozen;
import static org.tdplab.mmu.tdp.spte.Spte.isLast;
import static org.tdplab.mmu.tdp.spte.Spte.isShadowPresent;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.pt.Rcu;
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
    public final Stats stats;
    public final Invalidation invalidation = new Invalidation();
    public final int rootLevel;
    public final long directBits;
    private final boolean mirroredPt, externalDirect; // the capabilities, read at every SPTE change
    final MmuHost host;
    /** The hooks of the tables the backend keeps a copy of (mirror roots, and direct ones it mediates). */
    final ExternalTables external;
    public final Roots roots;
    /** How a fault is routed: its natural GFN, its privateness, its root. */
    public final Routing routing;
    public final Zapper zap;
    public final TdpMap map;
    public final HugePages hugePages;
    public final NxHugePages nx;
    public final DirtyLogging dirtyLog;
    public final Aging aging;
    public final FastPageFault fastPf;

    /** Invariant violations seen as they happened (post-conditions of zaps, installs after a bug). */
    private final java.util.List<String> opViolations =
            java.util.Collections.synchronizedList(new java.util.ArrayList<>());

    public TdpMmu(VmCapabilities caps, TablePool pool, MmuHost host) {
        this(caps, pool, host, new Stats());
    }

    /** @param stats the VM's counters, whose vCPU cells its vCPUs were given */
    public TdpMmu(VmCapabilities caps, TablePool pool, MmuHost host, Stats stats) {
        this.caps = caps;
        this.stats = stats;
        this.pool = pool;
        this.rcu = new Rcu(pool);
        this.rootLevel = caps.rootLevel();
        this.directBits = caps.gfnDirectBits();
        this.mirroredPt = caps.mirroredPt();
        this.externalDirect = caps.externalDirect();
        this.host = host;
        this.external = new ExternalTables(host);
        this.routing = new Routing(caps);
        this.roots = new Roots(this);
        this.zap = new Zapper(this);
        this.map = new TdpMap(this);
        this.hugePages = new HugePages(this);
        this.nx = new NxHugePages(this);
        this.dirtyLog = new DirtyLogging(this);
        this.aging = new Aging(this);
        this.fastPf = new FastPageFault(this);
    }

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

    /**
     * {@code kvm_flush_remote_tlbs_range}: counted, then every vCPU drops its translations for the range before this
     * returns.
     */
    public void flushRemoteTlbs(long gfn, long npages) {
        stats.inc(Stat.REMOTE_TLB_FLUSH_REQUESTS);
        stats.inc(Stat.REMOTE_TLB_FLUSH);
        host.flushRemoteTlbs(gfn, npages);
    }

    /**
     * Whether the calling thread may step through the tables: inside an RCU read section (no table it reaches is
     * freed under it) or holding the MMU lock for write (none is freed at all) — the kernel's
     * {@code rcu_dereference_check(..., lockdep_is_held(&kvm->mmu_lock))} in {@code spte_to_child_pt}. For
     * assertions: tests run with them on, the fault path without.
     */
    public boolean mayWalk() {
        return rcu.inReadSection() || lock.isWriteLockedByMe();
    }

    /**
     * {@code tdp_mmu_iter_cond_resched} with {@code shared}: when a writer waits for the MMU lock and the walk moved
     * since it last (re)started, RCU and the read lock are let go and taken again, the writer going first; the
     * iterator then re-walks from its root to the entry not handled yet. The walk must hold references to its roots
     * ({@link Roots#hold}). Returns whether it yielded.
     */
    public boolean condReschedShared(TdpIter it) {
        if (!mayYieldShared() || !it.canYield())
            return false;
        yieldShared();
        it.markYielded();
        return true;
    }

    /** Whether a writer waits for the MMU lock, which this thread holds for read once ({@code rwlock_needbreak}). */
    boolean mayYieldShared() {
        return lock.contended() && lock.readHeldOnce();
    }

    /** {@code cond_resched_rwlock_read} between two RCU read sections: the waiting writer goes first. */
    void yieldShared() {
        rcu.readUnlock();
        lock.yieldRead();
        rcu.readLock();
    }

    /** One past the last GFN a root of this VM indexes. */
    public long maxGfn() {
        return 1L << (9 * rootLevel);
    }

    /**
     * {@code tdp_root_for_each_pte}: starts {@code it} on {@code root} over {@code [start, end)} down to
     * {@code minLevel}, at the GFNs the root indexes (direct roots carry the direct bits).
     */
    public void walk(TdpIter it, int root, int minLevel, long start, long end) {
        assert mayWalk() : "a walk of the tables outside an RCU read section and without the MMU lock for write";
        it.start(root, rootLevel, minLevel, start, Math.min(end, maxGfn()), roots.gfnBits(root));
    }

    /**
     * {@code for_each_tdp_pte_min_level_all}: starts {@code it} on every entry of {@code root} down to
     * {@code minLevel}, whatever GFNs the root indexes — no direct bits, so the GFNs of a direct root's aliased
     * entries carry the bit, as the kernel's root zap traces them.
     */
    public void walkAll(TdpIter it, int root, int minLevel) {
        assert mayWalk() : "a walk of the tables outside an RCU read section and without the MMU lock for write";
        it.start(root, rootLevel, minLevel, 0, maxGfn(), 0);
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
        boolean mirror = pool.isMirror(TablePool.tableOf(sptep));
        // a backend that mediates the direct root too installs its entries by the same frozen protocol
        boolean mediated = !mirror && caps.externalDirect() && !isShadowPresent(old) && isShadowPresent(newSpte);
        if (!mirror && !mediated) { // the plain CAS first in the bytecode: the JIT inlines in that order
            if (!pool.cas(sptep, old, newSpte)) {
                it.refresh();
                return BUSY;
            }
        } else if (mirror ? !mirrorInstallAllowed(it, old, newSpte) || !installFrozen(it, RootKind.MIRROR, newSpte)
                : !installFrozen(it, RootKind.DIRECT, newSpte)) {
            return BUSY;
        }
        handleChangedSpte(sptep, it.gfn, old, newSpte, it.level, true);
        it.oldSpte = newSpte;
        return OK;
    }

    /** A mirror SPTE is only ever installed over a non-present one, never zapped atomically; else a KVM bug. */
    private boolean mirrorInstallAllowed(TdpIter it, long old, long newSpte) {
        if (!isShadowPresent(newSpte)) {
            host.bug("atomic zap of a mirror SPTE at gfn 0x" + Long.toHexString(it.gfn));
            return false;
        }
        if (isShadowPresent(old)) {
            host.bug("replacing a present mirror SPTE at gfn 0x" + Long.toHexString(it.gfn));
            return false;
        }
        return true;
    }

    /**
     * The frozen install of an SPTE the backend mediates: the entry is frozen by CAS, the backend installs its own,
     * and only then is the new value published; a failed install puts the old value back. False when it did not
     * happen (the CAS lost, or the backend refused).
     */
    private boolean installFrozen(TdpIter it, RootKind kind, long newSpte) {
        long sptep = it.sptep, old = it.oldSpte;
        if (!pool.cas(sptep, old, FROZEN_SPTE)) {
            it.refresh();
            return false;
        }
        if (!external.install(kind, it.gfn, it.level, old, newSpte).isOk()) {
            pool.set(sptep, old);
            return false;
        }
        pool.set(sptep, newSpte);
        return true;
    }

    /**
     * {@code tdp_mmu_set_spte}, under the write lock. Leaves whose bits may change outside the lock are exchanged
     * atomically so no A/D update is lost. Removing a present mirror leaf calls the backend hook.
     */
    public void setSpte(TdpIter it, long newSpte) {
        it.oldSpte = writeSpte(it.sptep, it.oldSpte, newSpte, it.level, it.gfn, true);
    }

    /**
     * {@link #setSpte} at an entry a per-SPTE loop holds in locals; returns the value replaced. {@code mayTrace}
     * false: the loop read {@link MmuHost#tracing} off when it began or last retook the lock (a static key in Linux).
     */
    long writeSpte(long sptep, long old, long newSpte, int level, long gfn, boolean mayTrace) {
        if (isFrozen(old) || isFrozen(newSpte))
            host.bug("plain write of a FROZEN SPTE at gfn 0x" + Long.toHexString(gfn));
        if (isShadowPresent(old) && Spte.needsAtomicUpdate(old, level))
            old = pool.xchg(sptep, newSpte);
        else
            pool.set(sptep, newSpte);
        handleChangedSpte(sptep, gfn, old, newSpte, level, false, mayTrace);
        // only a VM with mirrored page tables has mirror tables: the others do not look up the table's role
        if (mirroredPt && isShadowPresent(old) && isLast(old, level) && pool.isMirror(TablePool.tableOf(sptep)))
            removeMirrorLeaf(gfn, level, old, newSpte);
        return old;
    }

    private void removeMirrorLeaf(long gfn, int level, long old, long newSpte) {
        if (isShadowPresent(newSpte)) {
            host.bug("plain write of a present value to a mirror SPTE at gfn 0x" + Long.toHexString(gfn));
            return;
        }
        external.removeLeaf(RootKind.MIRROR, gfn, level, old);
    }

    /**
     * {@code handle_changed_spte}: page stats, the trace event, and — when a present table is zapped or replaced —
     * the teardown of the detached subtree. The common changes — a leaf zapped under the write lock (counted in the
     * holder's batch), or changed in place (protected, aged, made writable: nothing to count), or frozen by the
     * teardown of its table under the read lock (which counts its table's leaves at once) — are done here; the rest
     * ({@link #changedSpteRare}), the counters' per-thread look-up included, is out of line, so that this stays
     * small enough for the JIT to inline it into the loops that change an SPTE per step.
     */
    void handleChangedSpte(long sptep, long gfn, long old, long newSpte, int level, boolean shared) {
        handleChangedSpte(sptep, gfn, old, newSpte, level, shared, true);
    }

    /** {@link #handleChangedSpte}; {@code mayTrace} false: the caller knows nobody traces ({@link #writeSpte}). */
    void handleChangedSpte(long sptep, long gfn, long old, long newSpte, int level, boolean shared, boolean mayTrace) {
        if (old == newSpte)
            return;
        boolean wasPresent = isShadowPresent(old);
        boolean wasLeaf = wasPresent && isLast(old, level), isLeaf = isShadowPresent(newSpte) && isLast(newSpte, level);
        if (wasLeaf && isLeaf && Spte.pfn(old) != Spte.pfn(newSpte))
            pfnChangedInPlace(gfn);
        boolean counted = isLeaf == wasLeaf // under the read lock only a teardown passes FROZEN here
                || (shared ? newSpte == FROZEN_SPTE : stats.addToPageBatch(level, isLeaf ? 1 : -1));
        // a leaf count for the counters, a write-lock install, a table unlinked, tracing, a mediated root
        if (!counted || isLeaf && !wasLeaf && !shared || wasPresent && !wasLeaf
                || mayTrace && host.tracing() || externalDirect)
            changedSpteRare(sptep, gfn, old, newSpte, level, shared, counted);
    }

    /**
     * {@link #handleChangedSpte}'s rarer half, in the kernel's order: the leaf count if it was not counted yet, the
     * check of a bugged VM, the trace event, the teardown of a removed table ({@code handle_removed_pt}, written
     * in), the mediated root's hook. One method, larger than the JIT inlines at a hot call (C2's FreqInlineSize,
     * 325 bytes of bytecode): when its parts (the counters' look-up of the thread's row, the teardown that recurses
     * through {@link #handleChangedSpte}) were inlined there, the compiled {@link #handleChangedSpte} grew past the
     * size C2 still inlines a compiled method at (InlineSmallCode, 2500 bytes), and every per-SPTE loop called it.
     */
    private void changedSpteRare(long sptep, long gfn, long old, long newSpte, int level, boolean shared,
            boolean counted) {
        boolean wasPresent = isShadowPresent(old), isPresent = isShadowPresent(newSpte);
        boolean wasLeaf = wasPresent && isLast(old, level), isLeaf = isPresent && isLast(newSpte, level);
        int table = TablePool.tableOf(sptep);
        if (!counted)
            stats.add(Stat.pages(level), isLeaf ? 1 : -1);
        // a shared (read-lock) install checked the VM before it began; a KVM_BUG_ON another reader raises meanwhile
        // cannot be excluded, in the kernel either (no lock orders them): only a later install breaks invariant 24
        if (isLeaf && !wasLeaf && !shared && host.bugged())
            installedAfterBug(gfn);
        boolean tracing = host.tracing(); // read once for a removed table's children too
        if (tracing)
            host.traceSpteChanged(roots.kindOf(table), gfn, level, old, newSpte);
        if (wasPresent && !wasLeaf && (isLeaf || !isPresent || Spte.pfn(old) != Spte.pfn(newSpte))) {
            /*
             * handle_removed_pt: the detached table's children are frozen one by one, recursing into sub-tables, so
             * the backend sees every leaf removed before the table that held it is freed; the table itself goes
             * back to the pool only after an RCU grace period, when no lockless walker can still be inside it.
             */
            int removed = pool.idOfPfn(Spte.pfn(old)), childLevel = pool.level(removed);
            long base = pool.gfn(removed), step = Spte.pagesPerHpage(childLevel);
            boolean mirror = pool.isMirror(removed);
            stats.add(Stat.TDP_MMU_PAGES, -1);
            if (pool.nxHugePageDisallowed(removed))
                nx.unaccount(removed); // tdp_mmu_unlink_sp
            if (mirror && shared)
                host.bug("tearing down a mirror table under the read lock");
            /*
             * Under the read lock, where no batch is open, the leaves it freezes are counted here, once for the table
             * (all at one level; the kernel's count is an atomic add per leaf): each would otherwise go the
             * out-of-line way with its look-up of the thread's counter row. The table is this thread's alone once
             * unlinked, and the count is made before the lock is let go. A leaf a fault installs in it meanwhile (its
             * walk reached the table before the unlink) is one a freeze takes, so counted here too. Under the write
             * lock each is counted as any leaf zap's (the holder's batch, or the counters).
             */
            long leaves = 0;
            for (int i = 0; i < Spte.ENT_PER_PAGE; i++) {
                long childp = TablePool.sptep(removed, i), childGfn = base + i * step, child;
                if (shared) {
                    // another thread may hold the entry frozen for a moment; wait for its final value
                    while (isFrozen(child = pool.xchg(childp, FROZEN_SPTE)))
                        Thread.onSpinWait();
                } else {
                    child = pool.get(childp);
                    if (!isShadowPresent(child))
                        continue;
                    if (Spte.needsAtomicUpdate(child, childLevel))
                        child = pool.xchg(childp, FROZEN_SPTE);
                    else
                        pool.set(childp, FROZEN_SPTE);
                }
                handleChangedSpte(childp, childGfn, child, FROZEN_SPTE, childLevel, shared, tracing);
                boolean leaf = isShadowPresent(child) && isLast(child, childLevel);
                if (leaf && shared)
                    leaves++;
                if (mirror && !shared && leaf)
                    removeMirrorLeaf(childGfn, childLevel, child, FROZEN_SPTE);
            }
            if (leaves != 0)
                stats.add(Stat.pages(childLevel), -leaves);
            if (mirror)
                external.freeTable(RootKind.MIRROR, base, childLevel);
            else if (caps.externalDirect())
                external.freeTable(RootKind.DIRECT, base, childLevel);
            rcu.callRcu(removed);
        }
        // a mediated direct root: every other change reaches the backend once the core made it (installs under
        // the read lock went through the frozen protocol already)
        if (caps.externalDirect() && !pool.isMirror(table) && !(shared && !wasPresent && isPresent))
            external.directChanged(gfn, level, old, newSpte);
    }

    /** Invariant 3 broken: a present leaf's pfn changed in place. Out of line: the hot path above stays inlinable. */
    private void pfnChangedInPlace(long gfn) {
        String what = "present leaf at gfn 0x" + Long.toHexString(gfn) + " changed its pfn in place";
        postcondition("inv 3: " + what);
        host.bug(what);
    }

    private void installedAfterBug(long gfn) {
        postcondition(String.format("inv 24: a leaf for gfn 0x%x was installed after the VM was bugged", gfn));
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
        fillSplitChild(it.oldSpte, it.level, child);
        int r = linkTable(it, child);
        if (r == OK)
            accountSplit(it.level);
        return r;
    }

    /** The 512 pieces of {@code huge} in {@code child} ({@code make_small_spte}). */
    void fillSplitChild(long huge, int level, int child) {
        boolean exec = caps.nxHugePages() && level - 1 == Spte.PG_LEVEL_4K;
        for (int i = 0; i < Spte.ENT_PER_PAGE; i++) {
            long small = Spte.makeSmallFromHuge(huge, level, i);
            // make_small_spte: with the NX mitigation huge leaves lost X; 4K pieces get it back
            pool.set(TablePool.sptep(child, i), exec ? Spte.makeExecutable(small) : small);
        }
    }

    void accountSplit(int level) {
        stats.add(Stat.pages(level - 1), Spte.ENT_PER_PAGE);
        stats.inc(Stat.LPAGE_SPLITS);
    }

    /** Frees a table that never became visible (its link failed). */
    void freeUnlinked(int table) {
        pool.free(table);
    }
}
