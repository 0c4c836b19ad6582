package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * How a guest access or accept re-executes after its fault was handled, as the hardware re-executes the
 * instruction: how long it may wait for another operation over its page, and when it gives up (EAGAIN).
 */
final class Retries {
    /** A fault that keeps asking for a retry this often is a livelock, not contention. */
    static final int MAX_RETRIES = 1 << 22;
    /**
     * How long a fault waits for another operation over its page (an invalidation window, a memslot change): as
     * long as that runs, which for a conversion or a hole punch grows with its range; past this, a window that
     * never closes.
     */
    static final long WAIT_NANOS = java.util.concurrent.TimeUnit.MINUTES.toNanos(10);
    /** The pause between two tries while waiting so ({@link #waitAWhile}). */
    static final long WAIT_PAUSE_NANOS = 10_000;

    private Retries() {
    }

    /** Starts the retry bookkeeping of one access or accept unit ({@link #giveUp}). */
    static void start(Vcpu v) {
        v.retries = 0;
        v.waitingSince = 0;
    }

    /**
     * Counts a re-execution of the access after its fault was handled, and tells whether to give up. After a fault
     * that waits for another operation over the page ({@link PageFault#retryWaits}) the access waits up to
     * {@link #WAIT_NANOS} in all; any other re-execution counts toward {@link #MAX_RETRIES}, yielding now and then.
     */
    static boolean giveUp(Vcpu v) {
        if (v.lastFault == PageFault.RET_PF_RETRY && v.fault.retryWaits) {
            long now = System.nanoTime();
            if (v.waitingSince == 0)
                v.waitingSince = now;
            return now - v.waitingSince > WAIT_NANOS;
        }
        v.waitingSince = 0;
        if ((++v.retries & 63) == 0)
            Thread.yield();
        return v.retries > MAX_RETRIES;
    }

    /**
     * A pause between two tries of an access that waits for another operation: a short park rather than a spin, so
     * that the operation's thread gets the core — and, under a controlled scheduler (Fray), so that its own timed
     * waits (a lock's back-off) can end: a thread that never blocks would starve them.
     */
    static void waitAWhile() {
        java.util.concurrent.locks.LockSupport.parkNanos(WAIT_PAUSE_NANOS);
    }

    /**
     * EAGAIN for an access or accept that never completed, with what its last try ran into and the invalidation
     * windows open now.
     */
    static MmuException neverCompleted(Vcpu v, String what, long gpa, long w, String invalidations) {
        String waited = v.waitingSince == 0 ? ""
                : String.format(", the last %d s waiting", (System.nanoTime() - v.waitingSince) / 1_000_000_000L);
        return new MmuException(Errno.EAGAIN, "vCPU %d: the %s gpa 0x%x never completed (%d tries%s; the last walk %s, "
                + "its fault handler returned %s%s; invalidations: %s)", v.id, what, gpa, v.retries, waited,
                describe(w), PageFault.name(v.lastFault),
                v.lastFault == PageFault.RET_PF_RETRY ? ": " + v.fault.retryReason : "", invalidations);
    }

    /** A failed walk in words, for the message of an access that never completed. */
    private static String describe(long w) {
        return switch (Walk.kind(w)) {
        case Walk.KIND_VIOLATION -> String.format("exited with error code 0x%x", Walk.detail(w));
        case Walk.KIND_EXCEPTION -> "raised vector " + Walk.detail(w);
        default -> "could not go on";
        };
    }
}
