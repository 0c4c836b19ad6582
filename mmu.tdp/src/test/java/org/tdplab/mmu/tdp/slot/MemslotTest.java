package org.tdplab.mmu.tdp.slot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.mem.Levels.L1G;
import static org.tdplab.mmu.tdp.mem.Levels.L2M;
import static org.tdplab.mmu.tdp.mem.Levels.L4K;
import static org.tdplab.mmu.tdp.slot.Memslot.DIRTY_LOG;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.tdp.mem.Expect;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mem.PfnMap;

class MemslotTest {
    private static final long K4 = 4096, M2 = 2L << 20, G = 1L << 30;
    private static final long P2M = 512, P1G = 1L << 18;

    private final HostMemory mem = new HostMemory(16 * G);
    private final Memslots slots = new Memslots(mem, 1, Memslots.maxGfnFor(48, -1), false, false, null);

    @Test
    void sharedMemoryComesInAlignedBackingBlocks() {
        Memslot s = slots.add(1, 0, 4 * M2, 0, L2M);
        assertEquals(L4K, s.hostMappingLevel(5), "not touched yet");
        assertEquals(-1, s.hvaPfnIfPresent(5));
        long p5 = s.hvaPfn(5);
        assertEquals(0, (p5 - 5) % 512, "the host block is 2M-aligned");
        assertEquals(p5 - 5 + 511, s.hvaPfnIfPresent(511));
        assertEquals(L2M, s.hostMappingLevel(0));
        assertEquals(L2M, s.hostMappingLevel(511));
        assertEquals(L4K, s.hostMappingLevel(512), "the next block is not present");
        assertEquals(512, mem.framesInUse(HostMemory.SHARED));
        assertEquals(HostMemory.SHARED, mem.ownerKind(p5));
        assertEquals(0, mem.read(p5), "first touch gives zeroed memory");
        assertThrows(IllegalArgumentException.class, () -> s.hvaPfn(4 * P2M));
    }

    @Test
    void slotTailSmallerThanTheBackingUses4kPages() {
        Memslot s = slots.add(1, 0, 3 * M2 / 2 * 1, 0, L2M); // 3M: one 2M block, then 1M of 4K pages
        s.hvaPfn(10);
        s.hvaPfn(600);
        assertEquals(L2M, s.hostMappingLevel(10));
        assertEquals(L4K, s.hostMappingLevel(600));
        assertEquals(512 + 1, mem.framesInUse(HostMemory.SHARED));
    }

    @Test
    void hostMappingLevelNeedsGfnAndHostAlignment() {
        Memslot aligned1g = slots.add(1, 0, G, 0, L1G);
        aligned1g.hvaPfn(12345);
        assertEquals(L1G, aligned1g.hostMappingLevel(0));
        assertEquals(L1G, aligned1g.maxMappingLevel(12345, L1G, false));

        Memslot only2m = slots.add(2, 2 * G + M2, G, 0, L1G); // base 2M-aligned, not 1G-aligned
        only2m.hvaPfn(only2m.baseGfn());
        assertEquals(L2M, only2m.hostMappingLevel(only2m.baseGfn() + 7), "the 1G host page straddles guest 1G pages");

        Memslot misaligned = slots.add(3, 4 * G + K4, 4 * M2, 0, L2M);
        misaligned.hvaPfn(misaligned.baseGfn());
        assertEquals(L4K, misaligned.hostMappingLevel(misaligned.baseGfn()));
        assertEquals(L4K, misaligned.maxMappingLevel(misaligned.baseGfn() + 600, L1G, false));
    }

    /** The fault's one look-up gives what the two it replaced give, faulting the page in as {@code hvaPfn} does. */
    @Test
    void hvaPfnAndLevelIsTheHostPfnAndMappingLevelTogether() {
        Memslot linear = slots.add(1, 0, 4 * M2, 0, L4K); // 4K backing: 2M blocks mapped at 4K
        Memslot huge = slots.add(2, 2 * G + M2, G, 0, L1G); // a 1G host page straddling guest 1G pages
        Memslot misaligned = slots.add(3, 4 * G + K4, 4 * M2, 0, L2M);
        for (Memslot s : List.of(linear, huge, misaligned))
            for (long gfn : new long[] { s.baseGfn(), s.baseGfn() + 7, s.baseGfn() + 600, s.endGfn() - 1 }) {
                long got = s.hvaPfnAndLevel(gfn);
                assertEquals(s.hvaPfnIfPresent(gfn), PfnMap.pfnOf(got), "the pfn, now present, of gfn " + gfn);
                assertEquals(s.hostMappingLevel(gfn), PfnMap.levelOf(got), "the level of gfn " + gfn);
            }
        assertEquals(L4K, PfnMap.levelOf(linear.hvaPfnAndLevel(3)));
        assertEquals(L2M, PfnMap.levelOf(huge.hvaPfnAndLevel(huge.baseGfn() + 3)));
        assertEquals(L4K, PfnMap.levelOf(misaligned.hvaPfnAndLevel(misaligned.baseGfn() + 3)));
        assertThrows(IllegalArgumentException.class, () -> linear.hvaPfnAndLevel(4 * P2M));
    }

