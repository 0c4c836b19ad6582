package org.tdplab.mmu.tdp.slot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.mem.Levels.L1G;
import static org.tdplab.mmu.tdp.mem.Levels.L2M;
import static org.tdplab.mmu.tdp.mem.Levels.L4K;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.tdp.mem.Expect;
import org.tdplab.mmu.tdp.mem.HostMemory;

class MemAttributesTest {
    private static final long K4 = 4096, G = 1L << 30;
    private static final long P2M = 512, P1G = 1L << 18;
    private static final long MAX_GFN = Memslots.maxGfnFor(48, -1);

    private final HostMemory mem = new HostMemory(16 * G);
    private final Memslots slots = new Memslots(mem, 1, MAX_GFN, true, false, null);
    private final MemAttributes attrs = slots.attributes();

    private Memslot slot(int id, long baseGfn, long npages) {
        return slots.add(id, baseGfn * K4, npages * K4, 0, L1G);
    }

    @Test
    void vmWithoutPrivateMemoryHasNoAttributes() {
        Memslots plain = new Memslots(mem, 1, MAX_GFN, false, false, null);
        MemAttributes a = plain.attributes();
        assertFalse(a.supportsPrivate());
        Expect.errno(Errno.EINVAL, "gfn=0xa: this VM has no private memory", () -> a.set(10, 20, true));
        Expect.errno(Errno.EINVAL, "no private memory", () -> a.set(10, 20, false));
        Expect.errno(Errno.EINVAL, "gpa=0x0: this VM has no private memory", () -> a.checkIoctl(0, K4));
        assertFalse(a.isPrivate(10));
    }

    @Test
    void ioctlRangeChecks() {
        attrs.checkIoctl(0, K4);
        attrs.checkIoctl((MAX_GFN) * K4, K4);
        Expect.errno(Errno.EINVAL, "gpa=0x1001", () -> attrs.checkIoctl(0x1001, K4));
        Expect.errno(Errno.EINVAL, "size=0x800", () -> attrs.checkIoctl(0, 0x800));
        Expect.errno(Errno.EINVAL, "size=0x0", () -> attrs.checkIoctl(0, 0));
        Expect.errno(Errno.EINVAL, "gpa=0x7ffffffffffff000", () -> attrs.checkIoctl(Long.MAX_VALUE - 4095, 2 * K4));
        Expect.errno(Errno.EINVAL, "gpa=0x1000000000000", () -> attrs.checkIoctl((MAX_GFN + 1) * K4, K4));
        Expect.errno(Errno.EINVAL, "0x1000000001", () -> attrs.set(MAX_GFN, MAX_GFN + 2, true));
        Expect.errno(Errno.EINVAL, "[0x5, 0x5)", () -> attrs.set(5, 5, true));
    }

    @Test
    void setAndClear() {
        attrs.set(10, 20, true);
        assertFalse(attrs.isPrivate(9));
        assertTrue(attrs.isPrivate(10));
        assertTrue(attrs.isPrivate(19));
        assertFalse(attrs.isPrivate(20));
        assertTrue(attrs.rangeIs(10, 20, true));
        assertFalse(attrs.rangeIs(9, 20, true));
        attrs.set(15, 16, false);
        assertFalse(attrs.isPrivate(15));
        assertTrue(attrs.isPrivate(16));
        assertFalse(attrs.isPrivate(-1));
        assertFalse(attrs.isPrivate(MAX_GFN + 1));
        attrs.set(MAX_GFN, MAX_GFN + 1, true);
        assertTrue(attrs.isPrivate(MAX_GFN));
    }

