package org.tdplab.mmu.tdp.sync;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.Test;

/** The waiters' step: spins first, then parks on what it waits for. No timing: only what the thread is doing. */
class BackoffTest {
    private static final long LONG_PARK = 600_000_000_000L; // ends by unpark (or interrupt), never by itself here

    @Test
    void theFirstStepsSpinAndNeverPark() throws InterruptedException {
        Object blocker = new Object();
        Thread t = new Thread(() -> {
            for (int step = 0; step < 10_000; step++)
                Backoff.pause(step, 10_000, blocker, LONG_PARK);
        });
        t.start();
        t.join(60_000); // a bound for a hang (a park of ten minutes), not a timing
        boolean parked = t.isAlive();
        t.interrupt();
        assertFalse(parked, "a step below the spin limit parked");
    }

    @Test
    void aStepPastTheSpinLimitParksOnTheBlocker() throws InterruptedException {
        Object blocker = new Object();
        AtomicBoolean done = new AtomicBoolean();
        Thread t = new Thread(() -> {
            while (!done.get()) // a park may return early: then it parks again
                Backoff.pause(3, 3, blocker, LONG_PARK);
        });
        t.start();
        assertSame(blocker, Waits.awaitParkedOn(t, blocker), "parked on what it waits for");
        done.set(true);
        LockSupport.unpark(t);
        t.join(60_000);
        assertFalse(t.isAlive());
    }
}
