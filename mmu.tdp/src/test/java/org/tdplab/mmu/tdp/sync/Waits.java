package org.tdplab.mmu.tdp.sync;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.LockSupport;

/** For tests of waiters: waiting for another thread's step, and what a thread is parked on, without timing either. */
public final class Waits {
    private Waits() {
    }

    /**
     * Waits until {@code t} parks on {@code blocker} (it gave its core away instead of spinning on), or ended; a
     * minute at most, a bound for a hang. Returns what {@code t} is parked on then.
     */
    public static Object awaitParkedOn(Thread t, Object blocker) {
        long end = System.nanoTime() + 60_000_000_000L;
        while (t.isAlive() && LockSupport.getBlocker(t) != blocker && System.nanoTime() < end)
            Thread.onSpinWait();
        return LockSupport.getBlocker(t);
    }

    /** Waits for {@code t} to end; an interrupt fails the test. */
    public static void join(Thread t) {
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Waits for {@code latch} to open; an interrupt fails the test. */
    public static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
