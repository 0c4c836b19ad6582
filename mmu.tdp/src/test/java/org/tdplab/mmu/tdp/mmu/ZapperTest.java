package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * Zaps as a kernel developer checks them: which roots lose which leaves, that the MMU lock and the RCU read section
 * are dropped, that the remote TLB flush is issued exactly when a reachable translation went away, and that
 * page-table pages go back to the pool.
 */
class ZapperTest {
    private static final int L4K = Spte.PG_LEVEL_4K, L2M = Spte.PG_LEVEL_2M;

    private final MmuHarness h = MmuHarness.ordinary();
    private final TdpMmu mmu = h.mmu;

    @Test
    void aLeafZapClearsOnlyTheRangeAsksForAFlushAndKeepsTheTables() {
        int root = h.root(false);
        for (long gfn = 0; gfn < 4; gfn++)
            assertEquals(PageFault.RET_PF_FIXED, h.map(root, gfn, L4K, true));
        int tables = h.pool.liveTables();
        assertEquals(4, mmu.stats.get(Stat.PAGES_4K));
        mmu.lock.writeLock();
        try {
            assertTrue(mmu.zap.zapLeafs(Roots.VALID_ROOTS, 1, 3), "present leaves were zapped: flush");
            assertFalse(mmu.zap.zapLeafs(Roots.VALID_ROOTS, 1, 3), "nothing left to zap: no flush");
            assertFalse(mmu.zap.zapLeafs(Roots.MIRROR_ROOTS, 0, 4), "no mirror root: nothing zapped");
        } finally {
            mmu.lock.writeUnlock();
        }
        assertTrue(h.mapped(root, 0));
        assertFalse(h.mapped(root, 1));
        assertFalse(h.mapped(root, 2));
        assertTrue(h.mapped(root, 3));
        assertEquals(2, mmu.stats.get(Stat.PAGES_4K));
        assertEquals(tables, h.pool.liveTables(), "a leaf zap leaves the tables");
        assertNull(mmu.zap.survivor(Roots.VALID_ROOTS, 1, 3));
        assertEquals("inv 16: DIRECT leaf for gfn 0x0 level 1 survived the zap of [0x0, 0x4)",
                mmu.zap.survivor(Roots.VALID_ROOTS, 0, 4));
        assertTrue(h.flushes.isEmpty(), "zapLeafs leaves the flush to its caller");
        h.assertQuiescent();
    }

    @Test
    void zapGfnRangeFlushesTheRangeOnceUnderTheWriteLockAndClosesItsWindow() {
        int root = h.root(false);
        h.map(root, 0x200, L2M, true);
        long seq = mmu.invalidation.seq();
        mmu.zap.zapGfnRange(0x200, 0x400);
        assertFalse(h.mapped(root, 0x200));
        assertTrue(h.changes.get(h.changes.size() - 1).windowOpen(), "the zap ran inside the invalidation window");
        assertEquals(List.of(new MmuHarness.Flush(0x200, 0x200)), h.flushes);
        assertEquals(seq + 1, mmu.invalidation.seq(), "the window was opened and closed");
        assertFalse(mmu.invalidation.inProgress(0x200));
        assertEquals(1, mmu.stats.get(Stat.REMOTE_TLB_FLUSH));
        h.assertQuiescent();

        mmu.zap.zapGfnRange(0x200, 0x400);
        assertEquals(1, h.flushes.size(), "nothing was mapped: no flush");
        h.assertQuiescent();
    }

    @Test
    void invalidateBeginOpensTheWindowUnmapsAndFlushesAndEndClosesIt() {
        int root = h.root(false);
        h.map(root, 0x10, L4K, true);
        h.map(root, 0x30, L4K, true);
        long seq = mmu.invalidation.seq();
        mmu.zap.invalidateBegin(0x0, 0x40, 0x10, 0x20, false, true);
        h.assertQuiescent();
        assertTrue(h.changes.get(h.changes.size() - 1).windowOpen(), "the unmap ran inside the window");
        assertTrue(mmu.invalidation.inProgress(0x0), "the window covers the whole notifier range");
        assertTrue(mmu.invalidation.inProgress(0x3f));
        assertFalse(mmu.invalidation.inProgress(0x40));
        assertTrue(mmu.invalidation.retry(seq, 0x30));
        assertFalse(h.mapped(root, 0x10));
        assertTrue(h.mapped(root, 0x30), "only [start, end) is unmapped");
        assertEquals(List.of(new MmuHarness.Flush(0x10, 0x10)), h.flushes);

        mmu.zap.invalidateEnd();
        h.assertQuiescent();
        assertFalse(mmu.invalidation.inProgress(0x10));
        assertEquals(seq + 1, mmu.invalidation.seq());

        mmu.zap.unmapAndFlushLocked(0x50, 0x60, false, true);
        assertEquals(1, h.flushes.size(), "nothing mapped there: no flush");
        mmu.zap.unmapAndFlushLocked(0x30, 0x31, false, true);
        h.assertQuiescent();
        assertFalse(h.mapped(root, 0x30));
        assertEquals(new MmuHarness.Flush(0x30, 1), h.flushes.get(1));
    }

