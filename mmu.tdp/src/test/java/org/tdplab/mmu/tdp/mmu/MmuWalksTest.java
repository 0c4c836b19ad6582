package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The walks besides faults and zaps — aging, write protection for dirty logging, eager splitting, huge page
 * recovery and NX huge page recovery — as a kernel developer checks them: what changed, whether the TLB was flushed,
 * and that the MMU lock and the RCU read section were released.
 */
class MmuWalksTest {
    private static final int L4K = Spte.PG_LEVEL_4K, L2M = Spte.PG_LEVEL_2M, L1G = Spte.PG_LEVEL_1G;

    private final MmuHarness h = MmuHarness.ordinary();
    private final TdpMmu mmu = h.mmu;
    private final int root = h.root(false);

    @Test
    void agingCountsYoungPagesClipsHugeLeavesToTheRangeAndClearsOnlyWhenAsked() {
        for (long gfn = 0; gfn < 3; gfn++)
            h.map(root, gfn, L4K, false);
        h.map(root, 0x200, L2M, false);
        assertEquals(3, mmu.aging.age(0, 4, false));
        h.assertQuiescent();
        assertEquals(0x10, mmu.aging.age(0x300, 0x310, false), "only the part of the 2M leaf inside the range");
        assertEquals(0x200 + 2, mmu.aging.age(1, 0x400, false));
        assertEquals(3, mmu.aging.age(0, 4, true), "test-and-clear reports what was young");
        h.assertQuiescent();
        assertEquals(0, mmu.aging.age(0, 4, false), "aged");
        assertEquals(0x200, mmu.aging.age(0, 0x400, false), "the 2M leaf was not in the range cleared");
        assertTrue(h.mapped(root, 1), "aging never unmaps");
        assertEquals(0x100001, Spte.pfn(h.last(root, 1)[1]));
        assertTrue(h.flushes.isEmpty(), "aging never flushes");
        assertEquals(3, h.changes.stream().filter(c -> Spte.isAccessed(c.oldSpte()) && !Spte.isAccessed(c.newSpte()))
                .count(), "each aged SPTE was recorded");
    }

    @Test
    void withoutAdBitsAgingMarksTheLeafForAccessTrackingAndRecordsIt() {
        MmuHarness ad = new MmuHarness(VmCapabilities.ordinary("noad", 48).withAdDisabled(true));
        int r = ad.root(false);
        ad.map(r, 0x7, L4K, true);
        ad.changes.clear();
        assertEquals(1, ad.mmu.aging.age(0, 0x10, true));
        ad.assertQuiescent();
        assertEquals(1, ad.changes.size(), "the aged SPTE is recorded like any other change");
        long aged = ad.changes.get(0).newSpte();
        assertTrue(Spte.isAccessTracked(aged));
        assertEquals(aged, ad.last(r, 0x7)[1]);
        assertEquals(0x100007, Spte.pfn(aged), "aging never changes the pfn");
        assertEquals(0, ad.mmu.aging.age(0, 0x10, false), "an access-tracked page is old");
    }

    @Test
    void errorCodesKeepOnlyTheVendorBitsApart() {
        long vendor = 1L << 20;
        assertEquals(vendor, ErrorCode.vendorBits(vendor | ErrorCode.PRESENT | ErrorCode.WRITE | ErrorCode.USER
                | ErrorCode.RSVD | ErrorCode.FETCH | ErrorCode.PRIVATE_ACCESS));
        assertEquals(0, ErrorCode.vendorBits(ErrorCode.of(true, true, true)));
        assertEquals(ErrorCode.USER | ErrorCode.WRITE | ErrorCode.FETCH | ErrorCode.PRESENT, ErrorCode.of(true, true, true));
        assertEquals(ErrorCode.USER, ErrorCode.of(false, false, false));
    }

    @Test
    void theMmuLockKnowsWhenDroppingItReallyReleasesIt() {
        MmuLock lock = new MmuLock();
        assertFalse(lock.writeHeldOnce());
        lock.writeLock();
        assertTrue(lock.writeHeldOnce());
        lock.writeLock();
        assertFalse(lock.writeHeldOnce(), "held twice");
        lock.writeUnlock();
        assertTrue(lock.writeHeldOnce());
        lock.readLock();
        assertTrue(lock.isReadLockedByMe());
        lock.readUnlock();
        lock.writeUnlock();
        assertFalse(lock.isWriteLockedByMe());
        assertFalse(lock.contended());
    }

