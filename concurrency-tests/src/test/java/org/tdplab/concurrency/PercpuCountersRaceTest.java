package org.tdplab.concurrency;

import static org.tdplab.concurrency.Lab.expect;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.extension.ExtendWith;
import org.pastalab.fray.junit.junit5.FrayTestExtension;
import org.pastalab.fray.junit.junit5.annotations.ConcurrencyTest;
import org.tdplab.percpu.PercpuCounters;

/**
 * {@link PercpuCounters} under writers that add pairs ({@code add(i1, d1, i2, d2)}, ebbb16a: a firmware call and its
 * price) at an index beyond their rows' width, so each row grows (copied, then published) while a reader sums: a sum
 * read while they count may miss their latest adds but never goes back, and once they are done it is exact. Fails with
 * a row's grown cells published before the old counts are copied into them, when a yield lies between (checked:
 * iteration 59, a sum went back). Without the yield Fray does not catch that mutant: its scheduling points are the
 * volatile store that publishes and the next synchronizing operation, and a copy by plain or release stores between
 * them is not one.
 */
@ExtendWith(FrayTestExtension.class)
class PercpuCountersRaceTest {
    @ConcurrencyTest(iterations = 200)
    void pairAddsGrowingRowsWhileAReaderSums() throws Exception {
        PercpuCounters c = new PercpuCounters(2);
        AtomicInteger running = new AtomicInteger(2);
        Lab.Op writer = () -> {
            c.add(0, 1, 1, 10); // within the row's first width
            c.add(0, 1, 5, 100); // grows the row
            c.add(5, 100, 0, 1);
            running.decrementAndGet();
        };
        Lab.parallel(writer, writer, () -> {
            long last0 = 0, last1 = 0, last5 = 0;
            for (int round = 0; round < 2 || running.get() > 0; round++) {
                long s0 = c.sum(0), s5 = c.sum(5);
                long[] all = c.sums(6);
                expect(s0 >= last0 && s5 >= last5 && all[0] >= s0 && all[5] >= s5 && all[1] >= last1,
                        "a sum went back: " + last0 + "/" + last1 + "/" + last5 + " then " + s0 + "/" + s5 + " and "
                                + all[0] + "/" + all[1] + "/" + all[5]);
                last0 = all[0];
                last1 = all[1];
                last5 = all[5];
            }
        });
        expect(c.sum(0) == 6 && c.sum(1) == 20 && c.sum(5) == 400,
                "sums " + c.sum(0) + "/" + c.sum(1) + "/" + c.sum(5) + ", not 6/20/400");
    }
}
