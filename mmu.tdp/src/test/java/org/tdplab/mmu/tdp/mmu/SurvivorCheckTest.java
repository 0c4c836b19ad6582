package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * Invariant 16's check ({@link Zapper#survivor}) is as strict as a step-by-step walk of the range: it finds the same
 * first present leaf, of any level, in any root of the types asked (direct roots at their aliased GFNs, mirror and
 * invalid roots too); and a zap that leaves one leaf behind is reported, whatever the leaf's level and root. The same
 * for the fast zap's count of what a root still maps (invariant 15).
 */
class SurvivorCheckTest {
    private static final int L4K = Spte.PG_LEVEL_4K, L2M = Spte.PG_LEVEL_2M, L1G = Spte.PG_LEVEL_1G;
    private static final long G1 = 1L << 18, M2 = 1L << 9;

    private final MmuHarness h = new MmuHarness(VmCapabilities.ordinary("m", 48).withMirroredPt(47));
    private final TdpMmu mmu = h.mmu;

    /** The check as it was written before: {@link TdpIter} stepped entry by entry over the range. */
    private String stepwise(int types, long start, long end) {
        TdpIter walk = new TdpIter(h.pool);
        mmu.rcu.readLock();
        try {
            for (int root : mmu.roots.of(types))
                for (mmu.walk(walk, root, L4K, start, end); walk.valid; walk.next())
                    if (Spte.isShadowPresent(walk.oldSpte) && Spte.isLast(walk.oldSpte, walk.level))
                        return String.format("inv 16: %s leaf for gfn 0x%x level %d survived the zap of [0x%x, "
                                + "0x%x)", mmu.roots.kindOf(root), walk.gfn, walk.level, start, end);
            return null;
        } finally {
            mmu.rcu.readUnlock();
        }
    }

    /** Random leaves of every level in the first 4 GiB of a root. */
    private void mapRandomly(Random rnd, int root, int leaves) {
        mapRandomly(rnd, root, leaves, L4K, L4K, L4K, L2M, L2M, L1G);
    }

    private void mapRandomly(Random rnd, int root, int leaves, int... levels) {
        for (int i = 0; i < leaves; i++) {
            int level = levels[rnd.nextInt(levels.length)];
            long gfn = rnd.nextLong(4 * G1) & -Spte.pagesPerHpage(level);
            h.map(root, gfn, level, rnd.nextBoolean());
        }
    }

    private long edge(Random rnd) {
        long g = rnd.nextLong(4 * G1 + M2);
        return switch (rnd.nextInt(3)) {
        case 0 -> g & -M2; // 2M-aligned
        case 1 -> g & -G1; // 1G-aligned
        default -> g;
        };
    }

    @Test
    void findsTheSameFirstLeafAsAStepwiseWalkInEveryRootOfTheTypes() {
        Random rnd = new Random(16);
        int direct = h.root(false);
        mapRandomly(rnd, direct, 40);
        mmu.lock.writeLock();
        try {
            mmu.roots.invalidate(Roots.DIRECT_ROOTS); // the old direct root stays mapped, invalid
        } finally {
            mmu.lock.writeUnlock();
        }
        mapRandomly(rnd, h.root(false), 40);
        mapRandomly(rnd, h.root(true), 40);
        int found = 0;
        for (int i = 0; i < 3000; i++) {
            int types = 1 + rnd.nextInt(Roots.ALL_ROOTS);
            long start = edge(rnd), end = rnd.nextInt(4) == 0 ? start + 1 + rnd.nextInt(3) : edge(rnd);
            if (end <= start)
                continue;
            String expected = stepwise(types, start, end);
            assertEquals(expected, mmu.zap.survivor(types, start, end), () -> "types " + types);
            found += expected == null ? 0 : 1;
        }
        assertTrue(found > 1000, "most ranges hold a leaf: " + found);
        assertEquals(null, mmu.zap.survivor(Roots.ALL_ROOTS, 5 * G1, mmu.maxGfn()), "nothing mapped up there");
        h.assertQuiescent();
    }

    private int stepwiseCount(int root) {
        TdpIter walk = new TdpIter(h.pool);
        int n = 0;
        mmu.rcu.readLock();
        try {
            for (mmu.walk(walk, root, L4K, 0, mmu.maxGfn()); walk.valid; walk.next())
                if (Spte.isShadowPresent(walk.oldSpte))
                    n++;
        } finally {
            mmu.rcu.readUnlock();
        }
        return n;
    }

    @Test
    void countsWhatARootMapsAsAStepwiseWalkDoes() {
        Random rnd = new Random(15);
        int direct = h.root(false), mirror = h.root(true);
        for (int i = 0; i < 20; i++) {
            mapRandomly(rnd, direct, 10, L4K, L4K, L4K, L2M, i == 19 ? L1G : L2M);
            mapRandomly(rnd, mirror, 10, L4K); // a huge mirror leaf split by a fault would be a bug
            for (int root : new int[] { direct, mirror })
                assertEquals(stepwiseCount(root), mmu.zap.countPresent(root));
        }
        int n = mmu.zap.countPresent(direct);
        assertTrue(n > 100, "entries counted: " + n);
        h.assertQuiescent();
    }

