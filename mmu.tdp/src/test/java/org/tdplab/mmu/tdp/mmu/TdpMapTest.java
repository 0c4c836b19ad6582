package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * {@code kvm_tdp_mmu_map}: what a fault installs, when it flushes, and that every table it allocated is either
 * linked or given back; the RCU read section is always closed on the way out.
 */
class TdpMapTest {
    private static final int L4K = Spte.PG_LEVEL_4K, L2M = Spte.PG_LEVEL_2M, L1G = Spte.PG_LEVEL_1G;

    private final MmuHarness h = MmuHarness.ordinary();
    private final TdpMmu mmu = h.mmu;
    private final int root = h.root(false);

    @Test
    void aFirstFaultLinksTablesDownToTheLeafWithoutAFlush() {
        assertEquals(PageFault.RET_PF_FIXED, h.map(root, 0x1234, L4K, true));
        h.assertQuiescent();
        assertEquals(4, h.pool.liveTables(), "root, 1G, 2M and 4K tables");
        assertEquals(3, mmu.stats.get(Stat.TDP_MMU_PAGES));
        assertEquals(1, mmu.stats.get(Stat.PAGES_4K));
        assertTrue(h.flushes.isEmpty(), "nothing was mapped before: nothing to flush");
        long[] last = h.last(root, 0x1234);
        assertEquals(L4K, last[0]);
        assertEquals(0x100000 + 0x1234, Spte.pfn(last[1]));
        assertTrue(Spte.isWritable(last[1]));

        assertEquals(PageFault.RET_PF_SPURIOUS, h.map(root, 0x1234, L4K, false), "already mapped");
        assertEquals(PageFault.RET_PF_SPURIOUS, h.map(root, 0x1234, L4K, true));
        assertEquals(PageFault.RET_PF_FIXED, h.map(root, 0x1235, L4K, false));
        assertEquals(4, h.pool.liveTables(), "the neighbour reuses the tables");
        h.assertQuiescent();
    }

    @Test
    void aHugeLeafReplacingATableFlushesTheRangeAndFreesTheTable() {
        h.map(root, 0x201, L4K, true);
        h.map(root, 0x3ff, L4K, true);
        assertEquals(4, h.pool.liveTables());
        assertEquals(PageFault.RET_PF_FIXED, h.map(root, 0x300, L2M, true));
        h.assertQuiescent();
        assertEquals(List.of(new MmuHarness.Flush(0x200, 0x200)), h.flushes,
                "vCPUs may still cache translations through the replaced table");
        assertEquals(1, mmu.stats.get(Stat.REMOTE_TLB_FLUSH));
        assertEquals(0, mmu.stats.get(Stat.PAGES_4K));
        assertEquals(1, mmu.stats.get(Stat.PAGES_2M));
        assertEquals(2, mmu.stats.get(Stat.TDP_MMU_PAGES));
        h.assertOnlyRootsLive(3);
        // the detached table's entries were frozen one by one, each at its own GFN
        assertTrue(h.changes.stream().anyMatch(c -> c.gfn() == 0x201 && c.level() == L4K
                && Spte.isShadowPresent(c.oldSpte()) && c.newSpte() == Spte.FROZEN_SPTE));
        assertTrue(h.changes.stream().anyMatch(c -> c.gfn() == 0x3ff && c.level() == L4K
                && Spte.isShadowPresent(c.oldSpte()) && c.newSpte() == Spte.FROZEN_SPTE));
        assertEquals(512, h.changes.stream().filter(c -> c.newSpte() == Spte.FROZEN_SPTE).count());
        long[] last = h.last(root, 0x3ff);
        assertEquals(L2M, last[0]);
        assertEquals(0x100200, Spte.pfn(last[1]));
    }

    @Test
    void aGigabyteLeafReplacingATableFreezesEach2MLeafAtItsOwnGfn() {
        long g = 1L << 18;
        h.map(root, g + 0x200, L2M, true);
        h.map(root, g + 0x400, L2M, true);
        h.changes.clear();
        assertEquals(PageFault.RET_PF_FIXED, h.map(root, g, L1G, true));
        assertTrue(h.changes.stream().anyMatch(c -> c.gfn() == g + 0x200 && c.level() == L2M
                && Spte.isShadowPresent(c.oldSpte()) && c.newSpte() == Spte.FROZEN_SPTE), h.changes::toString);
        assertTrue(h.changes.stream().anyMatch(c -> c.gfn() == g + 0x400 && c.level() == L2M
                && Spte.isShadowPresent(c.oldSpte()) && c.newSpte() == Spte.FROZEN_SPTE));
        assertEquals(List.of(new MmuHarness.Flush(g, g)), h.flushes);
        assertEquals(0, mmu.stats.get(Stat.PAGES_2M));
        assertEquals(1, mmu.stats.get(Stat.PAGES_1G));
        h.assertOnlyRootsLive(2);
    }