    @Test
    void discardSharedSplitsHostHugePagesAndFreesWholeOnes() {
        Memslot s = slots.add(1, 0, 2 * M2, 0, L2M);
        long head = s.hvaPfn(0);
        s.hvaPfn(512);
        for (int i = 0; i < 512; i++)
            mem.write(head + i, 100 + i);
        s.discardShared(10, 20);
        for (int i = 0; i < 512; i++) {
            if (i >= 10 && i < 20) {
                assertEquals(-1, s.hvaPfnIfPresent(i));
            } else {
                assertEquals(head + i, s.hvaPfnIfPresent(i), "kept pages keep their frame");
                assertEquals(100 + i, mem.read(head + i));
                assertEquals(L4K, s.hostMappingLevel(i), "the host huge page was split");
            }
        }
        assertEquals(L2M, s.hostMappingLevel(600), "the other block is untouched");
        assertEquals(1024 - 10, mem.framesInUse(HostMemory.SHARED));
        long fresh = s.hvaPfn(12);
        assertEquals(0, mem.read(fresh), "a page touched again after a discard reads zero");
        s.discardShared(0, 10_000); // clipped to the slot
        assertEquals(0, mem.framesInUse(HostMemory.SHARED));
        assertEquals(-1, s.hvaPfnIfPresent(600));
    }

    @Test
    void discardPartOfA1gHostPage() {
        Memslot s = slots.add(1, 0, G, 0, L1G);
        long head = s.hvaPfn(0);
        mem.write(head + P2M * 3 + 1, 9);
        s.discardShared(P2M + 5, P2M * 2 + 7); // splits 1G → 2M, then two 2M → 4K
        assertEquals(L2M, s.hostMappingLevel(0));
        assertEquals(L4K, s.hostMappingLevel(P2M));
        assertEquals(L4K, s.hostMappingLevel(P2M * 2 + 8));
        assertEquals(L2M, s.hostMappingLevel(P2M * 3));
        assertEquals(9, mem.read(s.hvaPfn(P2M * 3 + 1)));
        assertEquals(P1G - (P2M + 2), mem.framesInUse(HostMemory.SHARED));
    }

    @Test
    void lpageInfoOfAnAlignedSlotDisallowsOnlyThePartialTail() {
        Memslot s = slots.add(1, 0, G + M2 + 8 * K4, 0, L1G); // 1G + 2M + 8 pages
        assertEquals(P1G / P2M + 2, s.lpageCount(L2M));
        assertEquals(2, s.lpageCount(L1G));
        assertEquals(0, s.disallowCount(0, L2M));
        assertEquals(0, s.disallowCount(P1G, L2M), "the 2M page after 1G is whole");
        assertEquals(1, s.disallowCount(P1G + P2M, L2M), "tail 2M page sticks out");
        assertEquals(0, s.disallowCount(0, L1G));
        assertEquals(1, s.disallowCount(P1G, L1G), "tail 1G page sticks out");
        assertEquals(L1G, s.maxMappingLevel(100, L1G));
        assertEquals(L2M, s.maxMappingLevel(100, L2M), "capped by maxLevel");
        assertEquals(L2M, s.maxMappingLevel(P1G + 3, L1G));
        assertEquals(L4K, s.maxMappingLevel(P1G + P2M + 3, L1G));
    }

    @Test
    void guestInhibitForbidsThatLevelForGoodAndLeavesTheCountsAlone() {
        Memslot s = slots.add(1, 0, 2 * G, 0, L1G);
        assertFalse(s.guestInhibited(P2M + 5, L2M));
        s.setGuestInhibit(P2M + 5, L2M); // a 4K accept inside the second 2M page
        s.setGuestInhibit(P2M + 5, L1G);
        assertTrue(s.guestInhibited(P2M, L2M));
        assertTrue(s.guestInhibited(0, L1G));
        assertFalse(s.guestInhibited(0, L2M), "only the huge page containing the GFN");
        assertFalse(s.guestInhibited(P1G, L1G));
        assertEquals(L4K, s.maxMappingLevel(P2M + 9, L1G));
        assertEquals(L2M, s.maxMappingLevel(3 * P2M, L1G), "its neighbours may still map 2M, not 1G");
        assertEquals(L1G, s.maxMappingLevel(P1G + 7, L1G));
        assertEquals(0, s.disallowCount(P2M, L2M), "the flag is not a count");
        s.disallowLpage(P2M + 5);
        assertEquals(1, s.disallowCount(P2M, L2M));
        s.allowLpage(P2M + 5);
        assertEquals(0, s.disallowCount(P2M, L2M));
        assertTrue(s.guestInhibited(P2M, L2M), "never cleared");
    }