    @Test
    void startingToLogProtectsUnderTheReadLockAndFlushesAfterLettingItGo() {
        h.map(root, 0x10, L4K, true);
        h.map(root, 0x11, L4K, true);
        h.map(root, 0x200, L2M, true);
        List<String> held = new ArrayList<>();
        h.onChange = () -> held.add((mmu.lock.isReadLockedByMe() ? "read" : "")
                + (mmu.lock.isWriteLockedByMe() ? "write" : "") + (h.flushes.isEmpty() ? "" : " after a flush"));
        mmu.dirtyLog.startLogging(0x10, 0x11);
        h.assertQuiescent();
        assertEquals(List.of("read"), held, "kvm_tdp_mmu_wrprot_slot: lockdep_assert_held_read, the flush after");
        assertEquals(List.of(new MmuHarness.Flush(0x10, 1)), h.flushes);
        assertFalse(Spte.isWritable(h.last(root, 0x10)[1]));
        assertTrue(Spte.isWritable(h.last(root, 0x11)[1]), "outside the range");
        assertTrue(Spte.isMmuWritable(h.last(root, 0x10)[1]), "a write fault can restore W");
        mmu.dirtyLog.startLogging(0x10, 0x11);
        assertEquals(2, h.flushes.size(), "the flush is unconditional, though no leaf changed");
        assertEquals(1, held.size());
        mmu.dirtyLog.startLogging(0x0, 0x400);
        assertFalse(Spte.isWritable(h.last(root, 0x2ff)[1]), "huge leaves lose W too");
        assertNotEquals(0, h.last(root, 0x2ff)[1] & Spte.DIRTY, "without D-bit logging D stays");
        assertEquals(new MmuHarness.Flush(0, 0x400), h.flushes.get(2));
        h.assertQuiescent();
    }

    @Test
    void aReadLockWalkYieldsToAWaitingWriterAndGoesOnWhereItWas() throws Exception {
        for (long gfn = 0x10; gfn < 0x14; gfn++)
            h.map(root, gfn, L4K, true);
        AtomicBoolean writerRan = new AtomicBoolean();
        Thread writer = new Thread(() -> {
            mmu.lock.writeLock();
            writerRan.set(true);
            mmu.lock.writeUnlock();
        });
        List<Boolean> ranBeforeChange = new ArrayList<>();
        h.onChange = () -> {
            ranBeforeChange.add(writerRan.get());
            if (ranBeforeChange.size() == 1) { // a writer queues behind the walk's read lock
                writer.start();
                while (!mmu.lock.contended())
                    Thread.onSpinWait();
            }
        };
        mmu.dirtyLog.startLogging(0x10, 0x14);
        writer.join();
        assertEquals(List.of(false, true, true, true), ranBeforeChange,
                "tdp_mmu_iter_cond_resched(shared): the writer gets in at the next step, every leaf still protected");
        for (long gfn = 0x10; gfn < 0x14; gfn++)
            assertFalse(Spte.isWritable(h.last(root, gfn)[1]));
        h.assertQuiescent();
    }

    @Test
    void startingToLogByDirtyBitsCleansEveryLeafAndProtectsOnlyHugeOnes() {
        MmuHarness pml = new MmuHarness(VmCapabilities.ordinary("pml", 48).withDirtyLogByDirtyBit(true));
        int r = pml.root(false);
        pml.map(r, 0x10, L4K, true);
        pml.map(r, 0x200, L2M, true);
        int before = pml.changes.size();
        pml.mmu.dirtyLog.startLogging(0, 0x400);
        long small = pml.last(r, 0x10)[1], huge = pml.last(r, 0x200)[1];
        assertEquals(0, small & Spte.DIRTY, "clear_dirty_gfn_range");
        assertTrue(Spte.isWritable(small), "the CPU logs a 4K page when it sets D again");
        assertEquals(0, huge & Spte.DIRTY, "clear_dirty_gfn_range takes every leaf, huge ones too");
        assertFalse(Spte.isWritable(huge), "wrprot_gfn_range from 2M: a write splits it and logs at 4K");
        List<String> cleared = pml.changes.subList(before, pml.changes.size()).stream()
                .map(c -> Long.toHexString(c.gfn()) + ((c.oldSpte() & ~c.newSpte()) == Spte.DIRTY ? " D" : " W"))
                .toList();
        assertEquals(List.of("10 D", "200 D", "200 W"), cleared, "one pass clears D on every leaf, one W from 2M");
        assertEquals(1, pml.flushes.size());
        pml.assertQuiescent();
    }