    @Test
    void aFaultBelowAHugeLeafSplitsItWithoutAFlush() {
        h.map(root, 0x400, L2M, false);
        assertEquals(3, h.pool.liveTables());
        assertEquals(PageFault.RET_PF_SPURIOUS, h.map(root, 0x401, L4K, false),
                "the split's piece already maps the GFN");
        h.assertQuiescent();
        assertEquals(4, h.pool.liveTables());
        assertEquals(1, mmu.stats.get(Stat.LPAGE_SPLITS));
        assertEquals(512, mmu.stats.get(Stat.PAGES_4K));
        assertEquals(0, mmu.stats.get(Stat.PAGES_2M));
        assertTrue(h.flushes.isEmpty(), "a split keeps every translation");
        long[] last = h.last(root, 0x401);
        assertEquals(L4K, last[0]);
        assertEquals(0x100401, Spte.pfn(last[1]), "the piece maps its own 4K of the huge page");
    }

    @Test
    void aTableThatCouldNotBeLinkedGoesBackToThePool() {
        h.bugs.add("bugged for the test"); // nothing present is installed once the VM is bugged
        assertEquals(PageFault.RET_PF_RETRY, h.map(root, 0x10, L4K, true));
        assertEquals(1, h.pool.liveTables(), "the child table allocated for the link leaked");
        assertEquals(0, mmu.stats.get(Stat.TDP_MMU_PAGES));
        assertFalse(mmu.rcu.inReadSection());
        assertFalse(mmu.lock.isReadLockedByMe());
    }

    @Test
    void aPrefetchNeverUpgradesALeafButAWriteFaultDoes() {
        PageFault ro = h.fault(0x40, L4K, false);
        ro.mapWritable = false;
        mmu.lock.readLock();
        try {
            assertEquals(PageFault.RET_PF_FIXED, mmu.map.map(ro, root));
            PageFault pre = h.fault(0x40, L4K, true);
            pre.prefetch = true;
            assertEquals(PageFault.RET_PF_SPURIOUS, mmu.map.map(pre, root), "a prefetch keeps what is mapped");
            assertFalse(Spte.isWritable(h.last(root, 0x40)[1]));
            assertEquals(PageFault.RET_PF_FIXED, mmu.map.map(h.fault(0x40, L4K, true), root));
        } finally {
            mmu.lock.readUnlock();
        }
        assertTrue(Spte.isWritable(h.last(root, 0x40)[1]), "the write fault made the leaf writable");
        assertTrue(h.flushes.isEmpty(), "gaining W needs no flush");
        assertEquals(1, mmu.stats.get(Stat.PAGES_4K));
        h.assertQuiescent();
    }

    @Test
    void aLeafInstalledAfterTheVmWasBuggedIsRecordedAsAViolation() {
        h.map(root, 0x50, L4K, true);
        mmu.lock.writeLock();
        try {
            mmu.zap.zapLeafs(Roots.VALID_ROOTS, 0x50, 0x51);
            assertTrue(mmu.opViolations().isEmpty());
            h.bugs.add("bugged");
            TdpIter it = new TdpIter(h.pool);
            for (mmu.walk(it, root, L4K, 0x50, 0x51); it.valid && it.level > L4K; it.next())
                ;
            assertEquals(L4K, it.level);
            mmu.setSpte(it, Spte.makeLeaf(0x100050, L4K, true, true, true, true, false));
        } finally {
            mmu.lock.writeUnlock();
        }
        assertEquals(1, mmu.opViolations().size(), mmu.opViolations()::toString);
        assertEquals("inv 24: a leaf for gfn 0x50 was installed after the VM was bugged", mmu.opViolations().get(0));
    }

    @Test
    void aSplitThatCouldNotBeLinkedGivesItsTableBack() {
        h.map(root, 0x800, L2M, true);
        assertEquals(3, h.pool.liveTables());
        h.bugs.add("bugged for the test");
        assertEquals(PageFault.RET_PF_RETRY, h.map(root, 0x801, L4K, true));
        assertEquals(3, h.pool.liveTables(), "the table made for the split leaked");
        assertEquals(0, mmu.stats.get(Stat.LPAGE_SPLITS), "nothing was split");
        assertEquals(1, mmu.stats.get(Stat.PAGES_2M));
        assertEquals(L2M, h.last(root, 0x801)[0]);
        assertFalse(mmu.rcu.inReadSection());
    }

