package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Blocks cost an entry per 2M, pages mapped alone one each; a linear run reads as 4K pages. */
class PfnMapTest {
    @Test
    void aLinearRunIsFiveHundredTwelve4kPagesInOneEntry() {
        PfnMap m = new PfnMap(2048);
        m.mapLinear(512, 0x4000);
        assertEquals(0x4000 + 7, m.pfn(512 + 7));
        assertEquals(Levels.L4K, m.level(1023));
        assertEquals(0x4000, m.linearBase(600));
        assertEquals(-1, m.pfn(511));
        assertEquals(512, m.nextPresent(0, 2048));
        assertEquals(700, m.nextPresent(700, 2048));
        assertEquals(Levels.L2M, m.fittingLevel(1024 + 3, Levels.L2M), "the next 2M is still free for a block");
        assertEquals(Levels.L4K, m.fittingLevel(600, Levels.L2M), "no 2M block over a linear run");
    }

    /**
     * A page's lock is its entry: a locked page reads absent to every reader and to a writer's scan, another maker
     * finds it held, and mapping the page unlocks it.
     */
    @Test
    void aLockedPageIsAbsentUntilMappedOrLetGo() {
        PfnMap m = PfnMap.chunked(1024);
        m.mapBlock(9, 0x300, Levels.L4K);
        assertEquals(0, m.tryLockPage(5));
        assertEquals(PfnMap.LOCKED, m.tryLockPage(5), "held by its maker");
        assertEquals(-1, m.pfn(5));
        assertEquals(0, m.level(5));
        assertEquals(9, m.nextPresent(0, 1024), "a locked page is not present");
        assertEquals(5, m.nextLocked(0, 1024));
        assertEquals(0x300L << 2 | Levels.L4K, m.tryLockPage(9), "a present page is not locked: its entry");
        m.mapBlock(5, 0x200, Levels.L4K);
        assertEquals(0x200, m.pfn(5));
        assertEquals(1024, m.nextLocked(0, 1024));
        assertEquals(0, m.tryLockPage(6));
        m.unlockPage(6);
        assertEquals(-1, m.pfn(6));
        assertEquals(0, m.tryLockPage(6), "let go: free to lock again");
    }

    @Test
    void demoteThenUnmapPartOfARun() {
        PfnMap m = new PfnMap(1024);
        m.mapLinear(0, 0x200);
        assertThrows(IllegalStateException.class, () -> m.unmap(10, 20), "a partial unmap must demote first");
        m.demote(10);
        assertEquals(-1, m.linearBase(10));
        m.unmap(10, 20);
        assertEquals(-1, m.pfn(15));
        assertEquals(0x200 + 9, m.pfn(9));
        assertEquals(0x200 + 20, m.pfn(20));
        assertEquals(20, m.nextPresent(10, 1024));
        m.unmap(0, 512);
        assertEquals(1024, m.nextPresent(0, 1024));
    }

    @Test
    void hugeBlocksAndTheirSplit() {
        PfnMap m = new PfnMap(1L << 19);
        m.mapBlock(1L << 18, 1L << 18, Levels.L1G);
        assertEquals((1L << 18) + 5000, m.pfn((1L << 18) + 5000));
        assertEquals(Levels.L1G, m.level((1L << 18) + 5000));
        for (long h = 0; h < 1L << 18; h += 512) // the host split the 1G block into 2M blocks
            m.mapBlock((1L << 18) + h, (1L << 18) + h, Levels.L2M);
        assertEquals(Levels.L2M, m.level((1L << 18) + 5000));
        m.demote((1L << 18) + 5000); // and one 2M block into 4K pages
        assertEquals(Levels.L4K, m.level((1L << 18) + 5000));
        assertEquals((1L << 18) + 5000, m.pfn((1L << 18) + 5000));
        assertEquals(Levels.L2M, m.level((1L << 18) + 512 * 20));
    }

