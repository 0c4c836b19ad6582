package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** The 4K path of the buddy allocator: lowest free frame of the lowest partly used block first, whatever the hints. */
class FrameAllocatorTest {
    private static final int L4K = Levels.L4K;

    @Test
    void aFreedFrameBelowWhereAllocationGotToIsTakenFirst() {
        FrameAllocator a = new FrameAllocator(1L << 18);
        List<Long> got = new ArrayList<>();
        for (int i = 0; i < 1500; i++) // three 2M blocks, the third partly used
            got.add(a.alloc(L4K));
        for (int i = 0; i < 1500; i++)
            assertEquals(i, got.get(i), "frames are handed out lowest first");
        a.free(700, L4K); // in the second (full) block
        a.free(5, L4K); // in the first (full) block
        assertEquals(5, a.alloc(L4K), "the lowest partly used block, its lowest free frame");
        assertEquals(700, a.alloc(L4K));
        assertEquals(1500, a.alloc(L4K), "then where allocation had got to");
    }

    @Test
    void randomFreesAndAllocationsMatchTheLowestFreeFrame() {
        long frames = 1L << 18;
        FrameAllocator a = new FrameAllocator(frames);
        BitSet used = new BitSet();
        Random rnd = new Random(14);
        for (int i = 0; i < 4000; i++)
            used.set((int) a.alloc(L4K));
        for (int step = 0; step < 20000; step++) {
            if (rnd.nextInt(3) == 0 && used.cardinality() > 0) {
                int f;
                do
                    f = rnd.nextInt(used.length());
                while (!used.get(f));
                a.free(f, L4K);
                used.clear(f);
            } else {
                long pfn = a.alloc(L4K);
                assertTrue(!used.get((int) pfn), "frame 0x" + Long.toHexString(pfn) + " handed out twice");
                // every split block below the chosen one is full, and the chosen block has no lower free frame
                int lowestFree = used.nextClearBit(0);
                assertEquals(lowestFree, pfn, "step " + step);
                used.set((int) pfn);
            }
        }
        assertEquals(frames - used.cardinality(), a.freeFrames());
    }
}
