package org.tdplab.mmu.tdp.mem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.mem.HostMemory.GMEM;
import static org.tdplab.mmu.tdp.mem.HostMemory.SHARED;
import static org.tdplab.mmu.tdp.mem.Levels.L1G;
import static org.tdplab.mmu.tdp.mem.Levels.L2M;
import static org.tdplab.mmu.tdp.mem.Levels.L4K;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;

class GuestMemfdTest {
    private static final long K4 = 4096, M2 = 2L << 20, G = 1L << 30;

    /** Records listener calls as strings, and checks what must hold at each call. */
    static final class Log implements GmemListener {
        final List<String> events = new ArrayList<>();
        final HostMemory mem;

        Log(HostMemory mem) {
            this.mem = mem;
        }

        @Override
        public void prepare(GuestMemfd f, long pfn, long index, int order) {
            assertFalse(f.populated(index), "prepare runs before the folio is visible");
            assertEquals(GMEM, mem.ownerKind(pfn));
            events.add("prepare " + index + " " + order);
        }

        @Override
        public void free(GuestMemfd f, long pfn, int order) {
            assertEquals(GMEM, mem.ownerKind(pfn), "free is heard before the frames go back");
            assertEquals(GMEM, mem.ownerKind(pfn + (1L << order) - 1));
            events.add("free " + order);
        }

        @Override
        public void invalidateBegin(GuestMemfd f, long start, long end) {
            events.add("begin " + start + " " + end);
        }

        @Override
        public void invalidateEnd(GuestMemfd f, long start, long end) {
            events.add("end " + start + " " + end);
        }
    }

    @Test
    void folioOrdersAtTheEndOf2mBackedFile() {
        HostMemory mem = new HostMemory(G);
        Log log = new Log(mem);
        GuestMemfd f = new GuestMemfd(mem, 1, M2 + K4, L2M, log);
        assertEquals(9, f.maxOrder());
        assertEquals(9, f.naturalOrder(511));
        assertEquals(0, f.naturalOrder(512));
        long p5 = f.getPfn(5);
        assertEquals(9, f.folioOrder(0));
        assertEquals(9, f.folioOrder(511));
        long head = p5 - 5;
        assertEquals(0, head % 512, "a 2M folio is 2M-aligned in host memory");
        assertEquals(head + 300, f.getPfn(300));
        assertTrue(f.populated(511));
        assertFalse(f.populated(512));
        assertEquals(-1, f.folioOrder(512));
        assertEquals(-1, f.pfnIfPresent(512));
        f.getPfn(512);
        assertEquals(0, f.folioOrder(512));
        assertEquals(List.of("prepare 0 9", "prepare 512 0"), log.events, "one prepare per folio");
        assertEquals(513, mem.framesInUse(GMEM));
        assertThrows(IllegalArgumentException.class, () -> f.getPfn(513));
    }

    /** kvm_gmem_get_pfn's pfn and max_order come together, whether the folio is made by the call or found. */
    @Test
    void getPfnAndOrderGivesThePfnAndTheFolioOrderOfOneLookUp() {
        HostMemory mem = new HostMemory(G);
        GuestMemfd f = new GuestMemfd(mem, 1, M2 + K4, L2M, null);
        long made = f.getPfnAndOrder(5, HostMemory.NO_CPU);
        assertEquals(9, GuestMemfd.maxOrderOf(made));
        assertEquals(f.pfnIfPresent(5), GuestMemfd.pfnOf(made));
        long found = f.getPfnAndOrder(300, HostMemory.NO_CPU);
        assertEquals(9, GuestMemfd.maxOrderOf(found));
        assertEquals(GuestMemfd.pfnOf(made) + 295, GuestMemfd.pfnOf(found));
        long small = f.getPfnAndOrder(512, 0);
        assertEquals(0, GuestMemfd.maxOrderOf(small));
        assertEquals(f.getPfn(512), GuestMemfd.pfnOf(small));
        assertEquals(small, f.getPfnAndOrder(512, 0), "found again: the same value");

        GuestMemfd fours = new GuestMemfd(mem, 2, 4 * K4, L4K, null);
        long p = fours.getPfnAndOrder(3, 1);
        assertEquals(0, GuestMemfd.maxOrderOf(p));
        assertEquals(fours.getPfn(3), GuestMemfd.pfnOf(p));
    }

