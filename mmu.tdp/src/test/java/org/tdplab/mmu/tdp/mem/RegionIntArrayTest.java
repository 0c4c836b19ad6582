package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.tdplab.mmu.tdp.mem.RegionIntArray.FAN;
import static org.tdplab.mmu.tdp.mem.RegionIntArray.REGION;

import org.junit.jupiter.api.Test;

/**
 * What the {@code int} array does differently: its 32 bits, and regions of twice the entries. The slots, leaves,
 * chunks and their release are the shared {@code RegionArray}'s, tested through {@link RegionLongArrayTest}.
 */
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