    @Test
    void getDirtyLogProtectionFlushesOnlyWhenALeafLostW() {
        h.map(root, 0x10, L4K, true);
        h.map(root, 0x11, L4K, true);
        long[] all = { -1L };
        mmu.lock.writeLock(); // GET holds it around the harvest and the protection
        try {
            mmu.dirtyLog.writeProtect(0x10, 0x11, all, false);
            assertEquals(1, h.flushes.size());
            assertFalse(Spte.isWritable(h.last(root, 0x10)[1]));
            assertTrue(Spte.isWritable(h.last(root, 0x11)[1]), "outside the range");
            mmu.dirtyLog.writeProtect(0x10, 0x11, all, false);
            assertEquals(1, h.flushes.size(), "nothing lost W: no flush");
            mmu.dirtyLog.writeProtect(0x10, 0x11, all, true);
            assertEquals(2, h.flushes.size(), "a forced flush");
        } finally {
            mmu.lock.writeUnlock();
        }
        h.assertQuiescent();
    }

    @Test
    void eagerSplittingLeavesOnly4KLeavesInTheRangeWithoutAFlush() {
        h.map(root, 1L << 18, L1G, true);
        h.map(root, 0x400, L2M, true);
        mmu.hugePages.split(1L << 18, (1L << 18) + 0x200);
        h.assertQuiescent();
        assertEquals(L4K, h.last(root, (1L << 18) + 0x1ff)[0]);
        assertEquals(0x100000 + (1L << 18) + 0x1ff, Spte.pfn(h.last(root, (1L << 18) + 0x1ff)[1]));
        assertEquals(L2M, h.last(root, (1L << 18) + 0x200)[0], "the rest of the 1G page is split to 2M only");
        assertEquals(L2M, h.last(root, 0x400)[0], "outside the range");
        assertEquals(0, mmu.stats.get(Stat.PAGES_1G));
        assertEquals(512, mmu.stats.get(Stat.PAGES_4K));
        assertEquals(511 + 1, mmu.stats.get(Stat.PAGES_2M));
        assertEquals(2, mmu.stats.get(Stat.LPAGE_SPLITS));
        assertTrue(h.flushes.isEmpty());
    }

    @Test
    void recoveryRebuildsHugeLeavesWhereTheSlotAllowsAndFlushesOnce() {
        for (long gfn = 0x200; gfn < 0x204; gfn++)
            h.map(root, gfn, L4K, true);
        h.map(root, 0x400, L4K, true);
        h.map(root, 0x600, L4K, true);
        int made = mmu.hugePages.recover(0x200, 0x600, gfn -> gfn == 0x400 ? L4K : L2M);
        h.assertQuiescent();
        assertEquals(1, made, "0x400 may only be mapped 4K; 0x600 is outside the range");
        assertEquals(L2M, h.last(root, 0x2ff)[0]);
        assertEquals(0x100200, Spte.pfn(h.last(root, 0x2ff)[1]));
        assertEquals(L4K, h.last(root, 0x400)[0]);
        assertEquals(L4K, h.last(root, 0x600)[0]);
        assertEquals(List.of(new MmuHarness.Flush(0x200, 0x400)), h.flushes);
        assertEquals(1, mmu.stats.get(Stat.PAGES_2M));
        assertEquals(2, mmu.stats.get(Stat.PAGES_4K));
        h.assertOnlyRootsLive(5);
        assertEquals(0, mmu.hugePages.recover(0, 0x800, gfn -> L4K), "nothing may be huge");
        assertEquals(1, h.flushes.size());
        assertEquals(0, mmu.hugePages.recover(0x400, 0x5ff, gfn -> L2M), "the table at 0x400 ends past the range");
        assertEquals(1, mmu.hugePages.recover(0x401, 0x800, gfn -> L2M), "only the table at 0x600 lies inside");
        assertEquals(L4K, h.last(root, 0x400)[0]);
        assertEquals(L2M, h.last(root, 0x600)[0]);
    }