    @Test
    void folioOrdersOfMisalignedSizesWith1gBacking() {
        HostMemory mem = new HostMemory(4 * G);
        GuestMemfd big = new GuestMemfd(mem, 1, G + M2 + 3 * K4, L1G, null);
        assertEquals(18, big.naturalOrder(0));
        assertEquals(18, big.naturalOrder((1 << 18) - 1));
        assertEquals(9, big.naturalOrder(1 << 18));
        assertEquals(0, big.naturalOrder((1 << 18) + 512));
        long p = big.getPfn(7);
        assertEquals(0, (p - 7) % (1 << 18));
        assertEquals(18, big.folioOrder(1000));
        big.getPfn((1 << 18) + 1);
        assertEquals(9, big.folioOrder(1 << 18));
        big.getPfn((1 << 18) + 514);
        assertEquals(0, big.folioOrder((1 << 18) + 514));
        assertEquals(-1, big.folioOrder((1 << 18) + 513));

        GuestMemfd small = new GuestMemfd(mem, 2, 3 * M2 + 3 * K4, L1G, null);
        assertEquals(9, small.naturalOrder(0), "1G does not fit: the largest order that does");
        assertEquals(9, small.naturalOrder(1535));
        assertEquals(0, small.naturalOrder(1536));
        small.getPfn(1000);
        assertEquals(9, small.folioOrder(1000));
    }

    @Test
    void creationChecksSize() {
        HostMemory mem = new HostMemory(G);
        Expect.errno(Errno.EINVAL, "0x1001", () -> new GuestMemfd(mem, 1, 0x1001, L4K, null));
        Expect.errno(Errno.EINVAL, "0x0", () -> new GuestMemfd(mem, 1, 0, L4K, null));
        Expect.errno(Errno.EINVAL, "level=4", () -> new GuestMemfd(mem, 1, K4, 4, null));
    }

    @Test
    void punchFreesWholeFoliosBetweenInvalidateBeginAndEnd() {
        HostMemory mem = new HostMemory(G);
        Log log = new Log(mem);
        GuestMemfd f = new GuestMemfd(mem, 1, 4 * M2, L2M, log);
        long p = f.getPfn(0);
        f.getPfn(512);
        mem.write(p + 3, 33);
        log.events.clear();
        f.punchHole(0, 2 * M2);
        assertEquals(List.of("begin 0 1024", "free 9", "free 9", "end 0 1024"), log.events);
        assertEquals(0, mem.framesInUse(GMEM));
        assertFalse(f.populated(3));
        log.events.clear();
        long again = f.getPfn(3);
        assertEquals(List.of("prepare 0 9"), log.events, "a punched folio is prepared again");
        assertEquals(0, mem.read(again), "memory after a punch reads zero");
        assertEquals(0, mem.read(again - 3 + 3));
    }

    @Test
    void punchValidation() {
        HostMemory mem = new HostMemory(G);
        Log log = new Log(mem);
        GuestMemfd f = new GuestMemfd(mem, 1, M2, L2M, log);
        Expect.errno(Errno.EINVAL, "offset=0x800", () -> f.punchHole(0x800, K4));
        Expect.errno(Errno.EINVAL, "len=0x1800", () -> f.punchHole(0, 0x1800));
        Expect.errno(Errno.EINVAL, "len=0x0", () -> f.punchHole(0, 0));
        Expect.errno(Errno.EINVAL, "offset=-0x1000".replace("-0x1000", "0xfffffffffffff000"), () -> f.punchHole(-K4, K4));
        assertTrue(log.events.isEmpty(), "refused punches do nothing");
        f.getPfn(0);
        log.events.clear();
        f.punchHole(M2, 10 * M2); // entirely beyond the end: allowed, nothing happens
        f.punchHole(4 * M2, K4);
        assertTrue(log.events.isEmpty());
        f.punchHole(0, 100 * M2); // reaching past the end: cut at the end
        assertEquals(List.of("begin 0 512", "free 9", "end 0 512"), log.events);
    }

    @Test
    void partialFolioPunchZeroesOnlyThePunchedPages() {
        HostMemory mem = new HostMemory(G);
        Log log = new Log(mem);
        GuestMemfd f = new GuestMemfd(mem, 1, M2, L2M, log);
        long head = f.getPfn(0);
        for (int i = 0; i < 512; i++)
            mem.write(head + i, 1000 + i);
        log.events.clear();
        f.punchHole(10 * K4, 10 * K4);
        assertEquals(List.of("begin 10 20", "end 10 20"), log.events, "a partly punched folio is not freed");
        assertTrue(f.populated(15));
        assertEquals(head + 15, f.getPfn(15));
        for (int i = 0; i < 512; i++)
            assertEquals(i >= 10 && i < 20 ? 0 : 1000 + i, mem.read(head + i), "page " + i);
        assertEquals(512, mem.framesInUse(GMEM));
    }

