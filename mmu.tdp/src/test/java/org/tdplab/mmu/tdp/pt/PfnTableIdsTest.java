package org.tdplab.mmu.tdp.pt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

class PfnTableIdsTest {

    @Test
    void putGetRemove() {
        PfnTableIds m = new PfnTableIds();
        assertEquals(0, m.get(0));
        assertEquals(0, m.get(12345));
        m.put(0x1001, 7);
        m.put(0x1002, 8);
        assertEquals(7, m.get(0x1001));
        assertEquals(8, m.get(0x1002));
        assertEquals(0, m.get(0x1003));
        assertEquals(0, m.get(0x1000));
        assertEquals(1, m.chunks(), "neighbouring frames share a chunk");
        assertEquals(7, m.remove(0x1001));
        assertEquals(0, m.get(0x1001));
        assertEquals(8, m.get(0x1002));
        assertEquals(0, m.remove(0x1001), "removing twice");
        assertEquals(0, m.remove(0x7fff_ffffL), "removing beyond the spine");
    }

    @Test
    void aFrameIsReusedByAnotherTable() {
        PfnTableIds m = new PfnTableIds();
        m.put(0x2000, 3);
        assertThrows(IllegalStateException.class, () -> m.put(0x2000, 4), "a frame holds one table");
        assertEquals(3, m.get(0x2000));
        assertEquals(3, m.remove(0x2000));
        m.put(0x2000, 4);
        assertEquals(4, m.get(0x2000));
        assertEquals(1, m.chunks(), "the chunk is kept, so reuse allocates nothing");
    }

    @Test
    void growsToHighPfnsAndKeepsLowOnes() {
        PfnTableIds m = new PfnTableIds();
        m.put(5, 1);
        long high = (1L << 28) + 17; // 1 TiB of 4K frames
        m.put(high, 2);
        m.put((1L << 30) - 1, 3);
        assertEquals(1, m.get(5));
        assertEquals(2, m.get(high));
        assertEquals(3, m.get((1L << 30) - 1));
        assertEquals(0, m.get(high + 1));
        assertEquals(0, m.get(high + (1L << 20)), "past the spine");
        assertEquals(0, m.get(Long.MAX_VALUE));
        assertEquals(3, m.chunks());
        assertThrows(IllegalArgumentException.class, () -> m.put(-1, 1));
        assertThrows(IllegalArgumentException.class, () -> m.put(8, 0));
    }

    @Test
    void randomOperationsMatchAHashMap() {
        for (int shift : new int[] { 1, 3, PfnTableIds.DEFAULT_SHIFT, 12 }) {
            PfnTableIds m = new PfnTableIds(shift);
            Map<Long, Integer> ref = new HashMap<>();
            Random r = new Random(shift);
            for (int op = 0; op < 20_000; op++) {
                long pfn = r.nextInt(4096) + (r.nextInt(8) == 0 ? 1L << 24 : 0);
                if (ref.containsKey(pfn)) {
                    assertEquals(ref.remove(pfn), m.remove(pfn));
                } else {
                    int id = 1 + r.nextInt(1 << 20);
                    m.put(pfn, id);
                    ref.put(pfn, id);
                }
                long probe = r.nextInt(4096);
                assertEquals(ref.getOrDefault(probe, 0), m.get(probe));
            }
            for (Map.Entry<Long, Integer> e : ref.entrySet())
                assertEquals(e.getValue(), m.get(e.getKey()));
        }
    }

    /** Memory follows the frames that held tables: dense frames cost about 4 bytes each, none elsewhere. */
    @Test
    void memoryFollowsTheFramesUsed() {
        PfnTableIds m = new PfnTableIds();
        for (int i = 0; i < 4096; i++)
            m.put((1L << 22) + i, i + 1);
        assertEquals(4096 >> PfnTableIds.DEFAULT_SHIFT, m.chunks());
        long spineAtMost = 2 * 8 * (((1L << 22) + 4096) >> PfnTableIds.DEFAULT_SHIFT); // doubled as it grows
        assertTrue(m.bytes() <= 4096 * 4 + m.chunks() * 16 + spineAtMost, "bytes " + m.bytes());
    }

    /** The estimate the memory test relies on, counted by hand: a spine of 16 references, then one chunk of 64 ints. */
    @Test
    void bytesCountTheSpineAndEachChunk() {
        PfnTableIds m = new PfnTableIds();
        assertEquals(8 * 16, m.bytes());
        m.put(5, 1);
        assertEquals(8 * 16 + 16 + 4 * 64, m.bytes());
        m.put(64 * 16, 2); // the first PFN past the spine: it doubles, and a second chunk
        assertEquals(8 * 32 + 2 * (16 + 4 * 64), m.bytes());
    }

    @Test
    void chunkSizesOutsideOneTo2To20AreRefused() {
        new PfnTableIds(1);
        new PfnTableIds(20);
        assertThrows(IllegalArgumentException.class, () -> new PfnTableIds(0));
        assertThrows(IllegalArgumentException.class, () -> new PfnTableIds(21));
    }

    /** The spine's last usable chunk is {@code Integer.MAX_VALUE - 9}: a PFN beyond it is refused, not grown to. */
    @Test
    void aPfnBeyondTheLargestSpineIsRefused() {
        PfnTableIds m = new PfnTableIds(20);
        long first = ((long) Integer.MAX_VALUE - 8) << 20;
        assertThrows(IllegalArgumentException.class, () -> m.put(first, 1));
        assertThrows(IllegalArgumentException.class, () -> m.put(-1, 1));
        assertThrows(IllegalArgumentException.class, () -> m.put(3, 0));
        assertEquals(0, m.remove(16L << 20), "the first chunk past the spine's end");
        assertEquals(0, m.remove(-1));
    }
}
