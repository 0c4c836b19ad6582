package org.tdplab.backend.tdx.module;

import java.util.SplittableRandom;

/**
 * {@code TDX_OPERAND_BUSY} injection. The module's locks are try-locks, so a host SEAMCALL fails with
 * {@code TDX_OPERAND_BUSY} when a concurrent holder has the lock. The model runs every leaf but a fault's AUG and
 * ACCEPT alone ({@link ModuleLock}), and those two meet for real only on one entry, so the concurrent holders are
 * simulated: each try-lock a leaf takes (SEPT tree, SEPT entry, PAMT entry, epoch) fails with
 * probability {@code rate}, drawn from a seeded generator so a run is repeatable.
 *
 * <p>The contenders KVM has to live with are vCPUs — TDH.VP.ENTER (zero-step mitigation takes the SEPT tree lock
 * exclusively; entry takes the epoch lock) and guest TDCALLs on the same entries. So a lock can only be contended
 * while some vCPU is inside the TD; with every vCPU kept out (KVM's {@code tdh_do_no_vcpus}) the retry succeeds, which
 * is what KVM relies on. Not injected, because nothing contends with them in KVM's flows: the TDR and OP_STATE
 * locks of the common checks (their exclusive holders — PAGE.ADD, MR.EXTEND, MR.FINALIZE, VP.INIT — run while no
 * vCPU runs), the PAMT locks of the PHYMEM leaves (their pages belong to no running TD), and the guest's own
 * ACCEPT entry lock (a Linux guest does not retry a failed ACCEPT).
 */
public final class Contention {
    private final double rate;
    private final SplittableRandom random;
    /** A scripted contention: only the try-lock with this number (1-based, counting contended ones) fails. */
    private final long failAt;
    private long attempts, injected;

    public Contention(double rate, long seed) {
        this(rate, seed, -1);
    }

    private Contention(double rate, long seed, long failAt) {
        if (!(rate >= 0 && rate <= 1))
            throw new IllegalArgumentException("busy rate " + rate + " is not in [0, 1]");
        this.rate = rate;
        this.random = new SplittableRandom(seed);
        this.failAt = failAt;
    }

    public static Contention none() {
        return new Contention(0, 0);
    }

    /** Exactly the {@code n}-th contended try-lock fails (tests use it to reach each busy row of a leaf). */
    public static Contention failingAt(long n) {
        return new Contention(0, 0, n);
    }

    /**
     * One try-lock: whether it fails. Draws happen in call order: leaves that hold the module's lock shared draw at
     * once, so under this object's lock (not taken when nothing is ever injected).
     */
    boolean busy(boolean contendersPresent) {
        if (!contendersPresent || !injects())
            return false;
        synchronized (this) {
            return draw();
        }
    }

    /** Whether any try-lock can fail: when none can, no caller needs to look for contenders. */
    boolean injects() {
        return rate > 0 || failAt > 0;
    }

    private boolean draw() {
        attempts++;
        boolean fail = failAt > 0 ? attempts == failAt : rate > 0 && random.nextDouble() < rate;
        if (fail)
            injected++;
        return fail;
    }

    /** How many lock attempts were made to fail. */
    public synchronized long injected() {
        return injected;
    }

    public double rate() {
        return rate;
    }
}