    @Test
    void punchAcrossWholeAndPartialFolios() {
        HostMemory mem = new HostMemory(G);
        Log log = new Log(mem);
        GuestMemfd f = new GuestMemfd(mem, 1, 3 * M2, L2M, log);
        for (int i = 0; i < 3; i++)
            f.getPfn(i * 512);
        long last = f.getPfn(1024);
        mem.write(last + 100, 7);
        mem.write(last, 8);
        log.events.clear();
        f.punchHole(256 * K4, (256 + 512 + 10) * K4); // half of folio 0, all of folio 1, 10 pages of folio 2
        assertEquals(List.of("begin 256 1034", "free 9", "end 256 1034"), log.events);
        assertTrue(f.populated(0));
        assertFalse(f.populated(600));
        assertTrue(f.populated(1024));
        assertEquals(0, mem.read(last));
        assertEquals(7, mem.read(last + 100));
    }

    @Test
    void closeReleasesAllFoliosAndLaterLookupsFail() {
        HostMemory mem = new HostMemory(G);
        Log log = new Log(mem);
        GuestMemfd f = new GuestMemfd(mem, 1, 2 * M2 + K4, L2M, log);
        f.getPfn(0);
        f.getPfn(1024);
        log.events.clear();
        f.close();
        assertEquals(List.of("begin 0 1025", "free 9", "free 0", "end 0 1025"), log.events);
        assertEquals(0, mem.framesInUse(GMEM));
        Expect.errno(Errno.EFAULT, "index=0x3", () -> f.getPfn(3));
        assertTrue(f.isClosed());
    }

    @Test
    void failedPrepareReturnsTheFramesAndIsRetried() {
        HostMemory mem = new HostMemory(G);
        int[] calls = { 0 };
        GuestMemfd f = new GuestMemfd(mem, 1, M2, L2M, new GmemListener() {
            @Override
            public void prepare(GuestMemfd file, long pfn, long index, int order) {
                if (calls[0]++ == 0)
                    throw new IllegalStateException("backend refused");
            }
        });
        assertThrows(IllegalStateException.class, () -> f.getPfn(1));
        assertFalse(f.populated(1));
        assertEquals(0, mem.framesInUse(GMEM));
        f.getPfn(1);
        assertEquals(2, calls[0]);
    }

    /**
     * A page reads locked while its folio is prepared (in the file, absent) and while a punch has taken it out of the
     * file and hands its frames back ({@code free}), as the kernel's folio lock holds it; not before, between, or after,
     * nor once a failed preparation let it go. For 4K folios (the page's own entry) and 2M ones (the range's lock).
     */
    @Test
    void aPageReadsLockedWhileItsFolioIsPreparedOrRemoved() {
        for (int level : new int[] { L4K, L2M }) {
            HostMemory mem = new HostMemory(G);
            List<String> seen = new ArrayList<>();
            boolean[] refuse = { true };
            GuestMemfd f = new GuestMemfd(mem, 1, M2, level, new GmemListener() {
                @Override
                public void prepare(GuestMemfd file, long pfn, long index, int order) {
                    seen.add("prepare " + file.locked(3) + " " + file.pfnIfPresent(3) + " " + file.locked(600 % 512));
                    if (refuse[0])
                        throw new IllegalStateException("backend refused");
                }

                @Override
                public void free(GuestMemfd file, long pfn, int order) {
                    seen.add("free " + file.locked(3) + " " + file.pfnIfPresent(3));
                }
            });
            assertFalse(f.locked(3));
            assertThrows(IllegalStateException.class, () -> f.getPfn(3));
            assertFalse(f.locked(3), "a failed preparation lets the page go");
            refuse[0] = false;
            f.getPfn(3);
            assertFalse(f.locked(3));
            f.punchHole(0, M2);
            assertFalse(f.locked(3), "the removal lets the page go");
            String other = level == L4K ? "false" : "true"; // a 2M folio's lock is its whole range's
            assertEquals(List.of("prepare true -1 " + other, "prepare true -1 " + other, "free true -1"), seen,
                    "level " + level);
            assertEquals(0, mem.framesInUse(GMEM));
        }
    }

