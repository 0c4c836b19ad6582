package org.tdplab.mmu.tdp.vcpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mmu.ErrorCode;
import org.tdplab.mmu.tdp.mmu.MmuHost;
import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The vCPU side: its TLB keeps translations until a flush reaches it, the CPU's walk reports the error code an
 * EPT violation carries and sets A/D, and a remote flush reaches every vCPU in guest mode.
 */
class VcpuTest {
    private final List<String> bugs = new ArrayList<>();
    private final TablePool pool = new TablePool(TableFrames.sequential(0x1000));
    private final TdpMmu mmu = new TdpMmu(VmCapabilities.ordinary("default", 48), pool, new MmuHost() {
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
            return new VmBackend() {
            };
        }

        @Override
        public void flushRemoteTlbs(long gfn, long npages) {
        }

        @Override
        public void requestRootReload() {
        }

        @Override
        public void traceSpteChanged(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        }
    });

    private void map(int root, long gfn, int level, boolean writable, boolean exec) {
        PageFault f = new PageFault(new TdpIter(pool));
        f.reset(gfn << 12, gfn, false, exec, false, true); // a prefetch: the leaf starts with A clear
        f.hasSlot = true;
        f.hostWritable = writable;
        f.mapWritable = writable;
        f.goalLevel = level;
        f.pfn = 0x80000 + (gfn & ~(Spte.pagesPerHpage(level) - 1));
        mmu.lock.readLock();
        try {
            assertEquals(PageFault.RET_PF_FIXED, mmu.map.map(f, root));
        } finally {
            mmu.lock.readUnlock();
        }
    }

    /** The direct root, taken under the read lock as a vCPU's root load does. */
    private int directRoot() {
        mmu.lock.readLock();
        try {
            return mmu.roots.get(false);
        } finally {
            mmu.lock.readUnlock();
        }
    }

    private long spte(int root, long gfn) {
        mmu.rcu.readLock();
        try {
            return HardwareWalk.lastSpte(mmu, root, gfn);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    private long walk(int root, long gfn, boolean write, boolean exec) {
        TdpIter it = new TdpIter(pool);
        mmu.rcu.readLock();
        try {
            return HardwareWalk.walk(mmu, it, root, gfn, write, exec);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    @Test
    void theTlbKeepsATranslationUntilItIsFlushed() {
        Tlb tlb = new Tlb(16);
        long k = Tlb.key(0x123, false, false);
        assertEquals(-1, tlb.lookup(k));
        tlb.insert(k, 0x456, true, false);
        long v = tlb.lookup(k);
        assertEquals(0x456, Tlb.pfn(v));
        assertEquals(Tlb.W, v & (Tlb.W | Tlb.X));
        assertEquals(-1, tlb.lookup(Tlb.key(0x123, true, false)), "the encrypted alias is another entry");
        assertEquals(0x123, k);
        assertTrue(Tlb.key(0x123, true, false) != k, "the encrypted-access bit is part of the key");
        assertTrue(Tlb.key(0x123, false, true) != k, "a translation through the mirror is another entry");
        tlb.insert(Tlb.key(0x9, true, false), 0x7, false, true);
        assertEquals(Tlb.X, tlb.lookup(Tlb.key(0x9, true, false)) & (Tlb.W | Tlb.X));
        List<Long> seen = new ArrayList<>();
        tlb.forEach((key, value) -> seen.add(key));
        assertEquals(2, seen.size());
        assertTrue(seen.contains(k));
        tlb.flush();
        assertEquals(-1, tlb.lookup(k));
        tlb.forEach((key, value) -> seen.add(-1L));
        assertEquals(2, seen.size(), "a flushed TLB has nothing to visit");
        assertThrows(IllegalArgumentException.class, () -> new Tlb(12));
        new Tlb(1).insert(5, 6, false, false);
    }

    @Test
    void theHardwareWalkTranslatesSetsAccessedAndDirtyAndReportsViolations() {
        int root = directRoot();
        long none = walk(root, 0x10, false, false);
        assertFalse(Walk.isTranslated(none));
        assertEquals(Walk.KIND_VIOLATION, Walk.kind(none));
        assertEquals(ErrorCode.USER, Walk.detail(none), "not present");
        assertEquals(ErrorCode.USER | ErrorCode.WRITE, Walk.detail(walk(root, 0x10, true, false)));

        map(root, 0x200, Spte.PG_LEVEL_2M, false, false);
        long ok = walk(root, 0x234, false, false);
        assertTrue(Walk.isTranslated(ok));
        assertEquals(0x80234, Walk.pfn(ok), "the page's own pfn inside the huge page");
        assertEquals(Spte.PG_LEVEL_2M, Walk.level(ok));
        long s = spte(root, 0x234);
        assertTrue(Spte.isAccessed(s), "the CPU sets A");
        assertEquals(0, s & Spte.DIRTY, "a read sets no D");
        long wr = walk(root, 0x234, true, false);
        assertEquals(ErrorCode.USER | ErrorCode.WRITE | ErrorCode.PRESENT, Walk.detail(wr), "write to read-only");
        assertTrue(Walk.isTranslated(walk(root, 0x234, false, true)), "without the NX mitigation huge pages run");

        map(root, 0x401, Spte.PG_LEVEL_4K, true, true);
        assertTrue(Walk.isTranslated(walk(root, 0x401, true, true)));
        long w = spte(root, 0x401);
        assertTrue(Spte.isAccessed(w));
        assertEquals(Spte.DIRTY, w & Spte.DIRTY, "a write sets D");
        assertEquals(0x80401, Walk.pfn(walk(root, 0x401, false, false)));
        assertTrue(bugs.isEmpty());
    }

    private long walk(Tlb tlb, int root, long gfn) {
        mmu.rcu.readLock();
        try {
            return HardwareWalk.walk(mmu, new TdpIter(pool), null, tlb, root, gfn, false, false);
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /**
     * The paging-structure cache: a walk that reached a 4K table caches it for its root and 2M region, and the next
     * walk there reads that table alone — even once the table is unlinked (a zap whose flush has not come yet), as
     * the hardware's does — until the TLB is flushed. A region mapped by a huge leaf caches nothing.
     */
    @Test
    void theCachedTableIsWalkedUntilAFlush() {
        int root = directRoot();
        map(root, 0x401, Spte.PG_LEVEL_4K, false, false);
        map(root, 0x402, Spte.PG_LEVEL_4K, false, false);
        map(root, 0x600, Spte.PG_LEVEL_2M, false, false);
        Tlb tlb = new Tlb(16);
        assertEquals(0, tlb.lookupTable(root, 0x401));
        assertEquals(0x80401, Walk.pfn(walk(tlb, root, 0x401)));
        TdpIter it = new TdpIter(pool);
        it.walkTo(root, mmu.rootLevel, 0x401, 0, Spte.PG_LEVEL_4K);
        int table = it.tableAt(Spte.PG_LEVEL_4K);
        assertEquals(table, tlb.lookupTable(root, 0x5ff), "the whole 2M region");
        assertEquals(0, tlb.lookupTable(root, 0x200), "another region");
        assertEquals(0, tlb.lookupTable(root + 1, 0x401), "another root");
        assertTrue(Walk.isTranslated(walk(tlb, root, 0x623)));
        assertEquals(0, tlb.lookupTable(root, 0x623), "a huge leaf: no 4K table");
        List<Long> cached = new ArrayList<>();
        tlb.forEachTable((r, gfn, t) -> cached.add(((long) r << 48) | gfn << 8 | t));
        assertEquals(List.of(((long) root << 48) | 0x400L << 8 | table), cached);

        long pde = it.sptepAt(Spte.PG_LEVEL_2M);
        long linked = pool.get(pde);
        pool.set(pde, Spte.SHADOW_NONPRESENT_VALUE); // unlinked, and no flush yet
        assertFalse(Walk.isTranslated(walk(null, root, 0x402)), "a walk from the root finds nothing");
        assertEquals(0x80402, Walk.pfn(walk(tlb, root, 0x402)), "the cached table is still walked");
        tlb.flush();
        assertEquals(0, tlb.lookupTable(root, 0x402));
        assertFalse(Walk.isTranslated(walk(tlb, root, 0x402)), "after the flush the walk starts at the root");
        pool.set(pde, linked);
        assertTrue(bugs.isEmpty());
    }

    /**
     * A walk that cannot start (no root loaded) or cannot follow a non-leaf entry (its table is not one of the pool's)
     * is a not-present violation, whatever the vCPU's walker last saw.
     */
    @Test
    void aWalkThatCannotReachALeafIsANotPresentViolation() {
        int root = directRoot();
        map(root, 0x401, Spte.PG_LEVEL_4K, true, true);
        TdpIter walker = new TdpIter(pool);
        mmu.rcu.readLock();
        try {
            assertTrue(Walk.isTranslated(HardwareWalk.walk(mmu, walker, root, 0x401, false, false)));
            long none = HardwareWalk.walk(mmu, walker, 0, 0x401, false, false);
            assertEquals(Walk.KIND_VIOLATION, Walk.kind(none), "no root");
            assertEquals(ErrorCode.USER, Walk.detail(none));
        } finally {
            mmu.rcu.readUnlock();
        }
        // a present non-leaf entry at 2M whose table the pool does not know: the walk stops there
        long l2 = 0;
        TdpIter it = new TdpIter(pool);
        mmu.rcu.readLock();
        try {
            it.walkTo(root, mmu.rootLevel, 0x600, 0, Spte.PG_LEVEL_2M);
            l2 = it.sptep;
        } finally {
            mmu.rcu.readUnlock();
        }
        pool.set(l2, Spte.makeNonLeaf(0x7777777, false));
        long w = walk(root, 0x600, false, false);
        assertEquals(Walk.KIND_VIOLATION, Walk.kind(w));
        assertEquals(ErrorCode.USER, Walk.detail(w));
    }

    @Test
    void anMmioSpteIsAMisconfiguration() {
        mmu.lock.readLock();
        int root;
        try {
            root = mmu.roots.get(false);
            PageFault f = new PageFault(new TdpIter(pool));
            f.reset(0x30000, 0x30, false, false, false, false);
            f.hasSlot = false;
            assertEquals(PageFault.RET_PF_EMULATE, mmu.map.map(f, root));
        } finally {
            mmu.lock.readUnlock();
        }
        long w = walk(root, 0x30, true, false);
        assertEquals(ErrorCode.RSVD | ErrorCode.USER | ErrorCode.WRITE | ErrorCode.PRESENT, Walk.detail(w));
        assertTrue(Spte.isMmio(spte(root, 0x30), mmu.caps.mmioValue()));
        assertFalse(Spte.isMmio(spte(root, 0x31), mmu.caps.mmioValue()), "its neighbour is plainly not present");
        assertEquals(ErrorCode.USER, Walk.detail(walk(root, 0x31, false, false)));
    }

    @Test
    void aRemoteFlushWaitsForAVcpuInGuestModeToApplyIt() throws InterruptedException {
        Vcpu v = new Vcpu(0, pool);
        GuestMode gm = new GuestMode(new Vcpu[] { v });
        java.util.concurrent.CountDownLatch inGuest = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean flushReturned = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicBoolean returnedEarly = new java.util.concurrent.atomic.AtomicBoolean();
        Thread vcpu = new Thread(() -> {
            gm.enter(v);
            v.tlb.insert(Tlb.key(1, false, false), 2, false, false);
            inGuest.countDown();
            while (gm.generation() == 0) // the flush was requested
                Thread.onSpinWait();
            for (int i = 0; i < 1000; i++)
                Thread.onSpinWait();
            returnedEarly.set(flushReturned.get()); // the flush must still be waiting for this vCPU
            gm.exit(v);
        });
        vcpu.start();
        inGuest.await();
        Thread flusher = new Thread(() -> {
            gm.flushAll();
            flushReturned.set(true);
        });
        flusher.start();
        vcpu.join();
        flusher.join();
        assertFalse(returnedEarly.get(), "the flush returned while the vCPU could still use its TLB");
        assertTrue(flushReturned.get());
        gm.enter(v);
        assertEquals(-1, v.tlb.lookup(Tlb.key(1, false, false)), "applied when the vCPU enters again");
        gm.exit(v);
    }

    /**
     * The flush request is acknowledged by a vCPU that applies it and stays in guest mode (kvm_make_all_cpus_request
     * waits for the ack, not for the vCPU to exit): the flusher returns while the vCPU is still in the guest.
     */
    @Test
    void aVcpuThatAppliedTheFlushInGuestModeReleasesTheFlusher() throws InterruptedException {
        Vcpu v = new Vcpu(0, pool);
        GuestMode gm = new GuestMode(new Vcpu[] { v });
        java.util.concurrent.CountDownLatch inGuest = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean flushReturned = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicBoolean stillInGuest = new java.util.concurrent.atomic.AtomicBoolean();
        Thread vcpu = new Thread(() -> {
            gm.enter(v);
            v.tlb.insert(Tlb.key(1, false, false), 2, false, false);
            inGuest.countDown();
            while (gm.generation() == 0) // the flush was requested
                Thread.onSpinWait();
            gm.enter(v); // applies it without leaving guest mode
            while (!flushReturned.get()) // the flusher must not wait for an exit now
                Thread.onSpinWait();
            stillInGuest.set(gm.current(v) && v.inGuest);
            gm.exit(v);
        });
        vcpu.start();
        inGuest.await();
        Thread flusher = new Thread(() -> {
            gm.flushAll();
            flushReturned.set(true);
        });
        flusher.start();
        flusher.join();
        vcpu.join();
        assertTrue(stillInGuest.get(), "the flush returned while the vCPU stayed in guest mode, its TLB current");
        assertEquals(-1, v.tlb.lookup(Tlb.key(1, false, false)), "the flush was applied on the re-entry");
    }

    @Test
    void aVcpuFlushesItsTlbWhenItLoadsANewRootAndWhenAFlushIsPending() {
        Vcpu v = new Vcpu(0, pool);
        v.tlb.insert(Tlb.key(1, false, false), 2, false, false);
        v.loadRoots(mmu.roots);
        assertEquals(-1, v.tlb.lookup(Tlb.key(1, false, false)), "a new root: the vCPU's TLB was flushed");
        assertTrue(v.roots.direct != 0);
        v.tlb.insert(Tlb.key(1, false, false), 2, false, false);
        v.loadRoots(mmu.roots);
        assertEquals(2, Tlb.pfn(v.tlb.lookup(Tlb.key(1, false, false))), "the same root: the TLB stays");

        GuestMode gm = new GuestMode(new Vcpu[] { v });
        assertTrue(gm.current(v));
        gm.enter(v);
        gm.exit(v);
        assertEquals(2, Tlb.pfn(v.tlb.lookup(Tlb.key(1, false, false))), "no flush pending");
        gm.flushAll(); // the vCPU is outside guest mode: the flush does not wait for it
        assertEquals(1, gm.generation());
        assertFalse(gm.current(v));
        assertEquals(2, Tlb.pfn(v.tlb.lookup(Tlb.key(1, false, false))), "applied only when the vCPU enters");
        gm.enter(v);
        assertTrue(gm.current(v));
        assertEquals(-1, v.tlb.lookup(Tlb.key(1, false, false)), "the pending flush was applied on entry");
        gm.exit(v);
        gm.kickAll();
        assertEquals(2, gm.generation());
        assertFalse(gm.current(v));
    }
}