    @Test
    void aLongZapYieldsToAWaiterAfterFlushingWhatItZapped() throws InterruptedException {
        int root = h.root(false);
        for (long gfn = 0; gfn < 8; gfn++)
            h.map(root, gfn, L4K, true);
        Thread[] waiter = new Thread[1];
        int[] seenByWaiter = { -1 };
        h.onChange = () -> {
            if (waiter[0] != null)
                return;
            // another thread wants the MMU lock while the zap holds it for write (rwlock_needbreak)
            waiter[0] = new Thread(() -> {
                mmu.lock.readLock();
                try {
                    seenByWaiter[0] = (int) mmu.stats.get(Stat.PAGES_4K);
                } finally {
                    mmu.lock.readUnlock();
                }
            });
            waiter[0].start();
            while (!mmu.lock.contended())
                Thread.onSpinWait();
        };
        boolean flush;
        mmu.lock.writeLock();
        try {
            flush = mmu.zap.zapLeafs(Roots.VALID_ROOTS, 0, 8);
        } finally {
            mmu.lock.writeUnlock();
        }
        waiter[0].join();
        h.assertQuiescent();
        assertTrue(flush, "leaves zapped after the yield still need a flush");
        assertEquals(0, mmu.stats.get(Stat.PAGES_4K), "the walk resumed and zapped every leaf");
        // tdp_mmu_iter_cond_resched at every step: the zap yields at the step after the change that made the
        // waiter come, not at the end of the leaves' table
        assertEquals(7, seenByWaiter[0], "the waiter ran once the first leaf was zapped");
        assertTrue(h.flushes.contains(new MmuHarness.Flush(0, mmu.maxGfn())),
                "before dropping the lock the zap flushes what it zapped: " + h.flushes);
        for (long gfn = 0; gfn < 8; gfn++)
            assertFalse(h.mapped(root, gfn));
    }

    @Test
    void withoutMirroredTablesAnUnmapTakesTheDirectRoots() {
        assertEquals(Roots.INVALID_ROOTS | Roots.DIRECT_ROOTS, mmu.zap.unmapTypes(true, false));
        assertEquals(Roots.INVALID_ROOTS | Roots.DIRECT_ROOTS, mmu.zap.unmapTypes(false, false));
        MmuHarness mirrored = new MmuHarness(
                org.tdplab.mmu.api.backend.VmCapabilities.ordinary("m", 48).withMirroredPt(47));
        assertEquals(Roots.INVALID_ROOTS | Roots.MIRROR_ROOTS, mirrored.mmu.zap.unmapTypes(true, false));
        assertEquals(Roots.INVALID_ROOTS | Roots.DIRECT_ROOTS, mirrored.mmu.zap.unmapTypes(false, true));
        assertEquals(Roots.ALL_ROOTS, mirrored.mmu.zap.unmapTypes(true, true));
        assertEquals(Roots.INVALID_ROOTS, mirrored.mmu.zap.unmapTypes(false, false));
    }