    @Test
    void mixedFlagsInsideAndCoveringHugePages() {
        Memslot s = slot(1, 0, 2 * P1G);
        assertEquals(L1G, s.maxMappingLevel(5, L1G));

        attrs.set(10, 20, true); // inside 2M page 0
        assertTrue(s.isMixed(0, L2M));
        assertFalse(s.isMixed(P2M, L2M));
        assertTrue(s.isMixed(0, L1G));
        assertFalse(s.isMixed(P1G, L1G));
        assertEquals(L4K, s.maxMappingLevel(5, L1G));
        assertEquals(L2M, s.maxMappingLevel(600, L1G));
        assertEquals(L1G, s.maxMappingLevel(P1G + 5, L1G));

        attrs.set(0, P2M, true); // covers 2M page 0
        assertFalse(s.isMixed(0, L2M));
        assertTrue(s.isMixed(0, L1G), "the rest of the 1G page is still shared");
        assertEquals(L2M, s.maxMappingLevel(5, L1G));

        attrs.set(0, P1G, true); // covers 1G page 0
        assertFalse(s.isMixed(0, L1G));
        assertEquals(L1G, s.maxMappingLevel(5, L1G));

        attrs.set(P2M, 2 * P2M, false); // punches 2M page 1 back to shared
        assertFalse(s.isMixed(P2M, L2M));
        assertFalse(s.isMixed(0, L2M));
        assertTrue(s.isMixed(0, L1G));
        assertEquals(L2M, s.maxMappingLevel(P2M + 1, L1G));

        attrs.set(0, P1G, false);
        assertFalse(s.isMixed(0, L1G));
        assertFalse(s.isMixed(0, L2M));
        assertEquals(L1G, s.maxMappingLevel(5, L1G));
    }

    @Test
    void mixedFlagsForRangesStraddlingHugePages() {
        Memslot s = slot(1, 0, 2 * P1G);
        attrs.set(500, 530, true); // straddles 2M pages 0 and 1
        assertTrue(s.isMixed(0, L2M));
        assertTrue(s.isMixed(P2M, L2M));
        assertFalse(s.isMixed(2 * P2M, L2M));
        assertTrue(s.isMixed(0, L1G));

        attrs.set(0, 500, true);
        attrs.set(530, 1024, true); // head page now uniform, re-evaluated from the bits outside the range
        assertFalse(s.isMixed(0, L2M));
        assertFalse(s.isMixed(P2M, L2M));
        assertTrue(s.isMixed(0, L1G));

        attrs.set(P1G - 10, P1G + 10, true); // straddles two 1G pages
        assertTrue(s.isMixed(P1G - P2M, L2M));
        assertTrue(s.isMixed(P1G, L2M));
        assertTrue(s.isMixed(0, L1G));
        assertTrue(s.isMixed(P1G, L1G));

        attrs.set(0, 2 * P1G, true); // covers everything
        for (long g = 0; g < 2 * P1G; g += P2M)
            assertFalse(s.isMixed(g, L2M));
        assertFalse(s.isMixed(0, L1G));
        assertFalse(s.isMixed(P1G, L1G));
    }

    @Test
    void oneGigabytePageIsMixedWhenItsTwoMegabytePagesDisagree() {
        Memslot s = slot(1, 0, P1G);
        attrs.set(0, P2M, true); // 2M page 0 private, uniform; the others shared
        assertFalse(s.isMixed(0, L2M));
        assertTrue(s.isMixed(0, L1G));
        attrs.set(P2M, P1G, true);
        assertFalse(s.isMixed(0, L1G), "every 2M page is private and none is mixed");
    }

    @Test
    void hugePagesStickingOutOfTheSlotAreLeftAlone() {
        Memslot s = slot(1, P2M, 3 * P2M); // [512, 2048): no whole 1G page
        attrs.set(0, 4096, true);
        for (long g = s.baseGfn(); g < s.endGfn(); g += P2M)
            assertFalse(s.isMixed(g, L2M));
        assertFalse(s.isMixed(s.baseGfn(), L1G));
        assertEquals(1, s.disallowCount(s.baseGfn(), L1G));
        attrs.set(P2M + 3, P2M + 4, false);
        assertTrue(s.isMixed(P2M, L2M));
        assertFalse(s.isMixed(P2M, L1G), "the 1G page is not in the slot: not tracked");

        Memslot m = slots.add(2, (8 * P1G + 1) * K4, 4 * P2M * K4, 0, L2M); // misaligned base
        attrs.set(8 * P1G + 5, 8 * P1G + 6, true);
        assertFalse(m.isMixed(8 * P1G, L2M), "the head 2M page is not wholly in the slot");
        assertEquals(L4K, m.maxMappingLevel(8 * P1G + 600, L1G));
    }