    @Test
    void aChunkedMapKeepsPagesInChunksMadeOnFirstUseAndDroppedWhenReleasedWhole() {
        long n = ChunkedIntArray.CHUNK + 1024; // a whole chunk, then one of 1024 pages
        PfnMap m = PfnMap.chunked(n);
        assertEquals(0, m.chunks());
        assertEquals(-1, m.pfn(5));
        assertEquals(n, m.nextPresent(0, n), "absent chunks are skipped");
        long last = ChunkedIntArray.CHUNK - 1, first = ChunkedIntArray.CHUNK;
        m.mapBlock(last, 0x9000, Levels.L4K);
        m.mapBlock(first, 0x9001, Levels.L4K);
        m.mapBlock(n - 1, 0x9400, Levels.L4K);
        assertEquals(2, m.chunks());
        assertEquals(0x9000, m.pfn(last));
        assertEquals(0x9001, m.pfn(first));
        assertEquals(Levels.L4K, m.level(n - 1));
        assertEquals(-1, m.pfn(last - 1));
        assertEquals(last, m.nextPresent(0, n));
        assertEquals(first, m.nextPresent(last + 1, n));
        assertEquals(n - 1, m.nextPresent(first + 1, n));
        m.mapBlock(512, 0x20000, Levels.L2M); // blocks as in any map
        assertEquals(0x20000 + 3, m.pfn(515));
        assertEquals(512, m.nextPresent(0, n));
        m.unmap(512, 1024);
        m.unmap(first, n); // the whole second chunk: dropped
        assertEquals(1, m.chunks());
        assertEquals(-1, m.pfn(first));
        m.unmap(last, last + 1); // part of the first: zeroed, kept
        assertEquals(1, m.chunks());
        assertEquals(n, m.nextPresent(0, n));
        m.unmap(0, n);
        assertEquals(0, m.chunks());
        assertThrows(IndexOutOfBoundsException.class, () -> m.mapBlock(n, 1, Levels.L4K));
    }
    /** A map of 4K pages only (a guest_memfd of 4K folios) has no block entries: pages one by one, no larger block. */
    @Test
    void aMapOf4kPagesOnlyHoldsPagesOneByOne() {
        PfnMap m = PfnMap.chunkedPages(2048);
        m.mapBlock(700, 0x123, Levels.L4K);
        assertEquals(0x123, m.pfn(700));
        assertEquals(Levels.L4K, m.level(700));
        assertEquals(0x123L << 2 | Levels.L4K, m.entry(700));
        assertEquals(0, m.entry(701));
        assertEquals(-1, m.linearBase(700));
        assertEquals(700, m.nextPresent(0, 2048));
        assertEquals(2048, m.nextPresent(701, 2048));
        assertEquals(Levels.L4K, m.fittingLevel(5, Levels.L4K));
        assertThrows(IllegalStateException.class, () -> m.mapBlock(512, 0x400, Levels.L2M));
        assertThrows(IllegalStateException.class, () -> m.mapLinear(512, 0x400));
        assertThrows(IllegalStateException.class, () -> m.demote(700));
        m.unmap(512, 1024);
        assertEquals(-1, m.pfn(700));
        assertEquals(2048, m.nextPresent(0, 2048));
    }

    /**
     * A page mapped on its own in a chunked map takes 4 bytes (a 32-bit word, 8 before); a PFN that does not fit one
     * (the last frames of a 16 TiB host, any beyond) reads back the same, is found, locked and unmapped like another.
     */
    @Test
    void aChunkedMapKeepsAPageIn4BytesAndAWidePfnExactly() {
        PfnMap m = PfnMap.chunkedPages(4096);
        for (long i = 0; i < 4096; i++)
            m.mapBlock(i, 0x1000 + i, Levels.L4K);
        assertEquals(4096 * 4, m.chunkBytes(), "4 bytes per page");
        long edge = (1L << 32) - 4, wide = (1L << 32) - 3, far = 1L << 40;
        m.unmap(0, 4096);
        m.mapBlock(10, edge, Levels.L4K);
        m.mapBlock(11, wide, Levels.L4K);
        m.mapBlock(12, far, Levels.L4K);
        assertEquals(edge, m.pfn(10));
        assertEquals(wide, m.pfn(11));
        assertEquals(far << 2 | Levels.L4K, m.entry(12));
        assertEquals(far << 2 | Levels.L4K, m.tryLockPage(12), "a present page is not locked: its entry");
        assertEquals(11, m.nextPresent(11, 4096));
        assertEquals(0, m.tryLockPage(13));
        assertEquals(13, m.nextLocked(0, 4096));
        assertEquals(-1, m.pfn(13), "locked: absent");
        m.mapBlock(13, far + 1, Levels.L4K);
        assertEquals(far + 1, m.pfn(13));
        m.unmap(11, 13);
        assertEquals(-1, m.pfn(11));
        assertEquals(-1, m.pfn(12));
        assertEquals(13, m.nextPresent(11, 4096));
        m.mapBlock(12, 0x77, Levels.L4K); // a narrow PFN where a wide one was
        assertEquals(0x77, m.pfn(12));
        assertEquals(0, m.tryLockPage(11));
        m.unlockPage(11);
        assertEquals(-1, m.pfn(11));
        assertEquals(12, m.nextPresent(11, 4096));
    }
}
