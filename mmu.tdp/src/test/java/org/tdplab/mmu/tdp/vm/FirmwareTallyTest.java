package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.tdplab.percpu.PercpuCounters;

/**
 * Where a {@link FirmwareTally} counts: its owner's calls and, when the owner made the first call off the vCPUs, the
 * first vCPU thread's after it in the record; every other thread's in the shared counters. Fails when a vCPU never
 * claims a tally made off the vCPUs (checked: shared 3, not 0), when a thread off the vCPUs claims it (checked: shared
 * 1 of 2 after the non-vCPU thread), and when a second vCPU claims it too (checked).
 */
class FirmwareTallyTest {
    private static final int NANOS = 0, CALLS = 1;

    private static void on(Runnable r) throws InterruptedException {
        Thread t = new Thread(r);
        t.start();
        t.join();
    }

    @Test
    void theFirstVcpuAfterAnOwnerOffTheVcpusCountsInTheRecord() throws Exception {
        PercpuCounters shared = new PercpuCounters(2);
        FirmwareTally t = new FirmwareTally(CALLS, false); // made at the VM's creation
        t.count(10, shared, NANOS, () -> false);
        on(() -> t.count(5, shared, NANOS, () -> false)); // another thread off the vCPUs: shared, no claim
        assertEquals(1, shared.sum(CALLS));
        on(() -> {
            for (int i = 0; i < 3; i++)
                t.count(100, shared, NANOS, () -> true); // the first vCPU: claims, counts in the record
        });
        assertEquals(1, shared.sum(CALLS), "the claiming vCPU's calls went to the shared counters");
        on(() -> t.count(7, shared, NANOS, () -> true)); // a second vCPU: shared
        assertEquals(2, shared.sum(CALLS));
        t.count(10, shared, NANOS, () -> false); // the owner still counts in its own pair
        assertEquals(2, shared.sum(CALLS));
        assertEquals(7, t.calls(shared));
        assertEquals(320, t.ownNanos());
        assertEquals(12, shared.sum(NANOS));
    }

    @Test
    void aTallyOwnedOnAVcpuIsNeverClaimed() throws Exception {
        PercpuCounters shared = new PercpuCounters(2);
        FirmwareTally t = new FirmwareTally(CALLS, true);
        t.count(0, shared, NANOS, () -> true);
        on(() -> t.count(0, shared, NANOS, () -> true));
        on(() -> t.count(0, shared, NANOS, () -> true));
        assertEquals(2, shared.sum(CALLS));
        assertEquals(3, t.calls(shared));
    }
}
