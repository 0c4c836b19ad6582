package org.tdplab.mmu.tdp.slot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.mem.Levels.L1G;
import static org.tdplab.mmu.tdp.mem.Levels.L2M;
import static org.tdplab.mmu.tdp.mem.Levels.L4K;
import static org.tdplab.mmu.tdp.slot.Memslot.DIRTY_LOG;
import static org.tdplab.mmu.tdp.slot.Memslot.GMEM;
import static org.tdplab.mmu.tdp.slot.Memslot.READONLY;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.tdp.mem.Expect;
import org.tdplab.mmu.tdp.mem.HostMemory;

class MemslotsTest {
    private static final long K4 = 4096, M2 = 2L << 20, G = 1L << 30;
    private static final long MAX_GFN = Memslots.maxGfnFor(48, -1);

    private final HostMemory mem = new HostMemory(16 * G);

    private Memslots plain() {
        return new Memslots(mem, 1, MAX_GFN, false, false, null);
    }

    private Memslots priv() {
        return new Memslots(mem, 1, MAX_GFN, true, false, null);
    }

    @Test
    void maxGfnFollowsGpawAndSharedBit() {
        assertEquals((1L << 36) - 1, Memslots.maxGfnFor(48, -1));
        assertEquals((1L << 35) - 1, Memslots.maxGfnFor(48, 47));
        assertEquals((1L << 39) - 1, Memslots.maxGfnFor(52, 51));
    }

    @Test
    void idRange() {
        Memslots s = plain();
        Expect.errno(Errno.EINVAL, "slot -1", () -> s.add(-1, 0, M2, 0, L4K));
        Expect.errno(Errno.EINVAL, "slot 32764", () -> s.add(Memslots.USER_SLOTS, 0, M2, 0, L4K));
        Expect.errno(Errno.EINVAL, "slot 40000", () -> s.add(40000, 0, M2, 0, L4K));
        s.add(32763, 0, M2, 0, L4K);
        s.add(0, M2, M2, 0, L4K);
    }

    @Test
    void sizeAndAddressChecks() {
        Memslots s = plain();
        Expect.errno(Errno.EINVAL, "size=0x0", () -> s.add(1, 0, 0, 0, L4K));
        Expect.errno(Errno.EINVAL, "size=0x1001", () -> s.add(1, 0, 0x1001, 0, L4K));
        Expect.errno(Errno.EINVAL, "size=0xfffffffffffff000", () -> s.add(1, 0, -K4, 0, L4K));
        Expect.errno(Errno.EINVAL, "gpa=0x1800", () -> s.add(1, 0x1800, K4, 0, L4K));
        Expect.errno(Errno.EINVAL, "gpa=0xfffffffffffff000", () -> s.add(1, -K4, K4, 0, L4K));
        Expect.errno(Errno.EINVAL, "size=0x80000000000", () -> s.add(1, 0, 1L << 43, 0, L4K)); // > MAX_NR_PAGES
        long limit = (MAX_GFN + 1) * K4;
        Expect.errno(Errno.EINVAL, "gpa=0xfffffffff000", () -> s.add(1, limit - K4, 2 * K4, 0, L4K));
        Expect.errno(Errno.EINVAL, "gpa=0x1000000000000", () -> s.add(1, limit, K4, 0, L4K));
        s.add(1, limit - K4, K4, 0, L4K); // the last page is usable
        Expect.errno(Errno.EINVAL, "level=0", () -> s.add(2, 0, K4, 0, 0));
        Expect.errno(Errno.EINVAL, "level=4", () -> s.add(2, 0, K4, 0, 4));
        assertEquals(1, s.snapshot().size(), "refused adds change nothing");
    }

    @Test
    void gpaLimitBelowTheSharedBit() {
        Memslots s = new Memslots(mem, 1, Memslots.maxGfnFor(48, 47), true, true, null);
        long shared = 1L << 47;
        Expect.errno(Errno.EINVAL, "gpa=0x800000000000", () -> s.add(1, shared, M2, 0, L4K));
        Expect.errno(Errno.EINVAL, "gpa=0x7fffffe00000", () -> s.add(1, shared - M2, 2 * M2, 0, L4K));
        s.add(1, shared - M2, M2, 0, L4K);
    }

