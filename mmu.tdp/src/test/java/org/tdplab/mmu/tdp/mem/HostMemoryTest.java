package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.mem.HostMemory.FIRMWARE;
import static org.tdplab.mmu.tdp.mem.HostMemory.FREE;
import static org.tdplab.mmu.tdp.mem.HostMemory.GMEM;
import static org.tdplab.mmu.tdp.mem.HostMemory.PAGE_TABLE;
import static org.tdplab.mmu.tdp.mem.HostMemory.SHARED;
import static org.tdplab.mmu.tdp.mem.Levels.L1G;
import static org.tdplab.mmu.tdp.mem.Levels.L2M;
import static org.tdplab.mmu.tdp.mem.Levels.L4K;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;

class HostMemoryTest {
    private static final long M = 1L << 20, G = 1L << 30;

    @Test
    void blocksAreNaturallyAligned() {
        HostMemory mem = new HostMemory(4 * G);
        for (int i = 0; i < 3; i++) {
            assertEquals(0, mem.alloc(L1G, SHARED, 1) % (1 << 18));
            assertEquals(0, mem.alloc(L2M, SHARED, 1) % 512);
            long f = mem.alloc(L4K, SHARED, 1);
            assertTrue(f >= 0 && f < mem.frames());
        }
    }

    @Test
    void smallAllocationsPackIntoOnePartlyUsedBlock() {
        HostMemory mem = new HostMemory(4 * G);
        long first = mem.alloc(L4K, PAGE_TABLE, 1);
        for (int i = 1; i < 512; i++)
            assertEquals(first / 512, mem.alloc(L4K, PAGE_TABLE, 1) / 512, "4K frames come from one 2M block");
        assertNotEquals(first / 512, mem.alloc(L4K, PAGE_TABLE, 1) / 512);
        long big = mem.alloc(L2M, SHARED, 1);
        assertEquals(first / (1 << 18), big / (1 << 18), "2M blocks come from the already split 1G region");
    }

    @Test
    void exhaustionIsEnomemNamingTheSize() {
        HostMemory mem = new HostMemory(4 * M);
        long a = mem.alloc(L2M, SHARED, 1);
        long b = mem.alloc(L2M, SHARED, 1);
        Expect.errno(Errno.ENOMEM, "2M", () -> mem.alloc(L2M, SHARED, 1));
        Expect.errno(Errno.ENOMEM, "4K", () -> mem.alloc(L4K, SHARED, 1));
        Expect.errno(Errno.ENOMEM, "1G", () -> mem.alloc(L1G, SHARED, 1));
        assertEquals(0, mem.framesInUse(FREE));
        mem.free(a, L2M);
        long f = mem.alloc(L4K, SHARED, 1);
        assertEquals(a, f, "reuse of the freed block");
        Expect.errno(Errno.ENOMEM, "2M", () -> mem.alloc(L2M, SHARED, 1)); // one frame holds the block
        mem.free(f, L4K);
        assertEquals(a, mem.alloc(L2M, SHARED, 1), "frames merge back into the 2M block");
        mem.free(b, L2M);
    }

    @Test
    void buddiesMergeBackIntoA1gBlock() {
        HostMemory mem = new HostMemory(G);
        long f = mem.alloc(L4K, SHARED, 1);
        long b = mem.alloc(L2M, SHARED, 1);
        Expect.errno(Errno.ENOMEM, "1G", () -> mem.alloc(L1G, SHARED, 1));
        mem.free(f, L4K);
        Expect.errno(Errno.ENOMEM, "1G", () -> mem.alloc(L1G, SHARED, 1));
        mem.free(b, L2M);
        assertEquals(0, mem.alloc(L1G, SHARED, 1), "4K frames merge into 2M, 2M blocks into 1G");
        Expect.errno(Errno.ENOMEM, "4K", () -> mem.alloc(L4K, SHARED, 1));
    }

