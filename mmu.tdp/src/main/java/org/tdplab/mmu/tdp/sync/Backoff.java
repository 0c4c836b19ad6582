package org.tdplab.mmu.tdp.sync;

import java.util.concurrent.locks.LockSupport;

/**
 * How the model's own locks wait: spin a few steps (the holder is usually about to let go), then park briefly and
 * look again, so that a waiter behind a long hold gives its core away instead of burning it. A park is short, so a
 * wake-up the releaser did not send (its release store passed the waiter's queueing) costs latency, never progress.
 */
public final class Backoff {
    private Backoff() {
    }

    /**
     * One step of a wait: a spin hint for steps {@code 0 .. spinSteps-1}, then a park of {@code parkNanos} with
     * {@code blocker} as what the thread waits on (as thread dumps and {@link LockSupport#getBlocker} show it).
     */
    public static void pause(int step, int spinSteps, Object blocker, long parkNanos) {
        if (step < spinSteps)
            Thread.onSpinWait();
        else
            LockSupport.parkNanos(blocker, parkNanos);
    }
}
