package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SparseStructuresTest {
    @Test
    void absentReadsZeroAndCostsNothing() {
        SparseLongArray a = new SparseLongArray(1L << 40);
        assertEquals(0, a.get(123_456_789_012L));
        a.set(5, 0);
        assertEquals(0, a.leaves(), "writing 0 to an absent entry must not allocate");
        a.set((1L << 40) - 1, 42);
        assertEquals(42, a.get((1L << 40) - 1));
        assertEquals(1, a.leaves());
        assertThrows(IndexOutOfBoundsException.class, () -> a.get(1L << 40));
        assertThrows(IndexOutOfBoundsException.class, () -> a.get(-1));
    }

    @Test
    void releaseDropsWholeLeavesOnlyAndClearKeepsThem() {
        SparseLongArray a = new SparseLongArray(4096);
        for (int i = 0; i < 1024; i++)
            a.set(i, i + 1);
        assertEquals(2, a.leaves());
        a.releaseRange(100, 600); // leaf 0 partly, leaf 1 partly
        assertEquals(2, a.leaves());
        assertEquals(100, a.get(99));
        assertEquals(0, a.get(100));
        assertEquals(0, a.get(599));
        assertEquals(601, a.get(600));
        a.releaseRange(0, 512);
        assertEquals(1, a.leaves());
        a.clearRange(512, 1024);
        assertEquals(1, a.leaves(), "clearRange never unlinks");
        assertEquals(0, a.get(700));
    }

    @Test
    void nextNonZeroSkipsAbsentParts() {
        SparseLongArray a = new SparseLongArray(1L << 30);
        assertEquals(1L << 30, a.nextNonZero(0, 1L << 30));
        a.set(700_000_000L, 1);
        a.set(5, 1);
        assertEquals(5, a.nextNonZero(0, 1L << 30));
        assertEquals(700_000_000L, a.nextNonZero(6, 1L << 30));
        assertEquals(600_000_000L, a.nextNonZero(6, 600_000_000L));
    }

    @Test
    void bitmapRanges() {
        SparseBitmap b = new SparseBitmap(1000);
        b.setRange(3, 130, true);
        assertFalse(b.get(2));
        assertTrue(b.get(3));
        assertTrue(b.get(129));
        assertFalse(b.get(130));
        assertEquals(127, b.count(0, 1000));
        assertTrue(b.allEqual(3, 130, true));
        assertFalse(b.allEqual(2, 130, true));
        assertTrue(b.allEqual(130, 1000, false));
        assertTrue(b.allEqual(64, 64, true), "empty range");
        b.setRange(64, 128, false);
        assertEquals(63, b.count(0, 1000));
        assertTrue(b.testAndSet(999));
        assertFalse(b.testAndSet(999));
        assertTrue(b.testAndClear(999));
        assertEquals(0b1000L, b.getAndClearWord(0, 0b1100L));
        assertFalse(b.get(3));
        long[] snap = b.snapshot();
        assertEquals(16, snap.length);
        assertArrayEquals(new long[] { 0x3L }, new long[] { snap[2] });
    }

    @Test
    void aLeafGoesOnlyWhenEveryEntryInItIsZero() {
        SparseLongArray a = new SparseLongArray(1L << 20);
        a.set(5, 1);
        a.set(600, 2);
        org.junit.jupiter.api.Assertions.assertFalse(a.releaseLeafIfZero(7), "entry 5 is not zero");
        a.set(5, 0);
        assertEquals(2, a.leaves());
        org.junit.jupiter.api.Assertions.assertTrue(a.releaseLeafIfZero(7));
        assertEquals(1, a.leaves());
        assertEquals(0, a.get(5));
        assertEquals(2, a.get(600));
        org.junit.jupiter.api.Assertions.assertFalse(a.releaseLeafIfZero(7), "no leaf any more");
        org.junit.jupiter.api.Assertions.assertFalse(a.releaseLeafIfZero(1L << 19), "no middle there");
        a.set(6, 3);
        assertEquals(3, a.get(6));
    }
}