    @Test
    void lpageInfoHeadAndMisalignment() {
        // base 2M-aligned but not 1G-aligned: every 1G page disallowed (GFN/host alignment differ), 2M fine
        Memslot a = slots.add(1, P2M * 3 * K4, 4 * M2, 0, L2M);
        for (long g = a.baseGfn(); g < a.endGfn(); g += P2M) {
            assertEquals(0, a.disallowCount(g, L2M));
            assertEquals(1, a.disallowCount(g, L1G));
            assertEquals(L2M, a.maxMappingLevel(g, L1G));
        }
        // base misaligned by 4K: the head page and, by alignment, every 2M page are disallowed
        Memslot b = slots.add(2, 64 * M2 + K4, 4 * M2, 0, L2M);
        assertEquals(5, b.lpageCount(L2M));
        for (long g = b.baseGfn(); g < b.endGfn(); g += 100)
            assertEquals(L4K, b.maxMappingLevel(g, L1G));
        // a slot inside one 2M page: head and tail are the same entry, counted once
        Memslot c = slots.add(3, 128 * M2 + 8 * K4, 8 * K4, 0, L2M);
        assertEquals(1, c.lpageCount(L2M));
        assertEquals(1, c.disallowCount(c.baseGfn(), L2M));
    }

    @Test
    void disallowAndAllowLpage() {
        Memslot s = slots.add(1, 0, G, 0, L1G);
        s.disallowLpage(600);
        assertEquals(L4K, s.maxMappingLevel(600, L1G));
        assertEquals(L2M, s.maxMappingLevel(0, L1G), "other 2M pages stay huge, the 1G page does not");
        s.disallowLpage(601);
        s.allowLpage(600);
        assertEquals(L4K, s.maxMappingLevel(600, L1G));
        s.allowLpage(601);
        assertEquals(L1G, s.maxMappingLevel(600, L1G));
        assertThrows(IllegalStateException.class, () -> s.allowLpage(600));
    }

    @Test
    void maxMappingLevelOfSharedMemoryIsCappedByTheHost() {
        Memslot s = slots.add(1, 0, G, 0, L2M);
        s.hvaPfn(0);
        assertEquals(L2M, s.maxMappingLevel(0, L1G, false));
        assertEquals(L1G, s.maxMappingLevel(0, L1G, true), "private: no host check");
        assertEquals(L4K, s.maxMappingLevel(P2M, L1G, false), "host page not present");
        assertEquals(L4K, s.maxMappingLevel(0, L4K, false));
    }

    @Test
    void dirtyBitmap() {
        Memslot s = slots.add(1, 0x100 * K4, 200 * K4, DIRTY_LOG, L4K);
        long base = s.baseGfn();
        assertTrue(s.markDirty(base + 3));
        assertFalse(s.markDirty(base + 3), "already dirty");
        s.markDirty(base + 64);
        s.markDirty(base + 199);
        assertEquals(3, s.dirtyCount());
        long[] snap = s.snapshotDirty();
        assertArrayEquals(new long[] { 1L << 3, 1L, 0, 1L << (199 - 192) }, snap);
        assertEquals(3, s.dirtyCount(), "a snapshot does not clear");
        assertEquals(1L << 3, s.getAndClearDirty(base, -1L));
        assertEquals(0, s.getAndClearDirty(base, -1L));
        Expect.errno(Errno.EINVAL, "first page 1", () -> s.getAndClearDirty(base + 1, 1));
        assertEquals(0, s.getAndClearDirty(base + 64, 2L), "only the masked bits are cleared and returned");
        assertTrue(s.isDirty(base + 64));
        long[] all = s.getAndClearDirty();
        assertArrayEquals(new long[] { 0, 1L, 0, 1L << 7 }, all);
        assertEquals(0, s.dirtyCount());
    }

    @Test
    void concurrentDirtyMarking() throws Exception {
        Memslot s = slots.add(1, 0, 4096 * K4, DIRTY_LOG, L4K);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            int id = t;
            Thread th = new Thread(() -> {
                for (long g = id; g < 4096; g += 4)
                    s.markDirty(g);
            });
            ts.add(th);
            th.start();
        }
        for (Thread t : ts)
            t.join();
        assertEquals(4096, s.dirtyCount(), "no concurrent bit set may be lost");
    }
}
