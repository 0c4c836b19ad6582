package org.tdplab.mmu.tdp.pt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.tdp.spte.Spte;

class TdpIterTest {
    private final TablePool pool = new TablePool(TableFrames.sequential(0x8000));

    /** Links a new child table under entry {@code index} of {@code parent} (no gfn bits in play). */
    private int link(int parent, int index) {
        int level = pool.level(parent) - 1;
        return link(parent, index, pool.gfn(parent) + index * Spte.pagesPerHpage(level + 1));
    }

    /** Links a new child table with natural GFN {@code gfn} under entry {@code index} of {@code parent}. */
    private int link(int parent, int index, long gfn) {
        int child = pool.alloc(pool.level(parent) - 1, gfn, 0);
        long p = TablePool.sptep(parent, index);
        pool.setPtep(child, p);
        pool.set(p, Spte.makeNonLeaf(pool.pfnOf(child), false));
        return child;
    }

    private void leaf(int table, int index, long pfn) {
        int level = pool.level(table);
        pool.set(TablePool.sptep(table, index), Spte.makeLeaf(pfn, level, true, true, true, true, false));
    }

    private static String v(long gfn, int level) {
        return "0x" + Long.toHexString(gfn) + "@" + level;
    }

    private List<String> walk(TdpIter it, int root, int rootLevel, int minLevel, long start, long end,
            long bits) {
        List<String> seen = new ArrayList<>();
        for (it.start(root, rootLevel, minLevel, start, end, bits); it.valid; it.next()) {
            seen.add(v(it.gfn, it.level));
            assertEquals(it.oldSpte, pool.get(it.sptep), "snapshot matches entry");
        }
        return seen;
    }

    /**
     * {@link #walk} as the range operations step: at each entry, a run of up to {@link TdpIter#sideStepsLeft} more
     * entries read by sptep arithmetic (a random part of it, or all), then one {@link TdpIter#sideStep} there.
     */
    private List<String> walkByRuns(TdpIter it, int root, int rootLevel, int minLevel, long start, long end,
            long bits, Random rnd) {
        List<String> seen = new ArrayList<>();
        for (it.start(root, rootLevel, minLevel, start, end, bits); it.valid; it.next()) {
            int run = it.sideStepsLeft(), k = rnd.nextBoolean() ? run : rnd.nextInt(run + 1);
            for (int i = 0; i <= k; i++)
                seen.add(v(it.gfn + i, it.level));
            assertEquals(it.oldSpte, pool.get(it.sptep), "snapshot matches entry");
            it.sideStep(k, pool.get(it.sptep + k));
            assertEquals(pool.get(it.sptep), it.oldSpte, "the run's last entry is where the walk now is");
        }
        return seen;
    }

    /**
     * Root (L4) → T3 at 0; T3: [0] → T2a, [1] 1G leaf, [2] → T2b (empty); T2a: [0] → T1a (full), [1] → T1b,
     * [511] → T1c.
     */
    private int[] tree4() {
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        int t3 = link(root, 0);
        int t2a = link(t3, 0);
        pool.set(TablePool.sptep(t3, 1), Spte.makeLeaf(0x40000, 3, true, true, true, true, false));
        int t2b = link(t3, 2);
        int t1a = link(t2a, 0);
        for (int i = 0; i < 512; i++) {
            leaf(t1a, i, 0x100000 + i);
        }
        int t1b = link(t2a, 1);
        leaf(t1b, 0, 0x200000);
        int t1c = link(t2a, 511);
        return new int[] {root, t3, t2a, t2b, t1a, t1b, t1c};
    }