    @Test
    void flagChecks() {
        Memslots p = priv();
        Expect.errno(Errno.EINVAL, "gmem,readonly", () -> p.add(1, 0, M2, GMEM | READONLY, L2M));
        Expect.errno(Errno.EINVAL, "gmem,dirty_log", () -> p.add(1, 0, M2, GMEM | DIRTY_LOG, L2M));
        Expect.errno(Errno.EINVAL, "flags=0x8", () -> p.add(1, 0, M2, 8, L2M));
        Expect.errno(Errno.EINVAL, "unknown flags 0x10", () -> p.add(1, 0, M2, 0x10 | GMEM, L2M));
        p.add(1, 0, M2, GMEM, L2M);
        p.add(2, M2, M2, READONLY | DIRTY_LOG, L2M); // private VM without protected state: read-only allowed

        Memslots noPriv = plain();
        Expect.errno(Errno.EINVAL, "no private memory", () -> noPriv.add(1, 0, M2, GMEM, L2M));
        noPriv.add(1, 0, M2, READONLY, L2M);

        Memslots protectedVm = new Memslots(mem, 1, MAX_GFN, true, true, null);
        Expect.errno(Errno.EINVAL, "readonly", () -> protectedVm.add(1, 0, M2, READONLY, L2M));
        protectedVm.add(1, 0, M2, GMEM, L2M);
        protectedVm.add(2, M2, M2, DIRTY_LOG, L2M);
    }

    @Test
    void overlapAndDuplicateId() {
        Memslots s = plain();
        s.add(1, 4 * M2, 2 * M2, 0, L2M);
        Expect.errno(Errno.EEXIST, "slot 1", () -> s.add(2, 3 * M2, 2 * M2, 0, L2M));  // head
        Expect.errno(Errno.EEXIST, "slot 1", () -> s.add(2, 5 * M2, 2 * M2, 0, L2M));  // tail
        Expect.errno(Errno.EEXIST, "slot 1", () -> s.add(2, 5 * M2, K4, 0, L2M));      // inside
        Expect.errno(Errno.EEXIST, "slot 1", () -> s.add(2, 0, 16 * M2, 0, L2M));      // around
        Expect.errno(Errno.EEXIST, "slot 1: already exists", () -> s.add(1, 0, M2, 0, L2M));
        s.add(2, 3 * M2, M2, 0, L2M); // adjacent below
        s.add(3, 6 * M2, M2, 0, L2M); // adjacent above
        assertEquals(3, s.snapshot().size());
    }

    @Test
    void checksComeInKernelOrder() {
        Memslots s = plain();
        s.add(1, 0, M2, 0, L2M);
        // misaligned and overlapping: the alignment check comes first
        Expect.errno(Errno.EINVAL, "size=0x1001", () -> s.add(2, 0, 0x1001, 0, L2M));
        // overlapping and beyond the limit: overlap is checked before the GPA limit
        long limit = (MAX_GFN + 1) * K4;
        s.add(3, limit - M2, M2, 0, L2M);
        Expect.errno(Errno.EEXIST, "slot 3", () -> s.add(4, limit - M2, 2 * M2, 0, L2M));
        // bad flags and bad id: flags first
        Expect.errno(Errno.EINVAL, "flags=0x8", () -> s.add(-5, 0, M2, 8, L2M));
    }

