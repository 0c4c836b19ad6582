package org.tdplab.mmu.tdp.spte;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.spte.Spte.*;
import static org.tdplab.mmu.tdp.spte.SpteText.describe;
import static org.tdplab.mmu.tdp.spte.SpteText.hex;

import org.junit.jupiter.api.Test;

class SpteTest {

    private static long leaf(long pfn, int level) {
        return makeLeaf(pfn, level, true, true, true, true, false);
    }

    // ---- levels -------------------------------------------------------------------------------------------

    @Test
    void levelArithmetic() {
        assertEquals(1, pagesPerHpage(1));
        assertEquals(512, pagesPerHpage(2));
        assertEquals(512L * 512, pagesPerHpage(3));
        assertEquals(1L << 27, pagesPerHpage(4));
        assertEquals(1L << 36, pagesPerHpage(5));
        assertEquals(12, levelShift(1));
        assertEquals(21, levelShift(2));
        assertEquals(30, levelShift(3));
        assertEquals(39, levelShift(4));
        assertEquals(48, levelShift(5));
        assertEquals(0x123 & 511, indexAt(0x123, 1));
        assertEquals(511, indexAt(0x1ff, 1));
        assertEquals(0, indexAt(0x200, 1));
        assertEquals(1, indexAt(0x200, 2));
        assertEquals(3, indexAt(3L << 18, 3));
        assertEquals(256, indexAt(1L << 35, 4)); // shared bit of a 4-level table
        assertEquals(8, indexAt(1L << 39, 5)); // shared bit of a 5-level table
        assertEquals(0x40000, gfnRoundForLevel(0x7ffff, 3));
        assertEquals(0x200, gfnRoundForLevel(0x3ff, 2));
        assertEquals(0x3ff, gfnRoundForLevel(0x3ff, 1));
        assertEquals("4K", levelName(1));
        assertEquals("2M", levelName(2));
        assertEquals("1G", levelName(3));
        assertEquals("512G", levelName(4));
        assertEquals("256T", levelName(5));
        assertEquals(512, ENT_PER_PAGE);
        assertEquals(1, PG_LEVEL_4K);
        assertEquals(2, PG_LEVEL_2M);
        assertEquals(3, PG_LEVEL_1G);
    }

    @Test
    void bitPositionsMatchTheEptLayout() {
        assertEquals(0x1L, R);
        assertEquals(0x2L, W);
        assertEquals(0x4L, X);
        assertEquals(0x30L, MEMTYPE_WB);
        assertEquals(0x80L, LARGE);
        assertEquals(0x100L, ACCESSED);
        assertEquals(0x200L, DIRTY);
        assertEquals(0x800L, MMU_PRESENT);
        assertEquals(0x000ffffffffff000L, PFN_MASK);
        assertEquals(1L << 52, AD_DISABLED);
        assertEquals(1L << 57, HOST_WRITABLE);
        assertEquals(1L << 58, MMU_WRITABLE);
        assertEquals(0x8000000000000000L, SHADOW_NONPRESENT_VALUE);
        assertEquals(0x80000000000005a0L, FROZEN_SPTE);
        assertEquals(0x8000000000000007L, MMIO_MASK);
        assertEquals(0x6L, DEFAULT_MMIO_VALUE);
    }

    // ---- leaves -------------------------------------------------------------------------------------------

    @Test
    void writableHugeLeafHasExactBits() {
        long s = makeLeaf(0x1a200, PG_LEVEL_2M, true, true, true, true, false);
        assertEquals(0x860000001a200bb7L, s);
        assertEquals("leaf 2M pfn=0x1a200 R W X A D hw mw", describe(s, PG_LEVEL_2M));
        assertTrue(isShadowPresent(s));
        assertTrue(isLast(s, PG_LEVEL_2M));
        assertTrue(isLargePte(s));
        assertEquals(0x1a200, pfn(s));
        assertTrue(isWritable(s));
        assertTrue(isHostWritable(s));
        assertTrue(isMmuWritable(s));
        assertTrue(isAccessed(s));
        assertTrue(isDirty(s));
        assertFalse(adDisabled(s));
        assertFalse(isAccessTracked(s));
        assertFalse(isFrozen(s));
        assertFalse(isMmio(s, DEFAULT_MMIO_VALUE));
        assertFalse(isMmio(s, 0));
        assertTrue(writableTripleValid(s));
    }

