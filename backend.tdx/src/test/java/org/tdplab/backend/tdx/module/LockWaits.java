package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** For tests that hold the module lock while another thread tries it: waiting for that thread to queue, bounded. */
public final class LockWaits {
    private LockWaits() {
    }

    /**
     * Waits until a thread queues for the exclusive side of {@code lock}, while {@code waiter} lives; a minute at
     * most, a bound for a hang (a thread that never queues — a mutant of the lock, say — fails the test rather than
     * spinning it forever). Fails if {@code waiter} ended or the minute passed without a waiter.
     */
    public static void awaitWaiter(ModuleLock lock, Thread waiter) {
        long end = System.nanoTime() + 60_000_000_000L;
        while (!lock.hasWaiters() && waiter.isAlive() && System.nanoTime() < end)
            Thread.onSpinWait();
        assertTrue(lock.hasWaiters(), waiter.isAlive() ? "no thread queued for the module lock in a minute"
                : waiter.getName() + " ended without waiting for the module lock");
    }
}