    @Test
    void sizeThatIsNotAMultipleOfTheBlockSizes() {
        HostMemory mem = new HostMemory(G + 2 * M + 8192);
        assertEquals(0, mem.alloc(L1G, SHARED, 1));
        Expect.errno(Errno.ENOMEM, "1G", () -> mem.alloc(L1G, SHARED, 1));
        assertEquals(1 << 18, mem.alloc(L2M, SHARED, 1));
        Expect.errno(Errno.ENOMEM, "2M", () -> mem.alloc(L2M, SHARED, 1));
        Set<Long> tail = new HashSet<>();
        tail.add(mem.alloc(L4K, SHARED, 1));
        tail.add(mem.alloc(L4K, SHARED, 1));
        assertEquals(Set.of((1L << 18) + 512, (1L << 18) + 513), tail);
        Expect.errno(Errno.ENOMEM, "4K", () -> mem.alloc(L4K, SHARED, 1));
        assertEquals(0, mem.framesInUse(FREE));
        mem.free(0, L1G);
        assertEquals(0, mem.alloc(L1G, SHARED, 1), "a freed 1G block is reused");
    }

    @Test
    void fullReuseAfterChurn() {
        HostMemory mem = new HostMemory(8 * M);
        long[] frames = new long[2048];
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < frames.length; i++)
                frames[i] = mem.alloc(L4K, SHARED, 1);
            Expect.errno(Errno.ENOMEM, "4K", () -> mem.alloc(L4K, SHARED, 1));
            for (int i = 0; i < frames.length; i += 2)
                mem.free(frames[i], L4K);
            for (int i = 1; i < frames.length; i += 2)
                mem.free(frames[i], L4K);
            assertEquals(frames.length, mem.framesInUse(FREE));
        }
        for (int i = 0; i < 4; i++)
            mem.alloc(L2M, SHARED, 1);
    }

    @Test
    void concurrentAllocationsAreDistinct() throws Exception {
        HostMemory mem = new HostMemory(G); // 4 x (20 x 2M + 1980 x 4K) fits
        long[][] got = new long[4][2000];
        Thread[] ts = new Thread[got.length];
        for (int t = 0; t < ts.length; t++) {
            long[] mine = got[t];
            ts[t] = new Thread(() -> {
                for (int i = 0; i < mine.length; i++)
                    mine[i] = mem.alloc(i % 100 == 0 ? L2M : L4K, SHARED, 1);
            });
            ts[t].start();
        }
        for (Thread t : ts)
            t.join();
        Set<Long> frames = new HashSet<>();
        assertEquals(4 * (20 * 512 + 1980), mem.framesInUse(SHARED), "every allocation succeeded");
        for (long[] mine : got)
            for (int i = 0; i < mine.length; i++)
                for (long p = mine[i]; p < mine[i] + (i % 100 == 0 ? 512 : 1); p++)
                    assertTrue(frames.add(p), "frame handed out twice");
        assertEquals(frames.size(), mem.framesInUse(SHARED));
    }

    @Test
    void badFreesAreRefused() {
        HostMemory mem = new HostMemory(8 * M);
        long b = mem.alloc(L2M, SHARED, 1);
        assertThrows(IllegalArgumentException.class, () -> mem.free(b + 1, L2M));
        assertThrows(IllegalStateException.class, () -> mem.free(b, L4K), "a 2M block is not a 4K frame");
        assertThrows(IllegalStateException.class, () -> mem.free(b + 512, L2M), "never allocated");
        mem.free(b, L2M);
        assertThrows(IllegalStateException.class, () -> mem.free(b, L2M), "double free");
        assertThrows(IllegalArgumentException.class, () -> mem.free(1L << 40, L4K));
        assertThrows(IllegalArgumentException.class, () -> mem.alloc(L4K, FREE, 1), "an owner is required");
    }

    @Test
    void ownerIdsOfEveryKindKeptPerFrameWithinTheirBits() {
        HostMemory mem = new HostMemory(8 * M);
        long a = mem.alloc(L4K, FIRMWARE, FrameOwners.MAX_ID);
        long b = mem.alloc(L4K, SHARED, FrameOwners.MIN_ID);
        long c = mem.alloc(L4K, GMEM, 0);
        assertEquals(FIRMWARE, mem.ownerKind(a));
        assertEquals(FrameOwners.MAX_ID, mem.ownerId(a));
        assertEquals(SHARED, mem.ownerKind(b));
        assertEquals(FrameOwners.MIN_ID, mem.ownerId(b));
        assertEquals(GMEM, mem.ownerKind(c));
        assertEquals(0, mem.ownerId(c));
        assertThrows(IllegalArgumentException.class, () -> mem.alloc(L4K, GMEM, FrameOwners.MAX_ID + 1));
        assertThrows(IllegalArgumentException.class, () -> mem.alloc(L4K, GMEM, FrameOwners.MIN_ID - 1));
        assertThrows(IllegalArgumentException.class, () -> mem.setOwner(a, 1, GMEM, Integer.MAX_VALUE));
        assertEquals(FIRMWARE, mem.ownerKind(a), "a refused change changes nothing");
        assertEquals(3, mem.framesInUse(FIRMWARE) + mem.framesInUse(SHARED) + mem.framesInUse(GMEM));
    }

    @Test
    void ownershipPerFrame() {
        HostMemory mem = new HostMemory(8 * M);
        long b = mem.alloc(L2M, GMEM, 7);
        long pt = mem.alloc(L4K, PAGE_TABLE, 8);
        for (long p = b; p < b + 512; p++) {
            assertEquals(GMEM, mem.ownerKind(p));
            assertEquals(7, mem.ownerId(p));
        }
        assertEquals(PAGE_TABLE, mem.ownerKind(pt));
        assertEquals(8, mem.ownerId(pt));
        assertEquals(512, mem.framesInUse(GMEM));
        assertEquals(1, mem.framesInUse(PAGE_TABLE));
        assertEquals(2048 - 513, mem.framesInUse(FREE));

        mem.setOwner(b + 10, 3, FIRMWARE, -2);
        assertEquals(FIRMWARE, mem.ownerKind(b + 11));
        assertEquals(-2, mem.ownerId(b + 11));
        assertEquals(GMEM, mem.ownerKind(b + 13));
        assertEquals(509, mem.framesInUse(GMEM));
        assertEquals(3, mem.framesInUse(FIRMWARE));
        long freeFrame = pt + 1;
        assertThrows(IllegalStateException.class, () -> mem.setOwner(freeFrame, 1, FIRMWARE, 1));
        assertThrows(IllegalArgumentException.class, () -> mem.setOwner(b, 1, FREE, 0));

        mem.free(b, L2M);
        assertEquals(FREE, mem.ownerKind(b + 11));
        assertEquals(0, mem.framesInUse(GMEM));
        assertEquals(0, mem.framesInUse(FIRMWARE));
        assertEquals(0, mem.allocatedLevel(b));
        assertEquals(L4K, mem.allocatedLevel(pt));
    }

    @Test
    void tokensAreZeroedOnFree() {
        HostMemory mem = new HostMemory(8 * M);
        long b = mem.alloc(L2M, SHARED, 1);
        for (long p = b; p < b + 512; p++)
            mem.write(p, p * 3 + 1);
        assertEquals(b * 3 + 1, mem.read(b));
        mem.free(b, L2M);
        assertEquals(0, mem.read(b + 5));
        assertEquals(b, mem.alloc(L2M, SHARED, 1));
        for (long p = b; p < b + 512; p++)
            assertEquals(0, mem.read(p), "reallocated memory is zeroed");
    }

    @Test
    void splitKeepsContentsAndLetsPartsBeFreed() {
        HostMemory mem = new HostMemory(2 * G);
        long g = mem.alloc(L1G, SHARED, 1);
        mem.write(g + 513, 99);
        mem.write(g + 5, 55);
        mem.split(g, L1G);
        assertEquals(L2M, mem.allocatedLevel(g + 513));
        mem.split(g, L2M);
        assertEquals(L4K, mem.allocatedLevel(g + 5));
        mem.free(g + 5, L4K);
        assertEquals(0, mem.read(g + 5));
        assertEquals(99, mem.read(g + 513));
        assertEquals(SHARED, mem.ownerKind(g + 6));
        assertEquals(g + 5, mem.alloc(L4K, SHARED, 1), "the freed frame is reused");
        assertThrows(IllegalArgumentException.class, () -> mem.split(g + 5, L4K));
        assertEquals(1L << 18, mem.framesInUse(SHARED));
    }

    @Test
    void metadataFollowsAllocationNotSize() {
        HostMemory mem = new HostMemory(1L << 40); // 1 TiB
        assertEquals(0, mem.metadataLeaves());
        long f = mem.alloc(L4K, SHARED, 1);
        assertEquals(1, mem.metadataLeaves());
        mem.write(f, 1);
        assertEquals(2, mem.metadataLeaves());
        mem.free(f, L4K);
        assertEquals(0, mem.metadataLeaves(), "a wholly free 2M region keeps no metadata");
        assertEquals(mem.frames(), mem.framesInUse(FREE));
    }

    /** A huge block's owner is kept once per 2M block; when the last goes, so does the storage that kept it. */
    @Test
    void hugeBlocksLeaveNoMetadataOnceFree() {
        HostMemory mem = new HostMemory(1L << 40);
        long g = mem.alloc(L1G, SHARED, 1);
        long m = mem.alloc(L2M, GMEM, 2);
        assertTrue(mem.metadataLeaves() >= 2, "a per-block leaf for each 1G region");
        mem.free(g, L1G);
        mem.free(m, L2M);
        assertEquals(0, mem.metadataLeaves(), "the per-block words' leaves go with the last huge block");
        long s = mem.alloc(L2M, SHARED, 1); // split, freed frame by frame: the block's word was pushed down
        mem.split(s, L2M);
        for (long f = s; f < s + 512; f++)
            mem.free(f, L4K);
        assertEquals(0, mem.metadataLeaves());
        assertEquals(mem.frames(), mem.framesInUse(FREE));
    }

    @Test
    void aBigHostKeepsItsTokensInChunksAndDropsThemWhenFree() {
        HostMemory mem = new HostMemory(4 * G);
        int blocks = RegionLongArray.SLOTS + RegionLongArray.CHUNK_AFTER + 10;
        long[] pfn = new long[blocks];
        for (int b = 0; b < blocks; b++) {
            pfn[b] = mem.alloc(L2M, SHARED, 1);
            mem.write(pfn[b] + b % 512, b + 1);
        }
        assertEquals(1, mem.metadataChunks(), "the first 2 GiB in leaves, the rest of the next region a chunk");
        for (int b = 0; b < blocks; b++)
            assertEquals(b + 1, mem.read(pfn[b] + b % 512));
        for (int b = 0; b < blocks; b++)
            mem.free(pfn[b], L2M);
        assertEquals(0, mem.metadataChunks(), "a chunk no 2M region uses is dropped");
        long again = mem.alloc(L2M, SHARED, 1);
        assertEquals(0, mem.read(again + 5), "freed memory reads 0");
    }

    @Test
    void concurrentTokenWritersOnFreshMemory() throws Exception {
        HostMemory mem = new HostMemory(64 * M);
        int threads = 8;
        for (int rep = 0; rep < 30; rep++) {
            long base = mem.alloc(L2M, SHARED, 1); // no token metadata yet: writers race to create it
            atOnce(threads, id -> {
                for (int round = 1; round <= 20; round++)
                    for (long p = base + id; p < base + 512; p += threads) {
                        mem.write(p, (long) round << 32 | p);
                        long q = base + (p + 1 - base) % 512;
                        long seen = mem.read(q);
                        if (seen != 0 && (seen & 0xffffffffL) != q)
                            throw new AssertionError("torn or misplaced token " + Long.toHexString(seen));
                    }
            });
            for (long p = base; p < base + 512; p++)
                assertEquals(20L << 32 | p, mem.read(p), "no write may be lost");
            mem.free(base, L2M);
        }
    }

    @Test
    void twoVcpusAllocatingInTurnGetFramesFromBlocksOfTheirOwn() {
        HostMemory mem = new HostMemory(1L << 30);
        long[] zero = new long[64], one = new long[64];
        for (int i = 0; i < zero.length; i++) {
            zero[i] = mem.alloc(L4K, GMEM, 1, 0);
            one[i] = mem.alloc(L4K, GMEM, 1, 1);
        }
        for (int i = 0; i < zero.length; i++) {
            assertEquals(zero[0] >>> 9, zero[i] >>> 9, "vCPU 0 stays in its 2M block");
            assertEquals(one[0] >>> 9, one[i] >>> 9, "vCPU 1 stays in its 2M block");
        }
        assertNotEquals(zero[0] >>> 9, one[0] >>> 9, "two vCPUs allocating at once share no 2M block");
        assertNotEquals(zero[0] >>> 9, mem.alloc(L4K, GMEM, 2, 0) >>> 9, "vCPU 0 of another VM is another CPU");
    }

    @Test
    void whichThreadRunsAVcpuDoesNotChangeItsFrames() throws Exception {
        long[] alone = allocateInTurn(new HostMemory(1L << 30), false);
        long[] threaded = allocateInTurn(new HostMemory(1L << 30), true);
        assertArrayEquals(alone, threaded);
    }

    /** vCPUs 0 and 1 allocate in turn, with a page-table frame (no CPU) now and then; from one thread or three. */
    private static long[] allocateInTurn(HostMemory mem, boolean threads) throws Exception {
        long[] out = new long[300];
        java.util.concurrent.ExecutorService[] cpus = new java.util.concurrent.ExecutorService[3];
        for (int c = 0; c < cpus.length; c++)
            cpus[c] = threads ? java.util.concurrent.Executors.newSingleThreadExecutor() : null;
        try {
            for (int i = 0; i < out.length; i++) {
                int vcpu = i % 7 == 6 ? HostMemory.NO_CPU : i & 1;
                java.util.concurrent.Callable<Long> alloc = () -> mem.alloc(L4K, GMEM, 1, vcpu);
                out[i] = threads ? cpus[vcpu + 1].submit(alloc).get() : alloc.call();
            }
        } finally {
            for (var c : cpus)
                if (c != null)
                    c.shutdown();
        }
        return out;
    }

    @Test
    void aVcpuTakesABatchOnceAndItsUnusedFramesCountAsFree() {
        HostMemory mem = new HostMemory(4 * M);
        long first = mem.alloc(L4K, GMEM, 1, 0);
        assertEquals(L4K, mem.allocatedLevel(first + 1), "the rest of the batch is held back from the allocator");
        assertEquals(first + 1, mem.alloc(L4K, GMEM, 1, 0), "the batch is handed out in the allocator's order");
        assertEquals(2, mem.framesInUse(GMEM));
        assertEquals(1024 - 2, mem.framesInUse(FREE), "frames on a vCPU's list are nobody's");
        assertEquals(FREE, mem.ownerKind(first + 2));
        assertEquals(GMEM, mem.ownerKind(first + 1));
    }

    @Test
    void aFrameAVcpuFreesGoesBackOnItsListWhileThereIsRoom() {
        HostMemory mem = new HostMemory(4 * M);
        long fw = mem.alloc(L4K, FIRMWARE, 1); // from the allocator
        long g = mem.alloc(L4K, GMEM, 1, 0); // vCPU 0's list now holds the rest of its batch
        long before = mem.framesInUse(FREE);
        mem.write(fw, 42);
        mem.free(fw, L4K, 1, 0);
        assertEquals(before + 1, mem.framesInUse(FREE), "a frame on a list is nobody's");
        assertEquals(0, mem.framesInUse(FIRMWARE));
        assertEquals(FREE, mem.ownerKind(fw));
        assertEquals(L4K, mem.allocatedLevel(fw), "held back from the allocator, as pcp pages are");
        assertThrows(IllegalStateException.class, () -> mem.free(fw, L4K), "a frame on a list is not allocated");
        assertThrows(IllegalStateException.class, () -> mem.free(fw, L4K, 1, 0));
        long again = mem.alloc(L4K, FIRMWARE, 1, 0);
        assertEquals(fw, again, "the list hands out the frame freed last first");
        assertEquals(0, mem.read(again), "its token was cleared");
        assertEquals(FIRMWARE, mem.ownerKind(again));
        // a full list: the allocator takes the frame
        long[] more = new long[CpuFrames.BATCH];
        for (int i = 0; i < more.length; i++)
            more[i] = mem.alloc(L4K, FIRMWARE, 1);
        long held = mem.framesInUse(FREE);
        for (long f : more)
            mem.free(f, L4K, 1, 0);
        assertEquals(held + more.length, mem.framesInUse(FREE));
        assertEquals(0, mem.allocatedLevel(more[more.length - 1]), "the last one found the list full");
        // a frame that is not allocated is refused, as the allocator refuses it
        assertThrows(RuntimeException.class, () -> mem.free(more[more.length - 1], L4K, 1, 0));
        // no list (no such vCPU, or its VM is gone): the allocator takes it
        mem.free(again, L4K, 1, 7);
        assertEquals(0, mem.allocatedLevel(again));
        mem.free(g, L4K, 1, 0);
        mem.releaseCpus(1);
        assertEquals(1024, mem.framesInUse(FREE));
        assertEquals(0, mem.framesInUse(GMEM) + mem.framesInUse(FIRMWARE));
    }

    @Test
    void anAllocationThatFindsNothingFreeDrainsTheVcpusLists() {
        HostMemory mem = new HostMemory(4 * M);
        long first = mem.alloc(L4K, GMEM, 1, 0); // vCPU 0 holds the rest of a batch from the first 2M block
        long big = mem.alloc(L2M, SHARED, 3);
        for (int i = 1; i < 512; i++)
            assertEquals(first / 512, mem.alloc(L4K, PAGE_TABLE, 3) / 512);
        assertEquals(0, mem.framesInUse(FREE), "every frame was allocated: the list gave its frames back");
        Expect.errno(Errno.ENOMEM, "4K", () -> mem.alloc(L4K, GMEM, 1, 0));
        mem.free(big, L2M);
        assertEquals(big, mem.alloc(L2M, SHARED, 3));
    }

    @Test
    void aDestroyedVmsListsGoBackToTheAllocator() {
        HostMemory mem = new HostMemory(2 * M);
        long a = mem.alloc(L4K, GMEM, 1, 0), b = mem.alloc(L4K, GMEM, 1, 1);
        mem.free(a, L4K);
        mem.releaseCpus(1);
        assertEquals(0, mem.allocatedLevel(a + 1), "vCPU 0's unused frames are the allocator's again");
        assertEquals(1, mem.framesInUse(GMEM), "the frame still allocated stays counted");
        mem.free(b, L4K);
        assertEquals(0, mem.framesInUse(GMEM));
        assertEquals(512, mem.framesInUse(FREE));
        assertEquals(0, mem.alloc(L2M, SHARED, 2), "the whole block is free again");
    }

    @Test
    void vcpusAllocatingAtOnceUntilNothingIsLeftGetEveryFrameOnce() throws Exception {
        for (int rep = 0; rep < 20; rep++) {
            HostMemory mem = new HostMemory(8 * M);
            int threads = 4;
            java.util.List<java.util.List<Long>> got = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++)
                got.add(new java.util.ArrayList<>());
            atOnce(threads, t -> {
                int vcpu = t == threads - 1 ? HostMemory.NO_CPU : t; // and one allocator for no vCPU
                try {
                    while (true)
                        got.get(t).add(mem.alloc(L4K, GMEM, 1, vcpu));
                } catch (org.tdplab.mmu.api.MmuException e) {
                    if (e.errno() != Errno.ENOMEM)
                        throw e;
                }
            });
            Set<Long> all = new HashSet<>();
            for (java.util.List<Long> mine : got)
                for (long pfn : mine)
                    assertTrue(all.add(pfn), "pfn " + pfn + " handed out twice");
            assertEquals(mem.frames(), all.size(), "no frame is left behind on a list");
            assertEquals(mem.frames(), mem.framesInUse(GMEM));
        }
    }

    interface Body {
        void run(int thread) throws Exception;
    }

    /** Runs {@code body} on {@code threads} threads let go at once; the first failure is rethrown. */
    private static void atOnce(int threads, Body body) throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            int id = t;
            ts[t] = new Thread(() -> {
                try {
                    go.await();
                    body.run(id);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            ts[t].start();
        }
        go.countDown();
        for (Thread t : ts)
            t.join();
        if (failure.get() != null)
            throw new AssertionError(failure.get());
    }
}