    @Test
    void smallerFoliosWhenHostMemoryIsFragmented() {
        HostMemory mem = new HostMemory(4 << 20);
        long blocker = mem.alloc(L2M, SHARED, 9);
        mem.alloc(L4K, SHARED, 9); // no whole 2M block is left
        GuestMemfd f = new GuestMemfd(mem, 1, M2, L2M, null);
        long p3 = f.getPfn(3);
        assertEquals(0, f.folioOrder(3));
        assertFalse(f.populated(4));
        mem.free(blocker, L2M);
        assertEquals(0, f.naturalOrder(5), "a 2M folio would overlap the 4K one");
        f.getPfn(5);
        assertEquals(0, f.folioOrder(5));
        assertEquals(p3, f.pfnIfPresent(3), "the earlier folio is kept");
        assertEquals(2, mem.framesInUse(HostMemory.GMEM));
    }

    @Test
    void concurrentFirstTouchesOfOneFolioPrepareItOnce() throws Exception {
        HostMemory mem = new HostMemory(G);
        for (int rep = 0; rep < 40; rep++) {
            int level = rep % 2 == 0 ? L2M : L4K; // a 4K folio's lock is its page's entry
            long step = level == L2M ? 60 : 0;
            AtomicInteger prepares = new AtomicInteger();
            GuestMemfd f = new GuestMemfd(mem, 1, M2, level, new GmemListener() {
                @Override
                public void prepare(GuestMemfd file, long pfn, long index, int order) {
                    prepares.incrementAndGet();
                }
            });
            long[] seen = new long[8];
            CountDownLatch go = new CountDownLatch(1);
            Thread[] ts = new Thread[seen.length];
            for (int t = 0; t < ts.length; t++) {
                int id = t;
                ts[t] = new Thread(() -> {
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    seen[id] = f.getPfn(id * step) - id * step;
                });
                ts[t].start();
            }
            go.countDown();
            for (Thread t : ts)
                t.join();
            assertEquals(1, prepares.get());
            for (long head : seen)
                assertEquals(seen[0], head, "every thread sees the same folio");
            f.close();
        }
        assertEquals(0, mem.framesInUse(GMEM));
    }

    /**
     * A folio being prepared holds only its own range's lock: first touches of ranges a power of two away (the other
     * half of the guest, where a second vCPU faults) allocate meanwhile. With the locks chosen by the range number's
     * low bits, every range 64 × 2M away waited for it.
     */
    @Test
    void aFolioBeingPreparedDoesNotHoldUpRangesAPowerOfTwoAway() throws Exception {
        HostMemory mem = new HostMemory(2 * G);
        CountDownLatch preparing = new CountDownLatch(1), release = new CountDownLatch(1);
        GuestMemfd f = new GuestMemfd(mem, 1, G, L2M, holdingPrepareOf(0, preparing, release));
        Thread first = new Thread(() -> f.getPfn(0));
        first.start();
        preparing.await();
        Thread others = new Thread(() -> {
            for (long range = 64; range < 512; range += 64)
                f.getPfn(range * 512);
        });
        others.start();
        others.join(60_000); // a bound for a hang, not a timing: each allocation takes microseconds
        boolean done = !others.isAlive();
        release.countDown();
        first.join();
        others.join();
        assertTrue(done, "the touches of ranges 64, 128, … 448 waited for range 0's folio");
        f.close();
    }

    /** With 4K folios each page is its own range: a folio held in its prepare holds up none of its neighbours. */
    @Test
    void aFolioBeingPreparedDoesNotHoldUpItsNeighbours() throws Exception {
        CountDownLatch preparing = new CountDownLatch(1), release = new CountDownLatch(1);
        GuestMemfd f = new GuestMemfd(new HostMemory(G), 1, M2, L4K, holdingPrepareOf(0, preparing, release));
        Thread first = new Thread(() -> f.getPfn(0));
        first.start();
        preparing.await();
        Thread others = new Thread(() -> {
            for (long i = 1; i < 130; i++) // the same word of range bits, and the next two
                f.getPfn(i);
        });
        others.start();
        others.join(60_000); // a bound for a hang, not a timing
        boolean done = !others.isAlive();
        release.countDown();
        first.join();
        others.join();
        assertTrue(done, "touches of pages 1..129 waited for page 0's folio");
        f.close();
    }