    @Test
    void smallLeafHasNoLargeBitAndIsLastOnlyAt4K() {
        long s = makeLeaf(0x1234, PG_LEVEL_4K, true, true, false, true, false);
        assertFalse(isLargePte(s));
        assertTrue(isLast(s, PG_LEVEL_4K));
        assertFalse(isLast(s, PG_LEVEL_2M));
        assertEquals(0, s & X);
        assertEquals(0x1234, pfn(s));
        assertEquals("leaf 4K pfn=0x1234 R W A D hw mw", describe(s, PG_LEVEL_4K));
    }

    @Test
    void writabilityOfNewLeaves() {
        long rw = makeLeaf(7, 1, true, true, true, true, false);
        assertEquals(HOST_WRITABLE | MMU_WRITABLE | W | DIRTY, rw & (HOST_WRITABLE | MMU_WRITABLE | W | DIRTY));

        long wp = makeLeaf(7, 1, false, true, true, true, false);
        assertTrue(isHostWritable(wp));
        assertTrue(isMmuWritable(wp));
        assertFalse(isWritable(wp));
        assertFalse(isDirty(wp));
        assertTrue(writableTripleValid(wp));

        long ro = makeLeaf(7, 1, true, false, true, true, false);
        assertFalse(isHostWritable(ro));
        assertFalse(isMmuWritable(ro));
        assertFalse(isWritable(ro));
        assertFalse(isDirty(ro));
        assertTrue(writableTripleValid(ro));

        long tracked = clearMmuWritable(wp);
        assertTrue(isHostWritable(tracked));
        assertFalse(isMmuWritable(tracked));
        assertTrue(writableTripleValid(tracked));
    }

    @Test
    void onlyTheFourKernelWritableTriplesAreLegal() {
        int legal = 0;
        for (int hw = 0; hw < 2; hw++) {
            for (int mw = 0; mw < 2; mw++) {
                for (int w = 0; w < 2; w++) {
                    long s = makeLeaf(1, 1, false, false, false, true, false)
                            | (hw == 1 ? HOST_WRITABLE : 0) | (mw == 1 ? MMU_WRITABLE : 0) | (w == 1 ? W : 0);
                    boolean expected = (hw == 1 && mw == 1) || (hw == 1 && mw == 0 && w == 0)
                            || (hw == 0 && mw == 0 && w == 0);
                    assertEquals(expected, writableTripleValid(s), "triple " + hw + mw + w);
                    if (expected) {
                        legal++;
                    }
                }
            }
        }
        assertEquals(4, legal);
    }

    @Test
    void prefetchLeavesAreNotAccessed() {
        long s = makeLeaf(5, 1, true, true, true, false, false);
        assertFalse(isAccessed(s));
        assertEquals(0, s & ACCESSED);
        assertTrue(isWritable(s));

        long t = makeLeaf(5, 1, true, true, true, false, true);
        assertTrue(isAccessTracked(t));
        assertFalse(isAccessed(t));
        assertEquals(0, t & RWX_MASK);
        assertTrue(isShadowPresent(t));
    }

    @Test
    void adDisabledLeaf() {
        long s = makeLeaf(0x99, 1, true, true, true, true, true);
        assertTrue(adDisabled(s));
        assertEquals(AD_DISABLED, s & AD_MASK);
        assertEquals(0, s & (ACCESSED | DIRTY));
        assertTrue(isAccessed(s)); // not in access-tracked form
        assertTrue(isDirty(s)); // W stands in for D
        assertFalse(isDirty(clearWritable(s)));
        assertEquals("leaf 4K pfn=0x99 R W X ad-off hw mw", describe(s, 1));
    }

