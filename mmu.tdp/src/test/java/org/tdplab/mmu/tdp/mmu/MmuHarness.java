package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * One TdpMmu with a host that records what the MMU asked of the VM: remote TLB flushes, root reloads, bugs and SPTE
 * changes. Faults are filled as the fault handler would fill them, so tests drive {@link TdpMap} directly.
 */
final class MmuHarness implements MmuHost {
    record Flush(long gfn, long npages) {
    }

    /** One SPTE change, and whether an invalidation window covered its GFN when it happened. */
    record Change(RootKind root, long gfn, int level, long oldSpte, long newSpte, boolean windowOpen) {
    }

    final List<String> bugs = new ArrayList<>();
    final List<Flush> flushes = new ArrayList<>();
    final List<Change> changes = new ArrayList<>();
    int reloads;
    /** Runs on every SPTE change, on the thread that made it (with whatever locks it holds). */
    Runnable onChange = () -> {
    };
    VmBackend backend = new VmBackend() {
    };
    final TdpMmu mmu;
    final TablePool pool;

    MmuHarness(VmCapabilities caps) {
        this.pool = new TablePool(TableFrames.sequential(0x1000));
        this.mmu = new TdpMmu(caps, pool, this);
    }

    /** The valid root of that kind, loaded (allocated when there is none) under the read lock as a vCPU does. */
    int root(boolean mirror) {
        mmu.lock.readLock();
        try {
            return mmu.roots.get(mirror);
        } finally {
            mmu.lock.readUnlock();
        }
    }

    static MmuHarness ordinary() {
        return new MmuHarness(VmCapabilities.ordinary("default", 48));
    }

    @Override
    public void bug(String reason) {
        bugs.add(reason);
    }

    @Override
    public boolean bugged() {
        return !bugs.isEmpty();
    }

    @Override
    public VmBackend backend() {
        return backend;
    }

    @Override
    public void flushRemoteTlbs(long gfn, long npages) {
        flushes.add(new Flush(gfn, npages));
    }

    @Override
    public void requestRootReload() {
        reloads++;
    }

    @Override
    public void traceSpteChanged(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        changes.add(new Change(root, gfn, level, oldSpte, newSpte, mmu.invalidation.inProgress(gfn)));
        onChange.run();
    }

    /** A fault as the fault handler fills it for a slot-backed GFN mapped at {@code level}, pfn = gfn. */
    PageFault fault(long gfn, int level, boolean write) {
        PageFault f = new PageFault(new TdpIter(pool));
        f.reset(gfn << 12, gfn, write, false, false, false);
        f.hasSlot = true;
        f.hostWritable = true;
        f.mapWritable = true;
        f.maxLevel = level;
        f.reqLevel = level;
        f.goalLevel = level;
        f.pfn = 0x100000 + (gfn & ~(Spte.pagesPerHpage(level) - 1));
        return f;
    }

    /** Maps {@code gfn} at {@code level} in {@code root} under the read lock, as a fault does. */
    int map(int root, long gfn, int level, boolean write) {
        mmu.lock.readLock();
        try {
            return mmu.map.map(fault(gfn, level, write), root);
        } finally {
            mmu.lock.readUnlock();
        }
    }

    /** The last SPTE on the way to {@code gfn} in {@code root}, and its level: {level, spte}. */
    long[] last(int root, long gfn) {
        TdpIter it = new TdpIter(pool);
        long spte = 0;
        int level = 0;
        mmu.rcu.readLock();
        try {
            for (mmu.walk(it, root, Spte.PG_LEVEL_4K, gfn, gfn + 1); it.valid; it.next()) {
                spte = it.oldSpte;
                level = it.level;
                if (!Spte.isShadowPresent(spte) || Spte.isLast(spte, it.level))
                    break;
            }
        } finally {
            mmu.rcu.readUnlock();
        }
        return new long[] { level, spte };
    }

    boolean mapped(int root, long gfn) {
        long[] l = last(root, gfn);
        return Spte.isShadowPresent(l[1]) && Spte.isLast(l[1], (int) l[0]);
    }

    /** What any MMU operation leaves behind: no MMU lock and no RCU read section held, no bug. */
    void assertQuiescent() {
        assertFalse(mmu.lock.isWriteLockedByMe(), "the MMU lock is still held for write");
        assertFalse(mmu.lock.isReadLockedByMe(), "the MMU lock is still held for read");
        assertFalse(mmu.rcu.inReadSection(), "an RCU read section was left open");
        assertTrue(bugs.isEmpty(), bugs::toString);
    }

    /** After a grace period, every table but the live roots' own is back in the pool. */
    void assertOnlyRootsLive(int roots) {
        mmu.rcu.synchronize();
        assertEquals(0, mmu.rcu.pendingFrees(), "tables still wait for a grace period");
        assertEquals(roots, pool.liveTables(), "page-table pages leaked");
    }
}