    @Test
    void rangeStartingAndEndingMidTable() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        assertEquals(List.of(v(0, 4), v(0, 3), v(0, 2), v(0x1fe, 1), v(0x1ff, 1), v(0x200, 2), v(0x200, 1),
                v(0x201, 1), v(0x202, 1)), walk(it, root, 4, 1, 0x1fe, 0x203, 0));
        assertFalse(it.valid);
    }

    /**
     * An empty range ends where the kernel's loop condition ({@code iter.gfn < end}, checked after every step,
     * down included) ends it: the entries above whose rounded GFN is below the end are visited, the 4K leaf at the
     * start is not.
     */
    @Test
    void anEmptyRangeStopsAtTheFirstEntryPastItsEnd() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        assertEquals(List.of(v(0, 4), v(0, 3), v(0, 2)), walk(it, root, 4, 1, 0x10, 0xf, 0));
        assertFalse(it.valid);
    }

    @Test
    void hugeLeavesAndEmptyEntriesAreVisitedButNotDescended() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        assertEquals(List.of(v(0, 4), v(0, 3), v(0x3fe00, 2), v(0x3fffe, 1), v(0x3ffff, 1), v(0x40000, 3),
                v(0x80000, 3), v(0x80000, 2)), walk(it, root, 4, 1, 0x3fffe, 0x80001, 0));
    }

    @Test
    void minLevelCutsOffTheWalk() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        List<String> seen = walk(it, root, 4, 2, 0, 0x80400, 0);
        List<String> expected = new ArrayList<>(List.of(v(0, 4), v(0, 3)));
        for (int i = 0; i < 512; i++) {
            expected.add(v(i * 512L, 2));
        }
        expected.addAll(List.of(v(0x40000, 3), v(0x80000, 3), v(0x80000, 2), v(0x80200, 2)));
        assertEquals(expected, seen);

        assertEquals(List.of(v(0, 4), v(0, 3), v(0x40000, 3), v(0x80000, 3)),
                walk(it, root, 4, 3, 0x100, 0x80001, 0));
        assertEquals(List.of(v(0, 4)), walk(it, root, 4, 4, 0x100, 0x80001, 0));
    }

    @Test
    void wholeRootEndsAtTheLastRootEntry() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        List<String> seen = walk(it, root, 4, 4, 0, Long.MAX_VALUE, 0);
        assertEquals(512, seen.size());
        assertEquals(v(511L << 27, 4), seen.get(511));
    }

    @Test
    void fullLeafTableIsVisitedInOrder() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        List<String> seen = walk(it, root, 4, 1, 0, 0x200, 0);
        assertEquals(3 + 512, seen.size());
        for (int i = 0; i < 512; i++) {
            assertEquals(v(i, 1), seen.get(3 + i));
        }
        it.start(root, 4, 1, 0x10, 0x11, 0);
        it.next();
        it.next();
        it.next();
        assertEquals(1, it.level);
        assertEquals(0x10, it.gfn);
        assertEquals(0x100010, Spte.pfn(it.oldSpte));
        assertTrue(Spte.isLast(it.oldSpte, it.level));
    }

    @Test
    void fourLevelRootWithSharedBitWalksTheAlias() {
        long bits = 1L << 35;
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        int t3 = link(root, 256, 0);
        int t2 = link(t3, 3);
        int t1 = link(t2, 5);
        assertEquals(0xc0a00, pool.gfn(t1));
        TdpIter it = new TdpIter(pool);
        it.start(root, 4, 1, 0xc0bfe, 0xc0c02, bits);
        assertEquals(256, TablePool.indexOf(it.sptep));
        assertEquals(0, it.gfn, "gfn excludes the shared bit");
        assertEquals(List.of(v(0, 4), v(0xc0000, 3), v(0xc0a00, 2), v(0xc0bfe, 1), v(0xc0bff, 1), v(0xc0c00, 2)),
                walk(it, root, 4, 1, 0xc0bfe, 0xc0c02, bits));

        // Without the bits the same GFNs land on the (empty) natural half.
        assertEquals(List.of(v(0, 4)), walk(it, root, 4, 1, 0xc0bfe, 0xc0c02, 0));

        // The aliased half ends at the last root entry: 256 entries below the shared bit.
        List<String> all = walk(it, root, 4, 4, 0, Long.MAX_VALUE, bits);
        assertEquals(256, all.size());
        assertEquals(v(255L << 27, 4), all.get(255));

        it.start(root, 4, 1, bits, bits + 1, bits);
        assertFalse(it.valid, "start GFN may not contain the gfn bits");
    }

    @Test
    void fiveLevelRootWithAndWithoutSharedBit() {
        long bits = 1L << 39;
        int root = pool.alloc(5, 0, TablePool.ROLE_ROOT);
        int t4 = link(root, 8, 0);
        int t3 = link(t4, 0);
        int t2 = link(t3, 0);
        int t1 = link(t2, 0);
        leaf(t1, 1, 0x77);
        TdpIter it = new TdpIter(pool);
        assertEquals(List.of(v(0, 5), v(0, 4), v(0, 3), v(0, 2), v(0, 1), v(1, 1)), walk(it, root, 5, 1, 0, 2, bits));
        it.start(root, 5, 1, 0, 2, bits);
        assertEquals(8, TablePool.indexOf(it.sptep));
        assertEquals(List.of(v(0, 5)), walk(it, root, 5, 1, 0, 2, 0));

        // A mirror-style walk of a plain 5-level tree: gfn bits 0.
        int mroot = pool.alloc(5, 0, TablePool.ROLE_ROOT | TablePool.ROLE_MIRROR);
        int m4 = link(mroot, 1);
        int m3 = link(m4, 2);
        assertEquals((1L << 36) + (2L << 27), pool.gfn(m3));
        long g = pool.gfn(m3) + 5 * (1L << 18);
        assertEquals(List.of(v(1L << 36, 5), v(pool.gfn(m3), 4), v(g, 3), v(g + (1L << 18), 3)),
                walk(it, mroot, 5, 1, g, g + (1L << 18) + 1, 0));
    }

    @Test
    void restartAfterYieldResumesAtTheYieldedEntry() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        List<String> seen = new ArrayList<>();
        Set<Long> handled = new HashSet<>();
        boolean yieldedOnce = false;
        it.start(root, 4, 1, 0x100, 0x202, 0);
        assertFalse(it.canYield(), "no progress yet");
        for (; it.valid; it.next()) {
            seen.add(v(it.gfn, it.level));
            if (!yieldedOnce && it.level == 1 && it.gfn == 0x105) {
                assertTrue(it.canYield());
                it.markYielded();
                yieldedOnce = true;
                continue; // the entry is not handled: we "dropped the lock" instead
            }
            if (it.level == 1) {
                assertTrue(handled.add(it.gfn), "leaf handled twice: " + Long.toHexString(it.gfn));
                if (it.gfn == 0x105) {
                    assertFalse(it.canYield(), "restart counts as the last yield point");
                }
            }
        }
        List<String> expected = new ArrayList<>(List.of(v(0, 4), v(0, 3), v(0, 2)));
        for (long g = 0x100; g <= 0x105; g++) {
            expected.add(v(g, 1));
        }
        expected.addAll(List.of(v(0, 4), v(0, 3), v(0, 2)));
        for (long g = 0x105; g <= 0x1ff; g++) {
            expected.add(v(g, 1));
        }
        expected.addAll(List.of(v(0x200, 2), v(0x200, 1), v(0x201, 1)));
        assertEquals(expected, seen);
        assertEquals(0x200 - 0x100 + 2, handled.size());
    }

    /**
     * A run of side steps moves where a yield resumes: after {@link TdpIter#sideStep} to 0x105 a restart comes back
     * to 0x105, not to the entry the run began at; and a run stops at the range's end and at its table's last entry.
     */
    @Test
    void aYieldAfterASideStepResumesWhereTheRunEnded() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        it.start(root, 4, 1, 0x100, 0x202, 0);
        while (it.level != 1)
            it.next();
        assertEquals(0x100, it.gfn);
        assertEquals(0x1ff - 0x100, it.sideStepsLeft(), "the rest of the table");
        it.sideStep(5, pool.get(it.sptep + 5));
        assertTrue(it.canYield(), "the run made progress");
        it.markYielded();
        assertEquals(0, it.sideStepsLeft(), "the next step restarts the walk");
        for (it.next(); it.level != 1; it.next())
            assertTrue(it.valid);
        assertEquals(0x105, it.gfn, "resumed at the entry the run reached");
        assertEquals(pool.get(it.sptep), it.oldSpte);
        assertEquals(0x1ff - 0x105, it.sideStepsLeft());
        it.start(root, 4, 1, 0x200, 0x202, 0);
        while (it.level != 1)
            it.next();
        assertEquals(1, it.sideStepsLeft(), "up to the range's end: 0x201");
        it.start(root, 4, 2, 0, 0x400, 0);
        while (it.level != 2)
            it.next();
        assertEquals(0, it.sideStepsLeft(), "runs are of 4K entries only");
    }

    @Test
    void restartSeesChangesMadeWhileYielded() {
        int[] t = tree4();
        int root = t[0];
        int t2a = t[2];
        TdpIter it = new TdpIter(pool);
        List<String> seen = new ArrayList<>();
        for (it.start(root, 4, 1, 0x1fe, 0x402, 0); it.valid; it.next()) {
            seen.add(v(it.gfn, it.level));
            if (it.level == 1 && it.gfn == 0x1ff && !it.yielded && seen.size() < 6) {
                it.markYielded();
                // Meanwhile someone zaps the 4K table at T2a[1] (gfn 0x200..0x3ff) and maps T2a[2] with a 2M leaf.
                pool.set(TablePool.sptep(t2a, 1), Spte.SHADOW_NONPRESENT_VALUE);
                pool.set(TablePool.sptep(t2a, 2), Spte.makeLeaf(0x600, 2, true, true, true, true, false));
            }
        }
        assertEquals(List.of(v(0, 4), v(0, 3), v(0, 2), v(0x1fe, 1), v(0x1ff, 1), v(0, 4), v(0, 3), v(0, 2),
                v(0x1ff, 1), v(0x200, 2), v(0x400, 2)), seen);
    }

    @Test
    void seesTablesLinkedAfterTheWalkStarted() {
        int root = pool.alloc(4, 0, TablePool.ROLE_ROOT);
        TdpIter it = new TdpIter(pool);
        it.start(root, 4, 1, 0, 2, 0);
        assertEquals(Spte.SHADOW_NONPRESENT_VALUE, it.oldSpte);
        int t3 = link(root, 0); // linked after the snapshot: the step-down re-reads
        it.next();
        assertTrue(it.valid);
        assertEquals(3, it.level);
        assertEquals(t3, it.tableAt(3));
        assertTrue(Spte.isShadowPresent(pool.get(TablePool.sptep(root, 0))));
        it.next();
        assertFalse(it.valid, "next L3 entry is past the end");
    }

    @Test
    void doesNotDescendIntoATableUnlinkedAfterTheSnapshot() {
        int[] t = tree4();
        TdpIter it = new TdpIter(pool);
        it.start(t[0], 4, 1, 0, 0x40001, 0);
        it.next();
        assertEquals(3, it.level);
        assertTrue(Spte.isShadowPresent(it.oldSpte));
        pool.set(it.sptep, Spte.SHADOW_NONPRESENT_VALUE);
        it.next();
        assertTrue(it.valid);
        assertEquals(3, it.level, "re-read before stepping down: the unlinked T2a is skipped");
        assertEquals(0x40000, it.gfn);
    }

    @Test
    void walkToStopsAtLeafHoleOrMinLevel() {
        int[] t = tree4();
        int root = t[0];
        TdpIter it = new TdpIter(pool);
        assertTrue(it.walkTo(root, 4, 0x1ff, 0, 1));
        assertEquals(1, it.level);
        assertEquals(0x1ff, it.gfn);
        assertEquals(TablePool.sptep(t[4], 0x1ff), it.sptep);
        assertEquals(0x1001ff, Spte.pfn(it.oldSpte));
        assertEquals(TablePool.sptep(t[2], 0), it.sptepAt(2));
        assertEquals(TablePool.sptep(t[1], 0), it.sptepAt(3));
        assertEquals(TablePool.sptep(root, 0), it.sptepAt(4));

        assertTrue(it.walkTo(root, 4, 0x40123, 0, 1));
        assertEquals(3, it.level);
        assertEquals(0x40000, it.gfn);
        assertTrue(Spte.isLast(it.oldSpte, 3));

        assertTrue(it.walkTo(root, 4, 0x80123, 0, 1));
        assertEquals(2, it.level);
        assertEquals(0x80000, it.gfn);
        assertEquals(Spte.SHADOW_NONPRESENT_VALUE, it.oldSpte);

        assertTrue(it.walkTo(root, 4, 0x1ff, 0, 2));
        assertEquals(2, it.level);
        assertEquals(0, it.gfn);
        assertEquals(t[4], it.childTable(it.oldSpte, 2));
    }

    /** Reference pre-order: entries whose range meets [start, end), descending present non-leaves. */
    private void reference(int table, int level, int minLevel, long start, long end, long bits, List<String> out) {
        long size = Spte.pagesPerHpage(level);
        long base = pool.gfn(table);
        for (int i = 0; i < 512; i++) {
            long g = base + i * size;
            int idx = Spte.indexAt(g | bits, level);
            if (g + size <= start || g >= end) {
                continue;
            }
            out.add(v(g, level));
            long s = pool.get(TablePool.sptep(table, idx));
            if (level > minLevel && Spte.isShadowPresent(s) && !Spte.isLast(s, level)) {
                reference(pool.idOfPfn(Spte.pfn(s)), level - 1, minLevel, start, end, bits, out);
            }
        }
    }

    @Test
    void randomTreesMatchAReferenceWalk() {
        Random rnd = new Random(42);
        TdpIter it = new TdpIter(pool);
        for (int round = 0; round < 40; round++) {
            int rootLevel = 4 + rnd.nextInt(2);
            long bits = rnd.nextBoolean() ? 0 : 1L << (rootLevel == 4 ? 35 : 39);
            int root = pool.alloc(rootLevel, 0, TablePool.ROLE_ROOT);
            // Populate around a few centres so ranges span tables at every level.
            for (int c = 0; c < 3; c++) {
                long centre = rnd.nextInt(1 << 20);
                for (int k = 0; k < 60; k++) {
                    long gfn = centre + rnd.nextInt(1 << 11) - (1 << 10);
                    if (gfn < 0) {
                        continue;
                    }
                    int table = root;
                    int level = rootLevel;
                    int stopAt = 1 + rnd.nextInt(3);
                    while (level > stopAt) {
                        long p = TablePool.sptep(table, Spte.indexAt(gfn | bits, level));
                        long s = pool.get(p);
                        if (!Spte.isShadowPresent(s)) {
                            if (level <= 3 && rnd.nextInt(4) == 0) {
                                long pfn = Spte.gfnRoundForLevel(gfn, level) + 0x10000000L;
                                pool.set(p, Spte.makeLeaf(pfn, level, true, true, true, true, false));
                                break;
                            }
                            int child = pool.alloc(level - 1, Spte.gfnRoundForLevel(gfn, level), 0);
                            pool.set(p, Spte.makeNonLeaf(pool.pfnOf(child), false));
                            s = pool.get(p);
                        }
                        if (Spte.isLast(s, level)) {
                            break;
                        }
                        table = pool.idOfPfn(Spte.pfn(s));
                        level--;
                    }
                    if (level == stopAt && level >= 1) {
                        pool.set(TablePool.sptep(table, Spte.indexAt(gfn | bits, level)),
                                Spte.makeLeaf(gfn, level, false, true, false, true, false));
                    }
                }
                for (int q = 0; q < 5; q++) {
                    long start = Math.max(0, centre + rnd.nextInt(1 << 12) - (1 << 11));
                    long end = start + 1 + rnd.nextInt(1 << 12);
                    int minLevel = 1 + rnd.nextInt(3);
                    List<String> expected = new ArrayList<>();
                    reference(root, rootLevel, minLevel, start, end, bits, expected);
                    assertEquals(expected, walk(it, root, rootLevel, minLevel, start, end, bits),
                            "root L" + rootLevel + " bits " + bits + " [" + start + "," + end + ") min " + minLevel);
                    assertEquals(expected, walkByRuns(it, root, rootLevel, minLevel, start, end, bits, rnd),
                            "by runs: root L" + rootLevel + " bits " + bits + " [" + start + "," + end + ") min "
                                    + minLevel);
                }
            }
        }
    }

    @Test
    void startRefusesWhatMakesNoSense() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        it.start(0, 4, 1, 0, 1, 0);
        assertFalse(it.valid, "root id 0 is no table");
        it.start(root, 4, 1, 1L << 27, 0x10, 0);
        assertFalse(it.valid, "a range that ends before the root entry of its start");
        assertFalse(it.walkTo(0, 4, 0, 0, 1), "no walk from root id 0");
        int five = pool.alloc(Spte.PT64_ROOT_MAX_LEVEL, 0, TablePool.ROLE_ROOT);
        it.start(five, Spte.PT64_ROOT_MAX_LEVEL, 1, 0, 1, 0);
        assertTrue(it.valid, "the deepest root level there is");
        it.start(five, Spte.PT64_ROOT_MAX_LEVEL + 1, 1, 0, 1, 0);
        assertFalse(it.valid);
        int one = pool.alloc(Spte.PG_LEVEL_4K, 0, TablePool.ROLE_ROOT);
        it.start(one, Spte.PG_LEVEL_4K, Spte.PG_LEVEL_4K, 0, 1, 0);
        assertTrue(it.valid, "a one-level root");
    }

    @Test
    void aYieldOnTheLastEntryEndsTheWalkOnRestart() {
        int root = tree4()[0];
        TdpIter it = new TdpIter(pool);
        it.start(root, 4, 4, 0, 1L << 27, 0); // root entry 0 only
        assertTrue(it.valid);
        it.nextLastLevelGfn = 1L << 27; // handled: the walk heads for the end
        it.markYielded();
        it.next();
        assertFalse(it.valid, "nothing of the range is left after the restart");
    }

    @Test
    void refreshReadsTheEntryAgain() {
        int[] t = tree4();
        TdpIter it = new TdpIter(pool);
        assertTrue(it.walkTo(t[0], 4, 0x7, 0, 1));
        assertEquals(0x100007, Spte.pfn(it.oldSpte));
        long changed = Spte.makeLeaf(0x300000, 1, true, true, true, true, false);
        pool.set(it.sptep, changed);
        assertEquals(changed, it.refresh());
        assertEquals(changed, it.oldSpte);
    }

    /**
     * A walker reuses the table it last found in a frame only while no table was freed: here the frame of a freed
     * table holds another table (another id) when the walk comes back, and the walk must reach that one.
     */
    @Test
    void aChildLookedUpBeforeATableWasFreedIsLookedUpAgain() {
        java.util.ArrayDeque<Long> freed = new java.util.ArrayDeque<>();
        long[] next = { 0x9000 };
        TablePool p = new TablePool(new TableFrames() {
            @Override
            public long allocFrame(int tableId) {
                return freed.isEmpty() ? next[0]++ : freed.pollFirst(); // frames first in, first out; ids LIFO
            }

            @Override
            public void freeFrame(long pfn) {
                freed.addLast(pfn);
            }
        });
        int root = p.alloc(4, 0, TablePool.ROLE_ROOT);
        int t3 = p.alloc(3, 0, 0), t2 = p.alloc(2, 0, 0), a = p.alloc(1, 0, 0), b = p.alloc(1, 512, 0);
        p.set(TablePool.sptep(root, 0), Spte.makeNonLeaf(p.pfnOf(t3), false));
        p.set(TablePool.sptep(t3, 0), Spte.makeNonLeaf(p.pfnOf(t2), false));
        p.set(TablePool.sptep(t2, 0), Spte.makeNonLeaf(p.pfnOf(a), false));
        p.set(TablePool.sptep(t2, 1), Spte.makeNonLeaf(p.pfnOf(b), false));
        p.set(TablePool.sptep(a, 0), Spte.makeLeaf(0x1111, 1, true, true, true, true, false));
        TdpIter it = new TdpIter(p);
        assertTrue(it.walkTo(root, 4, 0, 0, Spte.PG_LEVEL_4K));
        assertEquals(a, it.tableAt(1));
        long frameOfA = p.pfnOf(a);

        p.set(TablePool.sptep(t2, 0), Spte.SHADOW_NONPRESENT_VALUE);
        p.set(TablePool.sptep(t2, 1), Spte.SHADOW_NONPRESENT_VALUE);
        p.free(a);
        p.free(b);
        int c = p.alloc(1, 0, 0); // b's id, a's frame
        assertEquals(frameOfA, p.pfnOf(c));
        assertEquals(b, c);
        p.set(TablePool.sptep(c, 0), Spte.makeLeaf(0x2222, 1, true, true, true, true, false));
        p.set(TablePool.sptep(t2, 0), Spte.makeNonLeaf(p.pfnOf(c), false));

        assertTrue(it.walkTo(root, 4, 0, 0, Spte.PG_LEVEL_4K));
        assertEquals(c, it.tableAt(1));
        assertEquals(0x2222, Spte.pfn(it.oldSpte));
        // and with nothing freed since, the upper levels' answers stand
        assertTrue(it.walkTo(root, 4, 0, 0, Spte.PG_LEVEL_4K));
        assertEquals(t2, it.tableAt(2));
        assertEquals(c, it.tableAt(1));
    }
}