    @Test
    void accessTrackSavesAndRestoresRAndX() {
        long s = makeLeaf(0x99, 1, true, true, true, true, true);
        long t = markForAccessTrack(s);
        assertTrue(isAccessTracked(t));
        assertFalse(isAccessed(t));
        assertEquals(0, t & RWX_MASK);
        assertEquals((R | X) << 54, t & ACC_TRACK_SAVED_BITS);
        assertEquals(1L << 54 | 1L << 56, t & ACC_TRACK_SAVED_BITS);
        assertTrue(isShadowPresent(t));
        assertEquals(0x99, pfn(t));
        assertTrue(isMmuWritable(t)); // fast page fault can bring W back
        assertTrue(writableTripleValid(t));
        assertEquals(t, markForAccessTrack(t), "idempotent");
        assertFalse(leafChangeNeedsTlbFlush(s, t));

        long r = restoreAccessTrack(t);
        assertEquals(s & ~W, r, "R/X restored, saved bits gone, W stays off");
        assertFalse(isAccessTracked(r));
        assertTrue(isAccessed(r));
        assertEquals(s, makeWritable(r));

        long noExec = makeLeaf(0x99, 1, false, false, false, true, true);
        long tn = markForAccessTrack(noExec);
        assertEquals(1L << 54, tn & ACC_TRACK_SAVED_BITS);
        assertEquals(noExec, restoreAccessTrack(tn));
    }

    @Test
    void markForAccessTrackWithAdEnabledOnlyClearsA() {
        long s = leaf(3, 1);
        long t = markForAccessTrack(s);
        assertEquals(s & ~ACCESSED, t);
        assertFalse(isAccessTracked(t));
        assertFalse(isAccessed(t));
        assertEquals(t, clearAccessed(s));
        assertEquals(s, setAccessed(t));
    }

    // ---- non-present kinds --------------------------------------------------------------------------------

    @Test
    void frozenMmioAndNonpresentAreDistinct() {
        for (long mmioValue : new long[] {DEFAULT_MMIO_VALUE, 0}) {
            long mmio = makeMmio(0x1234, 3, mmioValue);
            assertTrue(isMmio(mmio, mmioValue));
            assertFalse(isShadowPresent(mmio));
            assertFalse(isFrozen(mmio));

            assertFalse(isMmio(SHADOW_NONPRESENT_VALUE, mmioValue));
            assertFalse(isShadowPresent(SHADOW_NONPRESENT_VALUE));
            assertFalse(isFrozen(SHADOW_NONPRESENT_VALUE));

            assertFalse(isMmio(FROZEN_SPTE, mmioValue));
            assertFalse(isShadowPresent(FROZEN_SPTE));
            assertTrue(isFrozen(FROZEN_SPTE));

            long tracked = markForAccessTrack(makeLeaf(1, 1, true, true, true, true, true));
            assertFalse(isMmio(tracked, mmioValue), "access-tracked leaf keeps suppress-#VE");
            assertFalse(isMmio(makeNonLeaf(5, false), mmioValue));
        }
        long defaultMmio = makeMmio(0x1234, 3, DEFAULT_MMIO_VALUE);
        assertFalse(isMmio(defaultMmio, 0));
        assertEquals(0, FROZEN_SPTE & (RWX_MASK | MMU_PRESENT | PFN_MASK));
        assertEquals("FROZEN", describe(FROZEN_SPTE, 1));
        assertEquals("nonpresent", describe(SHADOW_NONPRESENT_VALUE, 4));
        assertEquals("mmio gfn=0x1234 gen=3", describe(defaultMmio, 1));
        assertEquals("mmio gfn=0x1234 gen=3", describe(makeMmio(0x1234, 3, 0), 1));
        assertEquals("mmio gfn=0x1234 gen=3", describe(makeMmio(0x1234, 3, 0), 1, 0));
    }