    /**
     * A punch waits for an allocation in progress in its range (its folio's lock) and then
     * removes the folio it published: nothing is left allocated and unmapped, or mapped and freed.
     */
    @Test
    void aPunchWaitsForAnAllocationInProgressAndRemovesItsFolio() throws Exception {
        HostMemory mem = new HostMemory(G);
        CountDownLatch preparing = new CountDownLatch(1), release = new CountDownLatch(1);
        AtomicInteger begun = new AtomicInteger();
        GmemListener hold = holdingPrepareOf(5, preparing, release);
        GuestMemfd f = new GuestMemfd(mem, 1, M2, L4K, new GmemListener() {
            @Override
            public void prepare(GuestMemfd file, long pfn, long index, int order) {
                hold.prepare(file, pfn, index, order);
            }

            @Override
            public void invalidateBegin(GuestMemfd file, long start, long end) {
                begun.incrementAndGet();
            }
        });
        Thread fault = new Thread(() -> f.getPfn(5));
        fault.start();
        preparing.await();
        Thread puncher = new Thread(() -> f.punchHole(0, M2));
        puncher.start();
        while (puncher.isAlive() && puncher.getState() != Thread.State.TIMED_WAITING
                && puncher.getState() != Thread.State.WAITING)
            Thread.onSpinWait(); // the writer parks while the fault holds its range (or, wrongly, finishes)
        assertEquals(0, begun.get(), "the punch began while a folio was being allocated");
        release.countDown();
        fault.join();
        puncher.join();
        assertEquals(1, begun.get());
        assertFalse(f.populated(5), "the punch left the folio allocated meanwhile");
        assertEquals(0, mem.framesInUse(GMEM));
    }

    /**
     * An allocation in the punched range waits while the punch runs (the truncation holds the range's folio locks),
     * then allocates once the punch is done; the punched page it left is gone.
     */
    @Test
    void anAllocationInThePunchedRangeWaitsForThePunch() throws Exception {
        HostMemory mem = new HostMemory(G);
        CountDownLatch inPunch = new CountDownLatch(1), release = new CountDownLatch(1);
        AtomicInteger prepared = new AtomicInteger();
        GuestMemfd f = new GuestMemfd(mem, 1, M2, L4K, punchHeldIn(inPunch, release, prepared));
        f.getPfn(1);
        Thread puncher = new Thread(() -> f.punchHole(0, K4 * 4));
        puncher.start();
        inPunch.await();
        long[] got = { -2 };
        Thread fault = new Thread(() -> got[0] = f.getPfn(2));
        fault.start();
        while (fault.isAlive() && fault.getState() != Thread.State.TIMED_WAITING
                && fault.getState() != Thread.State.WAITING)
            Thread.onSpinWait(); // the allocation parks while the punch holds its range (or, wrongly, finishes)
        assertEquals(1, prepared.get(), "an allocation ran in the range a punch was removing");
        release.countDown();
        puncher.join();
        fault.join();
        assertEquals(2, prepared.get());
        assertTrue(got[0] >= 0);
        assertFalse(f.populated(1), "punched");
        assertTrue(f.populated(2), "allocated after the punch");
    }

    /**
     * An allocation outside the punched range does not wait for the punch: {@code kvm_gmem_get_pfn} takes no
     * {@code filemap_invalidate_lock}, only its folio's lock. (Fails while allocations hold the file's lock for
     * read: it waited for the punch's invalidation.)
     */
    @Test
    void anAllocationOutsideThePunchedRangeGoesOnDuringThePunch() throws Exception {
        for (int level : new int[] { L4K, L2M }) {
            HostMemory mem = new HostMemory(G);
            CountDownLatch inPunch = new CountDownLatch(1), release = new CountDownLatch(1);
            AtomicInteger prepared = new AtomicInteger();
            GuestMemfd f = new GuestMemfd(mem, 1, 2 * M2, level, punchHeldIn(inPunch, release, prepared));
            f.getPfn(1);
            Thread puncher = new Thread(() -> f.punchHole(0, M2));
            puncher.start();
            inPunch.await();
            long[] got = { -2 };
            Thread fault = new Thread(() -> got[0] = f.getPfn(M2 / K4 + 100));
            fault.start();
            fault.join(60_000); // a bound for a hang, not a timing: the allocation takes microseconds
            boolean done = !fault.isAlive();
            release.countDown();
            puncher.join();
            fault.join();
            assertTrue(done, "level " + level + ": the allocation waited for a punch of another range");
            assertTrue(got[0] >= 0);
            assertFalse(f.populated(1), "punched");
            assertTrue(f.populated(M2 / K4 + 100));
            f.close();
            assertEquals(0, mem.framesInUse(GMEM));
        }
    }