    @Test
    void aFrozenEntryOnTheWayMakesTheFaultRetry() {
        long sptep = TablePool.sptep(root, 0);
        h.pool.set(sptep, Spte.FROZEN_SPTE);
        assertEquals(PageFault.RET_PF_RETRY, h.map(root, 0x10, L4K, true));
        h.assertQuiescent();
        assertEquals(1, h.pool.liveTables());
        h.pool.set(sptep, Spte.SHADOW_NONPRESENT_VALUE);
        assertEquals(PageFault.RET_PF_FIXED, h.map(root, 0x10, L4K, true));
    }

    @Test
    void aFaultWithoutASlotInstallsAnMmioSpteAndIsEmulated() {
        PageFault f = h.fault(0x77, L4K, false);
        f.hasSlot = false;
        f.mmioGeneration = 6;
        mmu.lock.readLock();
        try {
            assertEquals(PageFault.RET_PF_EMULATE, mmu.map.map(f, root));
        } finally {
            mmu.lock.readUnlock();
        }
        h.assertQuiescent();
        assertEquals(1, mmu.stats.get(Stat.PF_MMIO_SPTE_CREATED));
        long spte = h.last(root, 0x77)[1];
        assertTrue(Spte.isMmio(spte, mmu.caps.mmioValue()));
        assertEquals(6, Spte.mmioGeneration(spte));
        assertEquals(0, mmu.stats.get(Stat.PAGES_4K), "an MMIO SPTE is no leaf page");
    }

    @Test
    void aGigabyteLeafIsMappedAtTheSecondLevel() {
        assertEquals(PageFault.RET_PF_FIXED, h.map(root, (1L << 18) + 5, L1G, true));
        assertEquals(2, h.pool.liveTables());
        assertEquals(1, mmu.stats.get(Stat.PAGES_1G));
        assertEquals(L1G, h.last(root, (1L << 18) + 0x3ffff)[0]);
        h.assertQuiescent();
    }

    @Test
    void accessAllowedChecksExecWriteAndRead() {
        PageFault f = h.fault(0, L4K, false);
        long rw = Spte.makeLeaf(0x10, L4K, true, true, true, true, false);
        long ro = Spte.makeLeaf(0x10, L4K, false, true, true, true, false);
        long noExec = Spte.makeLeaf(0x10, L4K, true, true, false, true, false);
        assertTrue(TdpMap.accessAllowed(f, rw));
        assertTrue(TdpMap.accessAllowed(f, ro));
        f.write = true;
        assertTrue(TdpMap.accessAllowed(f, rw));
        assertFalse(TdpMap.accessAllowed(f, ro), "a write needs W");
        f.write = false;
        f.exec = true;
        assertTrue(TdpMap.accessAllowed(f, rw));
        assertFalse(TdpMap.accessAllowed(f, noExec), "an exec fault needs X");
        f.exec = false;
        assertFalse(TdpMap.accessAllowed(f, rw & ~Spte.R), "no R: not even a read");
    }

    @Test
    void withTheNxMitigationAnExecFaultMaps4KAndMarksTheTable() {
        MmuHarness nx = new MmuHarness(VmCapabilities.ordinary("nx", 48).withNxHugePages(true, 60));
        int r = nx.root(false);
        PageFault f = nx.fault(0x600, L4K, false);
        f.exec = true;
        f.hugePageDisallowed = true;
        f.reqLevel = L2M;
        nx.mmu.lock.readLock();
        try {
            assertEquals(PageFault.RET_PF_FIXED, nx.mmu.map.map(f, r));
        } finally {
            nx.mmu.lock.readUnlock();
        }
        nx.assertQuiescent();
        assertEquals(1, nx.mmu.nx.possible(), "the 4K table stands where a huge page could be");
        // a read fault that wants the 2M page steps down: it does not rebuild what the exec fault split
        assertEquals(PageFault.RET_PF_FIXED, nx.map(r, 0x601, L2M, false));
        assertEquals(L4K, nx.last(r, 0x601)[0]);
        assertEquals(0x100601, Spte.pfn(nx.last(r, 0x601)[1]), "the pfn keeps the GFN's bits below 2M");
        assertEquals(0, nx.mmu.stats.get(Stat.PAGES_2M));
        assertTrue(nx.flushes.isEmpty());
        nx.assertQuiescent();
    }

    @Test
    void theIteratorIsLeftAtTheTarget() {
        PageFault f = h.fault(0x2345, L4K, true);
        mmu.lock.readLock();
        try {
            mmu.map.map(f, root);
        } finally {
            mmu.lock.readUnlock();
        }
        TdpIter it = f.iter;
        assertEquals(L4K, it.level);
        assertEquals(0x2345, it.gfn);
    }
}