    @Test
    void mmioGenerationUsesBothBitRanges() {
        assertEquals(1L << 3, makeMmio(0, 1, 0));
        assertEquals(0xffL << 3, makeMmio(0, 0xff, 0));
        assertEquals(1L << 52, makeMmio(0, 1 << 8, 0));
        assertEquals(1L << 62, makeMmio(0, 1 << 18, 0));
        assertEquals(0x7ffL << 52 | 0xffL << 3, makeMmio(0, 0x7ffff, 0));
        assertEquals(makeMmio(0, 0x7ffff, 0), makeMmio(0, 0xfffff, 0), "generation is 19 bits");

        long gfn = 0xf_ffff_ffffL; // 36 bits
        for (long gen : new long[] {0, 1, 3, 0xff, 0x100, 0x1ff, 0x12345, 0x7ffff}) {
            long s = makeMmio(gfn, gen, DEFAULT_MMIO_VALUE);
            assertEquals(gen, mmioGeneration(s));
            assertEquals(gfn, mmioGfn(s));
            assertEquals(0, s & MMU_PRESENT);
            assertEquals(0, s & SHADOW_NONPRESENT_VALUE);
            assertTrue(isMmio(s, DEFAULT_MMIO_VALUE));
        }
        long s = makeMmio(0x42, 0x55555, 0);
        assertEquals(0x55555, mmioGeneration(s));
        assertEquals(0x42, mmioGfn(s));
        assertEquals(0, s & RWX_MASK);
    }

    // ---- non-leaf, split and collapse ---------------------------------------------------------------------

    @Test
    void nonLeaf() {
        long s = makeNonLeaf(0x40, false);
        assertEquals(0x8000000000040907L, s);
        assertTrue(isShadowPresent(s));
        for (int level = 2; level <= 5; level++) {
            assertFalse(isLast(s, level));
        }
        assertEquals(0x40, pfn(s));
        assertTrue(isAccessed(s));
        assertEquals("table pfn=0x40", describe(s, 3));
        long d = makeNonLeaf(0x40, true);
        assertEquals(AD_DISABLED, d & AD_MASK);
        assertEquals(0, d & ACCESSED);
        assertFalse(needsAtomicUpdate(s, 3));
    }

    @Test
    void splitAndCollapseAreInverse() {
        long huge1g = makeLeaf(0x40000, PG_LEVEL_1G, true, true, true, true, false);
        for (int i = 0; i < 512; i++) {
            long child = makeSmallFromHuge(huge1g, PG_LEVEL_1G, i);
            assertEquals(0x40000 + i * 512L, pfn(child));
            assertTrue(isLargePte(child));
            assertEquals(huge1g & ~PFN_MASK, child & ~PFN_MASK);
            assertEquals(huge1g, makeHugeFromSmall(child, PG_LEVEL_1G));
        }
        long huge2m = makeLeaf(0x1a200, PG_LEVEL_2M, false, true, false, true, false);
        for (int i = 0; i < 512; i++) {
            long child = makeSmallFromHuge(huge2m, PG_LEVEL_2M, i);
            assertEquals(0x1a200 + i, pfn(child));
            assertFalse(isLargePte(child));
            assertTrue(isLast(child, PG_LEVEL_4K));
            assertEquals(huge2m & ~(PFN_MASK | LARGE), child & ~PFN_MASK);
            assertEquals(huge2m, makeHugeFromSmall(child, PG_LEVEL_2M));
        }
        long small = makeLeaf(0x1a2ff, 1, true, true, true, true, false);
        long huge = makeHugeFromSmall(small, PG_LEVEL_2M);
        assertEquals(0x1a200, pfn(huge));
        assertTrue(isLargePte(huge));
        assertEquals(small, makeSmallFromHuge(huge, PG_LEVEL_2M, 0xff));
    }

    // ---- update rules -------------------------------------------------------------------------------------

