package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.tdp.mem.GmemListener;
import org.tdplab.mmu.tdp.mem.GuestMemfd;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mem.Levels;

/**
 * guest_memfd's allocations against its writers (the folio locks and {@code filemap_invalidate_lock} of {@code
 * FolioLocks}): an allocation takes only its range's lock and then looks for a writer; a writer announces the ranges
 * it works on and then waits for the allocations in progress there. Two faults race a punch of the range of one of
 * them, then a close: no folio is prepared in a range while a punch of it is between its invalidation's begin and end,
 * a fault's folio is in the file when its getPfn returns unless the punch removed it, and once closed
 * every frame is back (a folio made while the writer removed the range would be left mapped in a dropped page map and
 * its frame lost). For a file of 4K folios (the lock is the page's entry) and of 2M folios (a bit per range).
 * Fails with the writer's wait for allocations in progress left out (checked: 4K at iteration 1, 2M at 23: a folio
 * prepared inside the punch), with a locked page counted present by the punch's scan (checked: 4K at iteration 27, the
 * punch read the page's PFN as -1: an allocation that locked it after the writer's wait and was letting it go), and
 * with the allocation's look for a writer moved before its lock (checked: 2M at iteration 22; with 4K folios no
 * scheduling point lies between the two, so Fray cannot tell them apart), and with the look left out of the lock's
 * first try, its fast path (checked 2026-12-07: 2M at iteration 3).
 */
@ExtendWith(FrayTestExtension.class)
class GmemWriterRaceTest {
    private static final long K4 = 4096, M2 = 2L << 20;

    @ConcurrencyTest(iterations = 400)
    void faultsAgainstAPunchAndAClose4k() throws Exception {
        race(Levels.L4K);
    }

    @ConcurrencyTest(iterations = 400)
    void faultsAgainstAPunchAndAClose2m() throws Exception {
        race(Levels.L2M);
    }

    private static void race(int level) throws Exception {
        HostMemory mem = new HostMemory(64L << 20);
        long punched = level == Levels.L4K ? 1 : 0, other = level == Levels.L4K ? 2 : M2 / K4 + 3;
        long[] window = { -1, -1 }; // the punch's [start, end) while its invalidation runs
        AtomicInteger insidePrepares = new AtomicInteger(), punches = new AtomicInteger();
        GuestMemfd f = new GuestMemfd(mem, 1, 2 * M2, level, new GmemListener() {
            @Override
            public void prepare(GuestMemfd file, long pfn, long index, int order) {
                synchronized (window) {
                    if (index < window[1] && index + (1L << order) > window[0])
                        insidePrepares.incrementAndGet();
                }
            }

            @Override
            public void invalidateBegin(GuestMemfd file, long start, long end) {
                punches.incrementAndGet();
                synchronized (window) {
                    window[0] = start;
                    window[1] = end;
                }
                for (int i = 0; i < 4; i++) // a zap's length: the window stays open over a few scheduling points
                    synchronized (window) {
                        window[0] = start;
                    }
            }

            @Override
            public void invalidateEnd(GuestMemfd file, long start, long end) {
                synchronized (window) {
                    window[0] = window[1] = -1;
                }
            }
        });
        Lab.parallel(() -> {
            f.getPfn(punched, 0);
            expect(f.populated(punched) || punches.get() > 0, "the fault's folio vanished without a punch");
        }, () -> {
            f.getPfn(other, 1);
            expect(f.populated(other), "a punch of another range removed the fault's folio");
        }, () -> f.punchHole(0, level == Levels.L4K ? 2 * K4 : M2));
        expect(insidePrepares.get() == 0, "a folio was prepared in the range a punch was removing");
        f.close();
        mem.releaseCpus(1);
        expect(mem.framesInUse(HostMemory.GMEM) == 0,
                "frames still in use after close: " + mem.framesInUse(HostMemory.GMEM));
    }
}
