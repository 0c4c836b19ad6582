package org.tdplab.mmu.tdp.sync;

import java.util.concurrent.locks.LockSupport;

/** For tests of waiters: what a thread is parked on, seen without timing it. */
public final class Parked {
    private Parked() {
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
}