    @Test
    void aFastZapInvalidatesTheDirectRootAsksForAReloadAndReleasesTheWriteLock() {
        int root = h.root(false);
        for (long gfn = 0; gfn < 3; gfn++)
            h.map(root, gfn * 0x200, L4K, true);
        mmu.zap.zapAllFast();
        h.assertQuiescent();
        assertEquals(1, h.reloads, "vCPUs are asked to reload their roots");
        assertTrue(h.flushes.isEmpty(), "no flush: a new root is flushed when it is loaded");
        assertTrue(h.pool.isInvalid(root));
        assertEquals(0, mmu.stats.get(Stat.PAGES_4K), "the invalidated root was zapped");
        assertFalse(h.mapped(root, 0));
        assertArrayEquals(new int[] { root }, mmu.roots.of(Roots.INVALID_ROOTS),
                "the vCPU's reference keeps the root listed");
        assertTrue(mmu.opViolations().isEmpty(), mmu.opViolations()::toString);

        // the vCPU drops its reference: the root and every table under it go back to the pool
        mmu.lock.readLock();
        try {
            mmu.roots.put(root);
        } finally {
            mmu.lock.readUnlock();
        }
        assertArrayEquals(new int[0], mmu.roots.all());
        assertEquals(1, mmu.stats.get(Stat.ROOTS_FREED));
        h.assertOnlyRootsLive(0);
        assertEquals(0, mmu.stats.get(Stat.TDP_MMU_PAGES));

    }

    @Test
    void aVcpuReloadingAfterAFastZapDropsTheObsoleteRootAndLoadsANewOne() {
        VcpuRoots v = new VcpuRoots();
        assertTrue(mmu.roots.load(v));
        int old = v.direct;
        h.map(old, 0x10, L4K, true);
        mmu.zap.zapAllFast();
        assertEquals(1, mmu.stats.get(Stat.ROOTS_ALLOCATED));
        assertTrue(mmu.roots.load(v), "a new root: the vCPU must flush its TLB");
        h.assertQuiescent();
        assertFalse(h.pool.isInvalid(v.direct), "the vCPU holds a valid root (its id may be the freed one's)");
        assertEquals(2, mmu.stats.get(Stat.ROOTS_ALLOCATED));
        assertEquals(1, mmu.stats.get(Stat.ROOTS_FREED), "the obsolete root lost its last reference");
        assertArrayEquals(new int[] { v.direct }, mmu.roots.all());
        h.assertOnlyRootsLive(1);
    }

    @Test
    void aVcpuReleasingItsRootsDropsBothReferences() {
        MmuHarness m = new MmuHarness(org.tdplab.mmu.api.backend.VmCapabilities.ordinary("m", 48).withMirroredPt(47));
        VcpuRoots v = new VcpuRoots();
        assertTrue(m.mmu.roots.load(v));
        int direct = v.direct, mirror = v.mirror;
        assertTrue(mirror != 0 && direct != 0);
        assertEquals(2, m.pool.rootCount(mirror));
        assertEquals(mirror, m.mmu.roots.forFault(v, true));
        assertEquals(direct, m.mmu.roots.forFault(v, false));
        m.mmu.lock.readLock();
        try {
            m.mmu.roots.release(v);
        } finally {
            m.mmu.lock.readUnlock();
        }
        assertEquals(1, m.pool.rootCount(mirror), "the MMU's reference stays");
        assertEquals(1, m.pool.rootCount(direct));
        assertEquals(0, v.direct);
        assertEquals(0, v.mirror);
        m.assertQuiescent();
    }

    @Test
    void aFastZapLeavesMirrorRootsAlone() {
        MmuHarness m = new MmuHarness(org.tdplab.mmu.api.backend.VmCapabilities.ordinary("m", 48).withMirroredPt(47));
        m.mmu.lock.readLock();
        int mirror, direct;
        try {
            mirror = m.mmu.roots.get(true);
            direct = m.mmu.roots.get(false);
        } finally {
            m.mmu.lock.readUnlock();
        }
        m.map(direct, 0x10, L4K, true);
        m.mmu.zap.zapAllFast();
        m.assertQuiescent();
        assertFalse(m.pool.isInvalid(mirror));
        assertTrue(m.pool.isInvalid(direct));
        assertArrayEquals(new int[] { mirror }, m.mmu.roots.of(Roots.VALID_ROOTS));
    }