    @Test
    void atomicUpdateRequirement() {
        long rw = leaf(1, 1);
        assertFalse(needsAtomicUpdate(rw, 1), "W and D already set: nothing can change outside the lock");
        assertTrue(needsAtomicUpdate(clearDirty(rw), 1), "CPU may set D");
        assertTrue(needsAtomicUpdate(clearWritable(rw), 1), "fast page fault may set W");
        assertFalse(needsAtomicUpdate(clearMmuWritable(rw), 1));
        assertFalse(needsAtomicUpdate(makeLeaf(1, 1, false, false, true, true, false), 1));
        assertTrue(needsAtomicUpdate(makeLeaf(1, 1, false, false, true, true, true), 1), "access tracking");
        assertFalse(needsAtomicUpdate(SHADOW_NONPRESENT_VALUE, 1));
        assertFalse(needsAtomicUpdate(FROZEN_SPTE, 1));
        assertFalse(needsAtomicUpdate(makeNonLeaf(9, true), 2));
        assertTrue(needsAtomicUpdate(clearDirty(leaf(512, 2)), 2));
    }

    @Test
    void tlbFlushOnlyWhenMmuWritableIsLost() {
        long rw = leaf(1, 1);
        assertFalse(leafChangeNeedsTlbFlush(rw, clearWritable(rw)));
        assertTrue(leafChangeNeedsTlbFlush(rw, clearMmuWritable(rw)));
        assertTrue(leafChangeNeedsTlbFlush(clearWritable(rw), clearMmuWritable(rw)));
        assertFalse(leafChangeNeedsTlbFlush(rw, clearAccessed(rw)));
        assertFalse(leafChangeNeedsTlbFlush(rw, clearDirty(rw)));
        assertFalse(leafChangeNeedsTlbFlush(clearMmuWritable(rw), rw));
    }

    @Test
    void fastPageFaultMakesWritableOnlyWhenMmuWritable() {
        long rw = leaf(1, 1);
        long wp = clearDirty(clearWritable(rw));
        assertEquals(rw, makeWritable(wp));
        long tracked = clearMmuWritable(rw);
        assertEquals(tracked, makeWritable(tracked));
        long ro = makeLeaf(1, 1, true, false, true, true, false);
        assertEquals(ro, makeWritable(ro));
        long adOff = makeLeaf(1, 1, false, true, true, true, true);
        assertEquals(adOff | W, makeWritable(adOff), "no D bit when A/D is disabled");
    }

    @Test
    void hexIsSixteenDigits() {
        assertEquals("8000000000000000", hex(SHADOW_NONPRESENT_VALUE));
        assertEquals("0000000000000006", hex(6));
        assertEquals("80000000000005a0", hex(FROZEN_SPTE));
    }

    @org.junit.jupiter.api.Test
    void executableAndNonExecutableKeepTheAccessTrackedFormApart() {
        long leaf = Spte.makeLeaf(0x1234, Spte.PG_LEVEL_4K, true, true, false, true, true);
        org.junit.jupiter.api.Assertions.assertEquals(Spte.X, Spte.makeExecutable(leaf) & Spte.X);
        long tracked = Spte.markForAccessTrack(leaf);
        long exec = Spte.makeExecutable(tracked);
        org.junit.jupiter.api.Assertions.assertTrue(Spte.isAccessTracked(exec), "still access-tracked");
        org.junit.jupiter.api.Assertions.assertEquals(Spte.X, Spte.restoreAccessTrack(exec) & Spte.X);
        org.junit.jupiter.api.Assertions.assertEquals(0, Spte.restoreAccessTrack(Spte.makeNonExecutable(exec)) & Spte.X);
        long huge = Spte.makeHugeFromSmall(Spte.makeExecutable(leaf) | (5L << Spte.PAGE_SHIFT), Spte.PG_LEVEL_2M);
        org.junit.jupiter.api.Assertions.assertEquals(0, Spte.makeNonExecutable(huge) & Spte.X);
        org.junit.jupiter.api.Assertions.assertEquals(0, Spte.pfn(huge) & 511, "aligned to 2M");
    }
}