    @Test
    void lookupAfterAddDeleteMove() {
        Memslots s = plain();
        long g0 = s.generation();
        Memslot a = s.add(1, 0x100000, 0x10000, 0, L4K);   // gfn [0x100, 0x110)
        Memslot b = s.add(2, 0x200000, 0x1000, 0, L4K);    // gfn [0x200, 0x201)
        Memslot c = s.add(3, 0x110000, 0x1000, 0, L4K);    // gfn [0x110, 0x111): adjacent to a
        assertTrue(s.generation() > g0);
        assertSame(a, s.find(0x100));
        assertSame(a, s.find(0x10f));
        assertSame(c, s.find(0x110));
        assertNull(s.find(0x111));
        assertNull(s.find(0xff));
        assertSame(b, s.find(0x200));
        assertNull(s.find(0x201));
        assertNull(s.find(-1));
        assertSame(b, s.get(2));
        assertEquals(List.of(a, c, b), list(s.snapshot()), "iteration in GFN order");
        assertEquals(1, s.snapshot().firstEndingAfter(0x110));
        assertEquals(3, s.snapshot().firstEndingAfter(0x201));

        long g1 = s.generation();
        s.delete(3);
        assertNull(s.find(0x110));
        assertNull(s.get(3));
        assertTrue(s.generation() > g1);

        long g2 = s.generation();
        Memslot moved = s.move(1, 0x400000);
        assertNotSame(a, moved);
        assertEquals(1, moved.id());
        assertEquals(0x400, moved.baseGfn());
        assertNull(s.find(0x100));
        assertSame(moved, s.find(0x40f));
        assertTrue(a.isInvalid());
        assertFalse(moved.isInvalid());
        assertTrue(s.generation() > g2);
        assertSame(moved, s.move(1, 0x400000), "same address: nothing to change");
    }

    @Test
    void unknownIdsAndBadMoves() {
        Memslots p = priv();
        Expect.errno(Errno.EINVAL, "slot 9", () -> p.delete(9));
        Expect.errno(Errno.EINVAL, "slot 9", () -> p.move(9, 0));
        Expect.errno(Errno.EINVAL, "slot 9", () -> p.setDirtyLog(9, true, false));
        Expect.errno(Errno.EINVAL, "slot 40000", () -> p.delete(40000));
        Memslot g = p.add(1, 0, M2, GMEM, L2M);
        Memslot s = p.add(2, M2, M2, 0, L2M);
        Expect.errno(Errno.EINVAL, "slot 1: a guest_memfd slot cannot be moved", () -> p.move(1, 8 * M2));
        Expect.errno(Errno.EEXIST, "slot 1", () -> p.move(2, M2 / 2));
        Expect.errno(Errno.EINVAL, "gpa=0x1234", () -> p.move(2, 0x1234));
        long generation = p.generation();
        Expect.errno(Errno.EINVAL, "gpa=0x1000000000000", () -> p.move(2, (MAX_GFN + 1) * K4));
        assertEquals(generation, p.generation(), "a refused move changes nothing");
        assertFalse(s.isInvalid());
        assertSame(s, p.find(M2 >> 12));
        assertSame(g, p.find(0));
    }

    @Test
    void deleteFlushesWhileTheSlotIsInvalidThenFreesItsMemory() {
        Memslots p = new Memslots(mem, 5, MAX_GFN, true, false, null);
        Memslot slot = p.add(1, 0, 2 * M2, GMEM, L2M);
        slot.hvaPfn(3);
        assertEquals(-1, slot.gmemPfnIfPresent(600));
        long gp = slot.gmemPfn(600);
        assertEquals(gp, slot.gmemPfnIfPresent(600));
        assertEquals(gp, slot.gmem().pfnIfPresent(600), "offset 0 binding: index = gfn - base");
        assertEquals(512, mem.framesInUse(HostMemory.SHARED));
        assertEquals(512, mem.framesInUse(HostMemory.GMEM));
        assertEquals(5, mem.ownerId(slot.hvaPfn(3)));
        List<String> seen = new ArrayList<>();
        p.delete(1, s -> {
            assertSame(slot, s);
            assertTrue(s.isInvalid(), "flushed only after being marked invalid");
            assertSame(slot, p.find(3), "still in the set while flushing");
            seen.add("flush");
        });
        assertEquals(List.of("flush"), seen);
        assertNull(p.find(3));
        assertEquals(0, mem.framesInUse(HostMemory.SHARED));
        assertEquals(0, mem.framesInUse(HostMemory.GMEM));
        assertTrue(slot.gmem().isClosed());
        Expect.errno(Errno.EFAULT, "gone", () -> slot.hvaPfn(7));
        // the id and range can be reused, and the memory reads zero
        Memslot again = p.add(1, 0, 2 * M2, GMEM, L2M);
        assertEquals(0, mem.read(again.hvaPfn(3)));
    }

