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

    @Test
    void vcpusAllocatingAtOnceTakeFramesFromBlocksOfTheirOwn() {
        FrameAllocator a = new FrameAllocator(1L << 18);
        BlockClaims claims = new BlockClaims();
        long[] one = new long[100], two = new long[100];
        for (int i = 0; i < 100; i++) { // two vCPUs faulting at once, turn by turn
            claims.begin(1);
            one[i] = a.alloc(L4K, claims);
            claims.begin(2);
            two[i] = a.alloc(L4K, claims);
        }
        for (int i = 0; i < 100; i++) {
            assertEquals(one[0] >>> 9, one[i] >>> 9, "vCPU 1 stays in its block");
            assertEquals(two[0] >>> 9, two[i] >>> 9, "vCPU 2 stays in its block");
        }
        assertTrue(one[0] >>> 9 != two[0] >>> 9, "the two vCPUs' blocks differ");
        assertEquals(0, one[0], "the first vCPU gets what it would alone");
    }

    @Test
    void oneVcpuGetsTheFramesItWouldWithoutClaims() {
        FrameAllocator plain = new FrameAllocator(1L << 18), claimed = new FrameAllocator(1L << 18);
        BlockClaims claims = new BlockClaims();
        Random rnd = new Random(27);
        BitSet used = new BitSet();
        for (int step = 0; step < 20000; step++) {
            if (rnd.nextInt(3) == 0 && used.cardinality() > 0) {
                int f = used.nextSetBit(rnd.nextInt(used.length()));
                if (f < 0)
                    f = used.nextSetBit(0);
                plain.free(f, L4K);
                claimed.free(f, L4K);
                used.clear(f);
            } else {
                claims.begin(7);
                long pfn = plain.alloc(L4K);
                assertEquals(pfn, claimed.alloc(L4K, claims), "step " + step);
                used.set((int) pfn);
            }
        }
    }

    @Test
    void aBatchGivesTheFramesSingleAllocationsWould() {
        FrameAllocator single = new FrameAllocator(1L << 18), batched = new FrameAllocator(1L << 18);
        BlockClaims one = new BlockClaims(), other = new BlockClaims();
        Random rnd = new Random(41);
        BitSet used = new BitSet();
        long[] batch = new long[200];
        for (int step = 0; step < 3000; step++) {
            if (rnd.nextInt(3) == 0 && used.cardinality() > 0) { // free a run, leaving holes in the bitmap words
                for (int f = used.nextSetBit(rnd.nextInt(used.length())), k = rnd.nextInt(70); f >= 0 && k > 0;
                        f = used.nextSetBit(f + 1 + rnd.nextInt(3)), k--) {
                    single.free(f, L4K);
                    batched.free(f, L4K);
                    used.clear(f);
                }
                continue;
            }
            int cpu = 1 + rnd.nextInt(2), max = 1 + rnd.nextInt(batch.length);
            one.begin(cpu, max);
            int n = batched.alloc4k(one, batch, max);
            assertEquals(max, n, "step " + step);
            other.begin(cpu, max);
            for (int i = 0; i < n; i++) {
                long pfn = single.alloc(L4K, other);
                assertEquals(pfn, batch[i], "step " + step + ", frame " + i);
                used.set((int) pfn);
            }
            assertEquals(single.freeFrames(), batched.freeFrames(), "step " + step);
        }
    }

    @Test
    void aBatchStopsWhereMemoryEnds() {
        FrameAllocator a = new FrameAllocator(512);
        long[] out = new long[600];
        assertEquals(512, a.alloc4k(new BlockClaims(), out, 600));
        assertEquals(511, out[511]);
        assertEquals(0, a.freeFrames());
        assertEquals(0, a.alloc4k(new BlockClaims(), out, 1));
    }

    @Test
    void aClaimedBlockIsTakenRatherThanFail() {
        FrameAllocator a = new FrameAllocator(512); // one 2M block only
        BlockClaims claims = new BlockClaims();
        claims.begin(1);
        assertEquals(0, a.alloc(L4K, claims));
        claims.begin(2);
        assertEquals(1, a.alloc(L4K, claims), "no other block: the other vCPU's is shared");
    }

    @Test
    void aClaimNotRenewedLatelyIsForgotten() {
        FrameAllocator a = new FrameAllocator(1L << 18);
        BlockClaims claims = new BlockClaims();
        claims.begin(1);
        assertEquals(0, a.alloc(L4K, claims)); // vCPU 1 claims block 0, then stops allocating
        for (long i = 0; i < BlockClaims.RECENT; i++) {
            claims.begin(2);
            assertTrue(a.alloc(L4K, claims) >>> 9 != 0, "vCPU 2 passes over block 0 while the claim is recent");
        }
        claims.begin(2);
        assertEquals(1, a.alloc(L4K, claims), "a stale claim holds up no one: the lowest partly used block again");
    }
}
