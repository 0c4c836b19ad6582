package org.tdplab.mmu.tdp.vcpu;

import java.util.concurrent.atomic.AtomicLong;

import org.tdplab.mmu.tdp.sync.Backoff;

/**
 * Remote TLB flushes and kicks for one VM. A flush bumps a generation and waits until every vCPU is either out
 * of guest mode or has applied it — the model of {@code kvm_make_all_cpus_request} with an IPI and wait. A vCPU
 * enters guest mode before using a translation and applies a pending flush first; both sides write then read
 * volatile state, so one always sees the other.
 */
public final class GuestMode {
    private final Vcpu[] vcpus;
    private final AtomicLong flushGen = new AtomicLong();

    public GuestMode(Vcpu[] vcpus) {
        this.vcpus = vcpus;
    }

    /**
     * Enters guest mode; flushes the TLB if a flush is pending. The volatile store is a full fence, which the
     * access's RCU read section relies on too ({@link org.tdplab.mmu.tdp.pt.Rcu#readLockBeforeFence}).
     */
    public void enter(Vcpu v) {
        v.inGuest = true;
        long gen = flushGen.get();
        if (v.seenFlushGen != gen)
            applyFlush(v, gen);
    }

    /** The pending flush, out of line: inlined, its array fills made {@link #enter} too large to inline itself. */
    private static void applyFlush(Vcpu v, long gen) {
        v.tlb.flush();
        v.seenFlushGen = gen;
    }

    /**
     * Leaves guest mode. A release store is enough: a flusher that sees it sees every use of a translation made
     * before it; the next {@link #enter}'s volatile store and load order the way back in.
     */
    public void exit(Vcpu v) {
        Vcpu.IN_GUEST.setRelease(v, false);
    }

    /**
     * Flushes every vCPU's TLB; returns when no vCPU can still use a translation from before the call. The wait
     * parks after a few spins: a vCPU in guest mode may itself wait (for a data-oracle leaf another thread holds),
     * and on two cores a flusher that only spins can keep that thread from the core it needs to go on.
     */
    public void flushAll() {
        long gen = flushGen.incrementAndGet();
        for (Vcpu v : vcpus)
            for (int spins = 0; v.inGuest && v.seenFlushGen < gen; spins++)
                Backoff.pause(spins, 64, v, 20_000);
    }

    /** {@code KVM_REQ_OUTSIDE_GUEST_MODE}: waits until every vCPU has left guest mode once, or applied a flush. */
    public void kickAll() {
        flushAll();
    }

    public long generation() {
        return flushGen.get();
    }

    /** Whether a vCPU's TLB is current (no flush pending for it). */
    public boolean current(Vcpu v) {
        return v.seenFlushGen == flushGen.get();
    }
}
