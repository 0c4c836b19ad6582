package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.tdplab.mmu.tdp.mem.RegionIntArray.FAN;
import static org.tdplab.mmu.tdp.mem.RegionIntArray.REGION;

import org.junit.jupiter.api.Test;

/** {@link RegionLongArrayTest}'s cases on the {@code int} array (regions of twice the entries), and its 32 bits. */
class RegionIntArrayTest {
    @Test
    void everyBitOfAnEntryIsKept() {
        RegionIntArray a = new RegionIntArray(2L * REGION);
        a.set(REGION + 1, -1);
        a.set(REGION + 2, Integer.MIN_VALUE | 5);
        assertEquals(-1, a.get(REGION + 1));
        assertEquals(Integer.MIN_VALUE | 5, a.get(REGION + 2));
        assertEquals(0, a.get(REGION + 3));
    }

    @Test
    void absentReadsZeroAndCostsNothing() {
        RegionIntArray a = new RegionIntArray(1L << 40);
        assertEquals(0, a.get(123_456_789_012L));
        a.set(5, 0);
        assertEquals(0, a.leaves(), "writing 0 to an absent entry must not allocate");
        a.set((1L << 40) - 1, 42);
        assertEquals(42, a.get((1L << 40) - 1));
        assertEquals(1, a.leaves());
        assertEquals(0, a.chunks());
        assertThrows(IndexOutOfBoundsException.class, () -> a.get(1L << 40));
        assertThrows(IndexOutOfBoundsException.class, () -> a.set(-1, 1));
    }

    @Test
    void aRegionTakesItsChunkOnceItAndTheArrayHoldEnoughLeaves() {
        RegionIntArray a = new RegionIntArray(3L * REGION, 2, 4);
        // Region 0: four leaves, the array's first four slots: no chunk yet (the array held under 4 slots).
        for (int s = 0; s < 4; s++)
            a.set((long) s * FAN + s, s + 1);
        assertEquals(0, a.chunks());
        // Region 1: under 2 leaves of its own, no chunk though the array holds 4 slots.
        a.set(REGION + 7, 70);
        a.set(REGION + FAN + 7, 71);
        assertEquals(0, a.chunks());
        // Its third slot: the rest of region 1 is a chunk; region 0's fifth slot too (a chunk of its own).
        a.set(REGION + 5L * FAN + 9, 72);
        a.set(REGION + 6L * FAN, 73);
        assertEquals(1, a.chunks());
        a.set(4L * FAN + 4, 5);
        assertEquals(2, a.chunks());
        assertEquals(9, a.leaves());
        // Every value reads back, from leaves and chunks, and nothing else is set.
        for (int s = 0; s < 5; s++)
            assertEquals(s + 1, a.get((long) s * FAN + s));
        assertEquals(70, a.get(REGION + 7));
        assertEquals(71, a.get(REGION + FAN + 7));
        assertEquals(72, a.get(REGION + 5L * FAN + 9));
        assertEquals(73, a.get(REGION + 6L * FAN));
        assertEquals(0, a.get(REGION + 5L * FAN + 8));
        assertEquals(0, a.get(REGION + 9), "a leaf's other entries");
        assertEquals(0, a.get(REGION + 7L * FAN + 9), "a chunk slot nobody wrote");
        assertEquals(0, a.get(2L * REGION + 9));
    }

    @Test
    void releasingAChunksLastSlotDropsIt() {
        RegionIntArray a = new RegionIntArray(2L * REGION, 1, 1);
        a.set(3, 1); // leaf
        a.set(FAN + 3, 2); // chunk
        a.set(2 * FAN + 3, 3); // chunk
        assertEquals(1, a.chunks());
        a.releaseRange(FAN, 2 * FAN);
        assertEquals(1, a.chunks(), "slot 2 still uses it");
        assertEquals(0, a.get(FAN + 3));
        a.set(FAN + 4, 4); // back into the same chunk
        assertEquals(4, a.get(FAN + 4));
        assertEquals(1, a.chunks());
        a.releaseRange(FAN + 100, 3 * FAN); // slot 1 partly: zeroed, kept; slot 2 whole: dropped
        assertEquals(4, a.get(FAN + 4));
        assertEquals(0, a.get(2 * FAN + 3));
        assertEquals(1, a.chunks());
        a.releaseRange(0, 2 * FAN);
        assertEquals(0, a.chunks(), "no slot uses the chunk");
        assertEquals(0, a.leaves());
        for (long i : new long[] { 3, FAN + 3, FAN + 4, 2 * FAN + 3 })
            assertEquals(0, a.get(i));
        a.set(5 * FAN, 9); // region 0 has no leaf left: a leaf again
        assertEquals(0, a.chunks());
        assertEquals(9, a.get(5 * FAN));
    }

    @Test
    void clearRangeZeroesAndKeepsStorage() {
        RegionIntArray a = new RegionIntArray(REGION, 1, 1);
        for (int i = 0; i < 3 * FAN; i++)
            a.set(i, i + 1);
        a.clearRange(10, 2 * FAN + 5);
        assertEquals(3, a.leaves());
        assertEquals(1, a.chunks());
        assertEquals(10, a.get(9));
        assertEquals(0, a.get(10));
        assertEquals(0, a.get(2 * FAN + 4));
        assertEquals(2 * FAN + 6, a.get(2 * FAN + 5));
    }

    @Test
    void growKeepsValuesAndAddsRegions() {
        RegionIntArray a = new RegionIntArray(REGION - 1, 1, 1);
        a.set(REGION - 2, 5);
        assertThrows(IndexOutOfBoundsException.class, () -> a.set(REGION, 1));
        a.grow(5L * REGION);
        a.set(4L * REGION + 1, 6);
        a.set(REGION, 7);
        assertEquals(5, a.get(REGION - 2));
        assertEquals(6, a.get(4L * REGION + 1));
        assertEquals(7, a.get(REGION));
        assertEquals(5L * REGION, a.capacity());
    }

    @Test
    void aRegionsLastTwoSlotsTakeLeaves() {
        RegionIntArray a = new RegionIntArray(2L * REGION, 0, 0);
        a.set(REGION - 1, 1);
        a.set(REGION - FAN - 1, 2);
        assertEquals(0, a.chunks(), "a 4,088 KiB chunk holds the first 1,022 slots only");
        a.set(REGION - 2 * FAN - 1, 3);
        assertEquals(1, a.chunks());
        assertEquals(1, a.get(REGION - 1));
        assertEquals(2, a.get(REGION - FAN - 1));
        assertEquals(3, a.get(REGION - 2 * FAN - 1));
        assertEquals(0, a.get(REGION - 2 * FAN));
    }
}