    @Test
    void newAndMovedSlotsComputeMixedFromExistingAttributes() {
        attrs.set(10, 20, true);
        Memslot s = slot(1, 0, 2 * P1G);
        assertTrue(s.isMixed(0, L2M));
        assertTrue(s.isMixed(0, L1G));
        assertFalse(s.isMixed(P2M, L2M));
        assertFalse(s.isMixed(P1G, L1G));

        Memslot moved = slots.move(1, 4 * P1G * K4);
        assertFalse(moved.isMixed(4 * P1G, L2M), "attributes belong to GFNs, not to the slot");
        assertFalse(moved.isMixed(4 * P1G, L1G));
        assertTrue(attrs.isPrivate(10));

        attrs.set(4 * P1G + P2M + 1, 4 * P1G + P2M + 2, true);
        Memslot back = slots.move(1, 0);
        assertTrue(back.isMixed(0, L2M));
        assertFalse(back.isMixed(P2M, L2M));

        Memslot g = slots.add(2, 8 * P1G * K4, P1G * K4, Memslot.GMEM, L1G);
        attrs.set(8 * P1G + 7, 8 * P1G + 8, true);
        assertTrue(g.isMixed(8 * P1G, L2M), "guest_memfd slots are tracked too");
    }

    @Test
    void straddlingRangesWithinOneSlot() {
        slot(1, 0, 2 * P1G);
        assertArrayEquals(new long[] { 0, P2M, 0, P1G }, ranges(10, 20));
        assertArrayEquals(new long[] { 0, P2M, P2M, 2 * P2M, 0, P1G }, ranges(500, 530));
        assertArrayEquals(new long[] { 0, P1G }, ranges(0, P2M), "an aligned 2M range straddles only its 1G page");
        assertArrayEquals(new long[0], ranges(0, P1G));
        assertArrayEquals(new long[] { P1G - P2M, P1G, P1G, P1G + P2M, 0, P1G, P1G, 2 * P1G },
                ranges(P1G - 10, P1G + 10));

        attrs.set(10, 20, true);
        assertArrayEquals(new long[0], ranges(30, 40), "already mixed pages are not added");
        assertArrayEquals(new long[] { P2M, 2 * P2M }, ranges(P2M + 1, P2M + 2), "2M page 1, not the mixed 1G page");
    }

    @Test
    void straddlingRangesAtSlotEdgesAndAcrossSlots() {
        slot(1, 4 * P1G + P2M, 3 * P2M);
        assertArrayEquals(new long[] { 4 * P1G + P2M, 4 * P1G + 2 * P2M },
                ranges(4 * P1G + P2M + 8, 4 * P1G + P2M + 18), "the 1G page is not inside the slot");

        slot(2, 0, 2 * P2M);
        assertArrayEquals(new long[] { P2M, 2 * P2M }, ranges(600, 2000), "clipped to the slot");

        slot(3, 2 * P2M, 2 * P2M);
        assertArrayEquals(new long[] { P2M, 2 * P2M, 2 * P2M, 3 * P2M }, ranges(1000, 1100),
                "each slot contributes its own head");

        long[] small = new long[2];
        assertEquals(2, attrs.straddlingHugeRanges(1000, 1100, small), "all counted");
        assertArrayEquals(new long[] { P2M, 2 * P2M }, small, "only what fits is written");
        assertEquals(0, attrs.straddlingHugeRanges(8 * P1G, 8 * P1G + 1, new long[4]), "no slot: nothing");
    }

    @Test
    void readersSeeConsistentBitsWhileAWriterConverts() throws Exception {
        slot(1, 0, P1G);
        attrs.set(5000, 5001, true);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread reader = new Thread(() -> {
            try {
                while (!stop.get()) {
                    if (!attrs.isPrivate(5000) || attrs.isPrivate(4999) || attrs.isPrivate(5001))
                        throw new AssertionError("a GFN outside the converted range changed");
                    attrs.isPrivate(100);
                }
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        reader.start();
        for (int i = 0; i < 2000; i++)
            attrs.set(0, 4096, i % 2 == 0);
        stop.set(true);
        reader.join();
        if (failure.get() != null)
            throw new AssertionError(failure.get());
    }

    private long[] ranges(long start, long end) {
        long[] out = new long[32];
        int n = attrs.straddlingHugeRanges(start, end, out);
        return Arrays.copyOf(out, 2 * n);
    }
}
