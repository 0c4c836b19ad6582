package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * {@code kvm_split_cross_boundary_leafs} on a mirror root: a zap of part of a backend-owned huge leaf first splits
 * the leaf at the range's edges (the backend splits its copy first), so the rest stays mapped; an aligned edge
 * splits nothing; a split the backend refuses changes nothing and gives the table back.
 */
class MirrorSplitTest {
    private static final int L4K = Spte.PG_LEVEL_4K, L2M = Spte.PG_LEVEL_2M;

    private final MmuHarness h = new MmuHarness(VmCapabilities.ordinary("m", 48).withMirroredPt(47));
    private final TdpMmu mmu = h.mmu;
    private final List<SpteChange> splits = new ArrayList<>();
    private HookStatus answer = HookStatus.OK;
    private final int mirror;

    MirrorSplitTest() {
        h.backend = new VmBackend() {
            @Override
            public HookStatus splitExternalSpt(SpteChange change) {
                splits.add(change);
                return answer;
            }
        };
        mmu.lock.readLock();
        try {
            mirror = mmu.roots.get(true);
        } finally {
            mmu.lock.readUnlock();
        }
    }

    private boolean splitEdges(long start, long end) {
        mmu.lock.writeLock();
        try {
            return mmu.hugePages.splitCrossBoundaryLeafs(start, end);
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    @Test
    void aZapOfPartOfAHugeMirrorLeafKeepsTheRestMapped() {
        assertEquals(PageFault.RET_PF_FIXED, h.map(mirror, 0x200, L2M, true));
        int tables = h.pool.liveTables();
        assertTrue(splitEdges(0x200, 0x400), "aligned edges: nothing to split");
        assertTrue(splits.isEmpty());
        assertTrue(splitEdges(0, mmu.maxGfn()), "the edges of the address space split nothing");
        assertTrue(splits.isEmpty());

        mmu.lock.writeLock();
        try {
            assertTrue(mmu.zap.zapLeafsChecked(Roots.MIRROR_ROOTS, 0x280, 0x300));
        } finally {
            mmu.lock.writeUnlock();
        }
        h.assertQuiescent();
        assertEquals(1, splits.size(), "one split: both edges lie in the same 2M leaf");
        assertEquals(0x200, splits.get(0).gfn());
        assertEquals(L2M, splits.get(0).level());
        assertTrue(splits.get(0).isSplit());
        assertEquals(tables + 1, h.pool.liveTables());
        assertTrue(h.mapped(mirror, 0x27f));
        assertFalse(h.mapped(mirror, 0x280));
        assertFalse(h.mapped(mirror, 0x2ff));
        assertTrue(h.mapped(mirror, 0x300));
        assertEquals(L4K, h.last(mirror, 0x300)[0]);
        assertEquals(0x100300, Spte.pfn(h.last(mirror, 0x300)[1]));
        assertEquals(512 - 0x80, mmu.stats.get(Stat.PAGES_4K));
        assertEquals(1, mmu.stats.get(Stat.LPAGE_SPLITS));
        assertTrue(mmu.opViolations().isEmpty(), mmu.opViolations()::toString);
    }

    @Test
    void aSplitTheBackendRefusesChangesNothing() {
        h.map(mirror, 0x200, L2M, true);
        int tables = h.pool.liveTables();
        answer = HookStatus.error(org.tdplab.mmu.api.Errno.EIO, "no");
        assertFalse(splitEdges(0x240, 0x400));
        assertEquals(tables, h.pool.liveTables(), "the table made for the split was given back");
        assertEquals(L2M, h.last(mirror, 0x240)[0], "the huge leaf is still there");
        assertEquals(0, mmu.stats.get(Stat.LPAGE_SPLITS));
        assertEquals(1, h.bugs.size(), "a refused split bugs the VM");
        assertFalse(mmu.rcu.inReadSection());
    }

    @Test
    void eachEdgeSplitsItsOwnLeaf() {
        h.map(mirror, 0x200, L2M, true);
        h.map(mirror, 0x600, L2M, true);
        assertTrue(splitEdges(0x300, 0x700));
        assertEquals(2, splits.size());
        assertEquals(0x200, splits.get(0).gfn(), "the start edge");
        assertEquals(0x600, splits.get(1).gfn(), "the end edge");
        assertEquals(L4K, h.last(mirror, 0x200)[0]);
        assertEquals(L4K, h.last(mirror, 0x7ff)[0]);
        assertEquals(1024, mmu.stats.get(Stat.PAGES_4K));
        h.assertQuiescent();
    }

    @Test
    void anEdgeOnePageIntoALeafSplitsIt() {
        h.map(mirror, 0x200, L2M, true);
        assertTrue(splitEdges(0x201, 0x400));
        assertEquals(1, splits.size(), "the start edge lies one page into the 2M leaf");
        assertEquals(0x200, splits.get(0).gfn());
        assertEquals(L4K, h.last(mirror, 0x200)[0]);
        h.assertQuiescent();
    }

    @Test
    void recoveryMakesNoHugeLeafOverARangeItDoesNotCover() {
        int direct = h.root(false);
        for (long gfn = 0x200; gfn < 0x400; gfn += 0x40)
            h.map(direct, gfn, L4K, true);
        assertEquals(0, mmu.hugePages.recover(0x200, 0x300, gfn -> L2M), "the range ends inside the 2M region");
        assertEquals(L4K, h.last(direct, 0x200)[0]);
        assertEquals(1, mmu.hugePages.recover(0x200, 0x400, gfn -> L2M));
        assertEquals(L2M, h.last(direct, 0x200)[0]);
        h.assertQuiescent();
    }
}