    /** Counts prepares; a punch's invalidation signals {@code inPunch} and waits for {@code release}. */
    private static GmemListener punchHeldIn(CountDownLatch inPunch, CountDownLatch release, AtomicInteger prepared) {
        return new GmemListener() {
            @Override
            public void prepare(GuestMemfd file, long pfn, long index, int order) {
                prepared.incrementAndGet();
            }

            @Override
            public void invalidateBegin(GuestMemfd file, long start, long end) {
                inPunch.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
    }

    /** A listener whose prepare of index {@code held} signals {@code preparing} and waits for {@code release}. */
    private static GmemListener holdingPrepareOf(long held, CountDownLatch preparing, CountDownLatch release) {
        return new GmemListener() {
            @Override
            public void prepare(GuestMemfd file, long pfn, long index, int order) {
                if (index != held)
                    return;
                preparing.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
    }

    @Test
    void anUnbindWaitsForAPunchSoItsInvalidationEndsAtTheBindingItBeganAt() throws Exception {
        CountDownLatch inPunch = new CountDownLatch(1), unbindTried = new CountDownLatch(1);
        long[] seen = new long[2];
        Thread[] unbinder = new Thread[1];
        GuestMemfd f = new GuestMemfd(new HostMemory(G), 1, M2, L4K, new GmemListener() {
            @Override
            public void invalidateBegin(GuestMemfd file, long start, long end) {
                seen[0] = file.gfnOf(start);
                inPunch.countDown();
                try {
                    unbindTried.await();
                    // the unbinder stays blocked on the file while the punch runs
                    long deadline = System.nanoTime() + 10_000_000_000L;
                    while (!waitsForALock(unbinder[0]) && unbinder[0].isAlive() && System.nanoTime() < deadline)
                        Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public void invalidateEnd(GuestMemfd file, long start, long end) {
                seen[1] = file.gfnOf(start);
            }
        });
        f.bind(0x1000);
        f.getPfn(3);
        Thread puncher = new Thread(() -> f.punchHole(0, K4 * 8));
        puncher.start();
        inPunch.await();
        unbinder[0] = new Thread(() -> f.bind(-1));
        unbinder[0].start();
        unbindTried.countDown();
        puncher.join(30_000);
        unbinder[0].join(30_000);
        assertEquals(0x1000, seen[0]);
        assertEquals(0x1000, seen[1], "the punch's invalidation ended at another binding than it began at");
        assertEquals(-1, f.gfnOf(3), "the unbind took effect after the punch");
    }

    private static boolean waitsForALock(Thread t) {
        Thread.State s = t.getState();
        return s == Thread.State.BLOCKED || s == Thread.State.WAITING;
    }

    @Test
    void faultsOnDifferentFoliosPrepareThemAtOnce() throws Exception {
        // the kernel's faults lock only their folio: one fault's prepare does not hold up another folio's
        CountDownLatch firstIn = new CountDownLatch(1), secondIn = new CountDownLatch(1);
        boolean[] sawSecond = new boolean[1];
        GuestMemfd f = new GuestMemfd(new HostMemory(G), 1, M2, L4K, new GmemListener() {
            @Override
            public void prepare(GuestMemfd file, long pfn, long index, int order) {
                if (index == 0) {
                    firstIn.countDown();
                    try {
                        sawSecond[0] = secondIn.await(30, java.util.concurrent.TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                } else {
                    secondIn.countDown();
                }
            }
        });
        Thread first = new Thread(() -> f.getPfn(0));
        first.start();
        firstIn.await();
        Thread second = new Thread(() -> f.getPfn(100));
        second.start();
        first.join(60_000);
        second.join(60_000);
        assertTrue(sawSecond[0], "the second folio waited for the first one's prepare");
        assertTrue(f.populated(0) && f.populated(100));
    }

    @Test
    void bindingMapsIndexesToGfns() {
        GuestMemfd f = new GuestMemfd(new HostMemory(G), 1, M2, L2M, null);
        assertEquals(-1, f.gfnOf(3));
        f.bind(0x1000);
        assertEquals(0x1003, f.gfnOf(3));
    }
}