    @Test
    void moveKeepsContentsAndDirtyLog() {
        Memslots s = plain();
        Memslot a = s.add(1, 0, 2 * M2, DIRTY_LOG, L2M);
        long pfn = a.hvaPfn(5);
        mem.write(pfn, 0xabc);
        a.markDirty(70);
        List<Memslot> flushed = new ArrayList<>();
        Memslot b = s.move(1, 16 * M2, flushed::add);
        assertEquals(List.of(a), flushed);
        long base = 16 * 512;
        assertEquals(pfn, b.hvaPfn(base + 5), "the host memory moves with the slot");
        assertEquals(0xabc, mem.read(b.hvaPfn(base + 5)));
        assertTrue(b.isDirty(base + 70));
        assertTrue(b.isDirtyLogging());
        assertEquals(512, mem.framesInUse(HostMemory.SHARED), "nothing was freed or copied");
    }

    @Test
    void dirtyLogEnableDisable() {
        Memslots p = priv();
        Memslot g = p.add(1, 0, M2, GMEM, L2M);
        Memslot s = p.add(2, M2, M2 / 2, 0, L2M);
        Expect.errno(Errno.EINVAL, "slot 1: dirty_log", () -> p.setDirtyLog(1, true, false));
        Expect.errno(Errno.ENOENT, "slot 2: dirty logging is not enabled", () -> p.dirtyLogSlot(2));
        Expect.errno(Errno.ENOENT, "slot 7: no such memslot", () -> p.dirtyLogSlot(7));
        assertFalse(s.markDirty(512), "no logging: nothing is recorded");
        long gen = p.generation();
        p.setDirtyLog(2, true, true);
        assertTrue(p.generation() > gen);
        assertSame(s, p.dirtyLogSlot(2));
        assertEquals(256, s.dirtyCount(), "initially set");
        p.setDirtyLog(2, false, false);
        assertEquals(0, s.dirtyCount());
        p.setDirtyLog(2, true, false);
        assertEquals(0, s.dirtyCount());
        assertTrue(s.markDirty(512 + 3));
        assertFalse(g.isDirtyLogging());
    }

    /**
     * A writer adds, moves and deletes slots while readers look GFNs up. A reader must only ever see a slot that
     * contains the GFN, a sorted disjoint snapshot, and the permanent slot at every lookup.
     */
    @Test
    void concurrentReadersNeverSeeATornState() throws Exception {
        Memslots s = plain();
        Memslot fixed = s.add(0, 0, 64 * K4, 0, L4K); // gfn [0, 64)
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong lookups = new AtomicLong();
        List<Thread> readers = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            Thread t = new Thread(() -> {
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                try {
                    while (!stop.get()) {
                        long gfn = rnd.nextLong(0, 4096);
                        Memslot m = s.find(gfn);
                        if (m != null && !m.contains(gfn))
                            throw new AssertionError("gfn " + gfn + " found in " + m);
                        if (gfn < 64 && m != fixed)
                            throw new AssertionError("the permanent slot vanished at gfn " + gfn);
                        Memslots.Snapshot snap = s.snapshot();
                        for (int i = 1; i < snap.size(); i++)
                            if (snap.get(i - 1).endGfn() > snap.get(i).baseGfn())
                                throw new AssertionError("unsorted or overlapping snapshot");
                        lookups.incrementAndGet();
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            readers.add(t);
            t.start();
        }
        long deadline = System.nanoTime() + 400_000_000L;
        int n = 0;
        while (System.nanoTime() < deadline && failure.get() == null) {
            int id = 1 + n % 8;
            long gpa = (64 + (n % 8) * 256) * K4;
            if (s.get(id) == null)
                s.add(id, gpa, 128 * K4, 0, L4K);
            else if (n % 3 == 0)
                s.delete(id);
            else
                s.move(id, s.get(id).baseGpa() == gpa ? gpa + 128 * K4 : gpa);
            n++;
        }
        stop.set(true);
        for (Thread t : readers)
            t.join();
        if (failure.get() != null)
            throw new AssertionError(failure.get());
        assertTrue(lookups.get() > 1000, "readers ran: " + lookups.get());
        assertTrue(n > 100, "writer ran: " + n);
    }

    private static List<Memslot> list(Iterable<Memslot> it) {
        List<Memslot> l = new ArrayList<>();
        it.forEach(l::add);
        return l;
    }
}
