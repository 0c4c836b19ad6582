package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tdplab.percpu.PercpuCounters;

/**
 * Where a {@link FirmwareTally} counts: its first caller's calls and those of the first vCPU threads after it, each in
 * a pair of its own in the record; a thread off the vCPUs, and vCPU threads once every pair is taken, in the shared
 * counters. Fails when the second vCPU thread to call counts in the shared counters (the record as it was, with one
 * claimer, and only for a first call off the vCPUs: checked, shared 1 and 2, not 0), when a thread off the vCPUs
 * claims a pair (checked: shared 0 after it), and when two threads count in one pair.
 */
class FirmwareTallyTest {
    private static final int NANOS = 0, CALLS = 1;

    private static void on(Runnable r) throws InterruptedException {
        Thread t = new Thread(r);
        t.start();
        t.join();
    }

    @Test
    void theFirstVcpuThreadsAfterTheFirstCallerCountInPairsOfTheirOwn() throws Exception {
        PercpuCounters shared = new PercpuCounters(2);
        FirmwareTally t = new FirmwareTally(CALLS, 3); // made at the VM's creation, off the vCPUs
        t.count(10, shared, NANOS, () -> false);
        on(() -> t.count(5, shared, NANOS, () -> false)); // another thread off the vCPUs: shared, no claim
        assertEquals(1, shared.sum(CALLS));
        for (int v = 0; v < 2; v++)
            on(() -> {
                for (int i = 0; i < 3; i++)
                    t.count(100, shared, NANOS, () -> true); // a vCPU: claims a pair, counts there
            });
        assertEquals(1, shared.sum(CALLS), "a claiming vCPU's calls went to the shared counters");
        on(() -> t.count(7, shared, NANOS, () -> true)); // a third vCPU: every pair taken, shared
        assertEquals(2, shared.sum(CALLS));
        t.count(10, shared, NANOS, () -> false); // the first caller still counts in its own pair
        assertEquals(2, shared.sum(CALLS));
        assertEquals(10, t.calls(shared));
        assertEquals(620, t.ownNanos());
        assertEquals(12, shared.sum(NANOS));
    }

    @Test
    void aTallyFirstCalledOnAVcpuGivesTheNextVcpusPairsToo() throws Exception {
        PercpuCounters shared = new PercpuCounters(2);
        FirmwareTally t = new FirmwareTally(CALLS);
        t.count(0, shared, NANOS, () -> true);
        for (int v = 0; v < FirmwareTally.PAIRS; v++)
            on(() -> t.count(0, shared, NANOS, () -> true));
        assertEquals(1, shared.sum(CALLS), "only the vCPU beyond the pairs counts in the shared counters");
        assertEquals(FirmwareTally.PAIRS + 1, t.calls(shared));
    }

    /**
     * The pairs lie 128 bytes or more from each other and from the array's header (16 bytes) and end: the line pair
     * the adjacent-line prefetcher moves. (Before, the first caller's pair was 72 bytes into the record, 60 bytes after
     * the index every other caller reads.)
     */
    @Test
    void thePairsLieALinePairApart() {
        int apart = 128;
        assertTrue(8 * FirmwareTally.at(0) >= apart, "the first pair");
        for (int i = 0; i + 1 < FirmwareTally.PAIRS; i++)
            assertTrue(8 * (FirmwareTally.at(i + 1) - FirmwareTally.at(i) - 2) >= apart, "pairs " + i + " and " + (i + 1));
        int cells = new FirmwareTally(0).cellCount();
        assertTrue(8 * (cells - FirmwareTally.at(FirmwareTally.PAIRS - 1) - 2) >= apart, "the last pair");
    }
}