    @Test
    void aFastZapThatLeavesALeafBehindIsReported() {
        MmuHarness plain = MmuHarness.ordinary(); // fast zaps are for VMs without mirror roots
        int root = plain.root(false);
        plain.map(root, 0x400, L2M, true);
        plain.map(root, 0x7, L4K, true);
        plain.mmu.zap.zapAllFast();
        assertEquals(List.of(), plain.mmu.opViolations());
        int next = plain.root(false);
        plain.map(next, 0x7, L4K, true);
        // the zap goes level by level, so a 4K leaf put back would go with its table: the top entry is put back
        int top = plain.mmu.rootLevel;
        TdpIter it = new TdpIter(plain.pool);
        plain.mmu.rcu.readLock();
        try {
            it.walkTo(next, top, 0x7, 0, top);
        } finally {
            plain.mmu.rcu.readUnlock();
        }
        long sptep = it.sptep, spte = it.oldSpte;
        plain.onChange = () -> {
            MmuHarness.Change c = plain.changes.get(plain.changes.size() - 1);
            if (c.level() == top && !Spte.isShadowPresent(c.newSpte()))
                plain.pool.set(sptep, spte);
        };
        plain.mmu.zap.zapAllFast();
        assertEquals(List.of("inv 15: direct root " + next + " still maps memory after a fast zap"),
                plain.mmu.opViolations());
    }

    /** Maps the leaf, and puts it back each time a zap takes it away: the zap leaves it behind. */
    private void leftBehind(int root, long gfn, int level) {
        h.map(root, gfn, level, true);
        TdpIter it = new TdpIter(h.pool);
        mmu.rcu.readLock();
        try {
            it.walkTo(root, mmu.rootLevel, gfn, mmu.roots.gfnBits(root), L4K);
        } finally {
            mmu.rcu.readUnlock();
        }
        assertEquals(level, it.level);
        long sptep = it.sptep, spte = it.oldSpte;
        h.onChange = () -> {
            MmuHarness.Change c = h.changes.get(h.changes.size() - 1);
            if (c.gfn() == gfn && c.level() == level && !Spte.isShadowPresent(c.newSpte()))
                h.pool.set(sptep, spte);
        };
    }

    private List<String> zapGfnRange(long start, long end) {
        mmu.zap.zapGfnRange(start, end);
        return mmu.opViolations();
    }

    @Test
    void aZapThatLeavesNoLeafBehindRecordsNothing() {
        int direct = h.root(false), mirror = h.root(true);
        h.map(direct, 0x201, L4K, true);
        h.map(direct, 2 * G1 + M2, L2M, true);
        h.map(mirror, G1, L1G, true);
        assertEquals(List.of(), zapGfnRange(0, 4 * G1));
        h.assertQuiescent();
    }

    @Test
    void a4kLeafLeftBehindInADirectRootIsReported() {
        int direct = h.root(false);
        h.map(direct, 0x200, L4K, true);
        leftBehind(direct, 0x2ff, L4K);
        h.map(direct, 0x3ff, L4K, true);
        assertEquals(List.of("inv 16: DIRECT leaf for gfn 0x2ff level 1 survived the zap of [0x0, 0x40000)"),
                zapGfnRange(0, G1));
    }

    @Test
    void a2mLeafLeftBehindIsReportedFromARangeThatOnlyOverlapsIt() {
        int direct = h.root(false);
        leftBehind(direct, 3 * G1 + 5 * M2, L2M);
        assertEquals(List.of("inv 16: DIRECT leaf for gfn 0xc0a00 level 2 survived the zap of [0xc0bff, 0xc0c00)"),
                zapGfnRange(3 * G1 + 5 * M2 + 0x1ff, 3 * G1 + 6 * M2));
    }

    @Test
    void a1gLeafLeftBehindInAMirrorRootIsReported() {
        int direct = h.root(false), mirror = h.root(true);
        h.map(direct, G1, L4K, true);
        leftBehind(mirror, G1, L1G);
        assertEquals(List.of("inv 16: MIRROR leaf for gfn 0x40000 level 3 survived the zap of [0x40000, 0x80000)"),
                zapGfnRange(G1, 2 * G1));
    }

    @Test
    void aLeafLeftBehindInAnInvalidRootIsReportedByAnUnmap() {
        int old = h.root(false);
        leftBehind(old, 0x1234, L4K);
        mmu.lock.writeLock();
        try {
            mmu.roots.invalidate(Roots.DIRECT_ROOTS);
            mmu.zap.unmapGfnRange(0x1000, 0x2000, false, true);
        } finally {
            mmu.lock.writeUnlock();
        }
        String v = mmu.opViolations().get(0);
        assertNotNull(v);
        assertEquals("inv 16: DIRECT leaf for gfn 0x1234 level 1 survived the zap of [0x1000, 0x2000)", v);
    }
}