    @Test
    void recoveryMakesAGigabyteLeafWhereTheWholeGigabyteMayBeHuge() {
        long g = 1L << 18;
        h.map(root, g + 0x5, L4K, true);
        h.map(root, g + 0x300, L4K, true);
        assertEquals(1, mmu.hugePages.recover(g, 2 * g, gfn -> L1G), "one 1G leaf, not 2M leaves below it");
        h.assertQuiescent();
        assertEquals(L1G, h.last(root, g + 0x300)[0]);
        assertEquals(0x100000 + g, Spte.pfn(h.last(root, g + 0x300)[1]), "made from the first leaf, aligned");
        assertEquals(1, mmu.stats.get(Stat.PAGES_1G));
        assertEquals(0, mmu.stats.get(Stat.PAGES_4K));
        h.assertOnlyRootsLive(2);
    }

    @Test
    void nxRecoveryZapsTheSplitTablesFlushesAndSkipsDirtyLoggedOnes() {
        MmuHarness nx = new MmuHarness(VmCapabilities.ordinary("nx", 48).withNxHugePages(true, 1));
        int r = nx.root(false);
        for (long gfn : new long[] { 0x200, 0x400, 0x600 }) {
            PageFault f = nx.fault(gfn, L4K, false);
            f.exec = true;
            f.hugePageDisallowed = true;
            f.reqLevel = L2M;
            nx.mmu.lock.readLock();
            try {
                assertEquals(PageFault.RET_PF_FIXED, nx.mmu.map.map(f, r));
            } finally {
                nx.mmu.lock.readUnlock();
            }
        }
        assertEquals(3, nx.mmu.nx.possible());
        assertEquals(3, nx.mmu.stats.get(Stat.NX_LPAGE_SPLITS));
        int zapped = nx.mmu.nx.recover(gfn -> gfn == 0x400);
        nx.assertQuiescent();
        assertEquals(2, zapped);
        assertEquals(0, nx.mmu.nx.possible(), "the dirty-logged one is only taken off the list");
        assertEquals(0, nx.mmu.stats.get(Stat.NX_LPAGE_SPLITS));
        assertFalse(nx.mapped(r, 0x200));
        assertTrue(nx.mapped(r, 0x400));
        assertFalse(nx.mapped(r, 0x600));
        assertEquals(List.of(new MmuHarness.Flush(0, nx.mmu.maxGfn())), nx.flushes);
        nx.assertOnlyRootsLive(4);
        assertEquals(0, nx.mmu.nx.recover(gfn -> false));
        assertEquals(1, nx.flushes.size(), "nothing zapped: no flush");
        assertEquals(0, mmu.nx.recover(gfn -> false), "ratio 0: recovery is off");

        // the middle of three listed tables replaced by a huge leaf leaves the list; recovery zaps the other two
        MmuHarness nx2 = new MmuHarness(VmCapabilities.ordinary("nx", 48).withNxHugePages(true, 1));
        int r2 = nx2.root(false);
        for (long gfn : new long[] { 0x200, 0x400, 0x600 }) {
            PageFault f = nx2.fault(gfn, L4K, false);
            f.exec = true;
            f.hugePageDisallowed = true;
            f.reqLevel = L2M;
            nx2.mmu.lock.readLock();
            try {
                nx2.mmu.map.map(f, r2);
            } finally {
                nx2.mmu.lock.readUnlock();
            }
        }
        assertEquals(1, nx2.mmu.hugePages.recover(0x400, 0x600, gfn -> L2M), "the middle table becomes a 2M leaf");
        assertEquals(2, nx2.mmu.nx.possible());
        assertEquals(2, nx2.mmu.nx.recover(gfn -> false));
        assertEquals(0, nx2.mmu.nx.possible());
        assertFalse(nx2.mapped(r2, 0x200));
        assertFalse(nx2.mapped(r2, 0x600));
        assertTrue(nx2.mapped(r2, 0x400));
        assertEquals(L2M, nx2.last(r2, 0x400)[0]);

        // a split table that goes away with its root leaves the list too (tdp_mmu_unlink_sp)
        PageFault f = nx.fault(0xa00, L4K, false);
        f.exec = true;
        f.hugePageDisallowed = true;
        f.reqLevel = L2M;
        nx.mmu.lock.writeLock();
        try {
            nx.mmu.map.map(f, r);
            assertEquals(1, nx.mmu.nx.possible());
            nx.mmu.zap.zapRoot(r, false);
        } finally {
            nx.mmu.lock.writeUnlock();
        }
        assertEquals(0, nx.mmu.nx.possible());
        assertEquals(0, nx.mmu.stats.get(Stat.NX_LPAGE_SPLITS));
    }
}