    @Test
    void theLastReferenceToAnInvalidRootZapsItAndFreesItsTables() {
        int root = h.root(false);
        h.map(root, 0, L4K, true);
        h.map(root, 1L << 18, L2M, true); // another 1G region: its own 2M table
        assertEquals(5, h.pool.liveTables());
        assertEquals(4, mmu.stats.get(Stat.TDP_MMU_PAGES));
        mmu.lock.writeLock();
        try {
            mmu.roots.invalidate(Roots.DIRECT_ROOTS);
            mmu.roots.put(root); // the MMU's reference
            assertEquals(1, mmu.stats.get(Stat.PAGES_4K), "a vCPU still holds the root: nothing zapped yet");
            mmu.roots.put(root); // the vCPU's: the last
        } finally {
            mmu.lock.writeUnlock();
        }
        h.assertQuiescent();
        assertEquals(0, mmu.stats.get(Stat.PAGES_4K));
        assertEquals(0, mmu.stats.get(Stat.PAGES_2M));
        assertEquals(0, mmu.stats.get(Stat.TDP_MMU_PAGES), "every table under the root was torn down");
        assertEquals(1, mmu.stats.get(Stat.ROOTS_FREED));
        h.assertOnlyRootsLive(0);
        long zapped = h.changes.stream().filter(c -> Spte.isShadowPresent(c.oldSpte())
                && !Spte.isShadowPresent(c.newSpte()) && Spte.isLast(c.oldSpte(), c.level())).count();
        assertEquals(2, zapped, "each leaf was seen going away");
        assertEquals(0, h.changes.stream().filter(c -> c.newSpte() == Spte.FROZEN_SPTE).count(),
                "under the write lock a removed table's empty entries are skipped, not frozen");
    }

    @Test
    void violationsAreKeptUpToAHundred() {
        mmu.postcondition(null);
        assertTrue(mmu.opViolations().isEmpty(), "null means the post-condition held");
        for (int i = 0; i < 150; i++)
            mmu.postcondition("inv " + i);
        assertEquals(100, mmu.opViolations().size());
        assertEquals("inv 99", mmu.opViolations().get(99));
    }

    @Test
    void aValidRootLosingItsLastReferenceIsABug() {
        int root = h.root(false);
        mmu.lock.writeLock();
        try {
            mmu.roots.put(root);
            mmu.roots.put(root);
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(List.of("root " + root + " lost its last reference while still valid"), h.bugs);
    }

    @Test
    void teardownZapsAllRootsMirrorIncluded() {
        MmuHarness m = new MmuHarness(org.tdplab.mmu.api.backend.VmCapabilities.ordinary("m", 48).withMirroredPt(47));
        int direct;
        m.mmu.lock.readLock();
        try {
            direct = m.mmu.roots.get(false);
        } finally {
            m.mmu.lock.readUnlock();
        }
        m.map(direct, 0x40, L4K, true);
        m.mmu.lock.writeLock();
        try {
            m.mmu.zap.teardown();
        } finally {
            m.mmu.lock.writeUnlock();
        }
        m.assertQuiescent();
        assertTrue(m.pool.isInvalid(direct));
        assertFalse(m.mapped(direct, 0x40));
        assertEquals(1, m.pool.rootCount(direct), "the MMU's reference was dropped, the vCPU's stays");
    }

    @Test
    void aWholeRootZapUnderTheReadLockTearsDownLevelByLevel() {
        int root = h.root(false);
        h.map(root, 0, L4K, true);
        h.map(root, 0x200, L2M, true);
        h.changes.clear();
        mmu.lock.readLock();
        try {
            mmu.zap.zapRoot(root, true);
        } finally {
            mmu.lock.readUnlock();
        }
        h.assertQuiescent();
        assertEquals(0, mmu.stats.get(Stat.PAGES_4K));
        assertEquals(0, mmu.stats.get(Stat.PAGES_2M));
        assertEquals(0, mmu.stats.get(Stat.TDP_MMU_PAGES));
        h.assertOnlyRootsLive(1);
        // level by level: the 4K leaf goes first, before anything at 2M (the table above it or the 2M leaf)
        MmuHarness.Change first = h.changes.get(0);
        assertEquals(L4K, first.level());
        assertTrue(Spte.isShadowPresent(first.oldSpte()) && Spte.isLast(first.oldSpte(), L4K));
        long removed2m = h.changes.stream().filter(c -> c.level() == L2M && Spte.isShadowPresent(c.oldSpte())).count();
        assertEquals(2, removed2m, "the 2M leaf and the table that held the 4K leaf");
        // under the read lock every entry of a removed table is frozen, so no racing CAS can land in it
        assertEquals(512, h.changes.stream().filter(c -> c.level() == L4K && c.newSpte() == Spte.FROZEN_SPTE).count());
    }

}
