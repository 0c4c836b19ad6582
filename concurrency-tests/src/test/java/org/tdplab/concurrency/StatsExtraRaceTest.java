package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.mmu.tdp.mmu.Stat;
import org.tdplab.mmu.tdp.mmu.Stats;
import org.tdplab.percpu.PercpuCounters;

/**
 * The firmware calls' counters kept in the core's {@link Stats} rows ({@link Stats#counters} from
 * {@link Stats#FIRST_EXTRA} on: a call's count and its price next to a fault's {@code pages_4k}): two threads count
 * leaves and calls into one VM's counters while a third reads them. A read during the counting never goes back, a
 * stat never holds a firmware count nor the other way round, and once the threads are done every sum is exact. Fails
 * when the second caller counts into the row of the first (checked: {@code PercpuCounters.row()} giving every thread
 * the first row, with a yield between a cell's read and its store - repetition 8, calls 2 of 4: a lost update;
 * without the yield Fray does not schedule between the opaque read and the release store, as {@link
 * PercpuCountersRaceTest} says), and when the extra counters share the stats' cells (checked: {@code FIRST_EXTRA} one
 * lower, roots_freed = 1200).
 */
@ExtendWith(FrayTestExtension.class)
class StatsExtraRaceTest {
    @ConcurrencyTest(iterations = 200)
    void twoThreadsCountCallsAndLeavesWhileAReaderSums() throws Exception {
        Stats s = new Stats();
        PercpuCounters c = s.counters();
        int nanos0 = Stats.FIRST_EXTRA, calls1 = Stats.FIRST_EXTRA + 1, unpriced2 = Stats.FIRST_EXTRA + 2;
        AtomicInteger running = new AtomicInteger(2);
        Lab.Op faulter = () -> {
            for (int i = 0; i < 2; i++) {
                c.add(calls1, 1, nanos0, 300); // a call and its price
                s.add(Stat.PAGES_4K, 1); // the leaf it installed
            }
            c.increment(unpriced2); // a call priced at nothing
            running.decrementAndGet();
        };
        Lab.parallel(faulter, faulter, () -> {
            long lastCalls = 0, lastNanos = 0, lastPages = 0;
            for (int round = 0; round < 2 || running.get() > 0; round++) {
                long calls = c.sum(calls1), nanos = c.sum(nanos0), pages = s.get(Stat.PAGES_4K);
                expect(calls >= lastCalls && nanos >= lastNanos && pages >= lastPages && calls <= 4
                        && nanos <= 1200 && pages <= 4, "went back or past: " + lastCalls + "/" + lastNanos + "/"
                                + lastPages + " then " + calls + "/" + nanos + "/" + pages);
                lastCalls = calls;
                lastNanos = nanos;
                lastPages = pages;
            }
        });
        expect(c.sum(calls1) == 4 && c.sum(nanos0) == 1200 && c.sum(unpriced2) == 2 && s.get(Stat.PAGES_4K) == 4,
                "calls " + c.sum(calls1) + ", ns " + c.sum(nanos0) + ", unpriced " + c.sum(unpriced2) + ", pages_4k "
                        + s.get(Stat.PAGES_4K) + ": not 4/1200/2/4");
        for (Stat st : Stat.values())
            expect(st == Stat.PAGES_4K || s.get(st) == 0, st.kernelName + " = " + s.get(st));
    }
}
