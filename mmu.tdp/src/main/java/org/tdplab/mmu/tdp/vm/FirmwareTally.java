package org.tdplab.mmu.tdp.vm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.BooleanSupplier;

import org.tdplab.percpu.PercpuCounters;

/**
 * One firmware call name's count and projected time. The thread that made the name's first call counts in fields of
 * this record, which only it writes, with release stores: one line, instead of the many a {@link PercpuCounters} bump
 * reads (its thread slots, row, cells), which a fault stream over much memory likely evicts between two calls. When
 * that first call was not made on a vCPU (the VM's creation, a launch), the first vCPU thread to call the name after
 * it claims a second pair of fields, by one compare-and-set, and counts there; the first caller keeps its own pair
 * (only it writes it, so a count of it in progress at the claim is not lost). Any other thread counts in the shared
 * counters, at {@link #index} and {@code nanosIndex}; a read adds all three. The record keeps its two counting threads
 * (their objects stay as long as the VM); its counts outlive them.
 */
public final class FirmwareTally {
    private static final VarHandle CALLS, NANOS, CLAIMED_CALLS, CLAIMED_NANOS, CLAIMER;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            CALLS = l.findVarHandle(FirmwareTally.class, "calls", long.class);
            NANOS = l.findVarHandle(FirmwareTally.class, "nanos", long.class);
            CLAIMED_CALLS = l.findVarHandle(FirmwareTally.class, "claimedCalls", long.class);
            CLAIMED_NANOS = l.findVarHandle(FirmwareTally.class, "claimedNanos", long.class);
            CLAIMER = l.findVarHandle(FirmwareTally.class, "claimer", Thread.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The name's counter in the shared counters, for the calls of other threads than the two counting here. */
    public final int index;
    private final Thread owner;
    /** Whether a vCPU thread may claim the second pair: the first call was not made on a vCPU. */
    private final boolean claimable;
    /**
     * The vCPU thread that claimed the second pair (null: none yet). Set once, by {@link #CLAIMER}'s
     * compare-and-set; a plain read by the claimer sees its own write, and any other thread's stale null only sends
     * it to the compare-and-set, which fails.
     */
    private Thread claimer;
    /*
     * 128 bytes of padding before, between and after the two pairs: the adjacent-line prefetcher moves 64-byte lines
     * in pairs, and with 56 bytes the owner's counts shared a 128-byte pair with the fields every other caller reads
     * (index, owner, claimer) — an instrumented run of two vCPUs faulting a TD's halves found them so at every call.
     */
    @SuppressWarnings("unused")
    private long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    private long calls, nanos;
    @SuppressWarnings("unused") // the owner's pair and the claimer's, written by two threads at once: apart
    private long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;
    private long claimedCalls, claimedNanos;
    @SuppressWarnings("unused")
    private long r00, r01, r02, r03, r04, r05, r06, r07, r08, r09, r10, r11, r12, r13, r14, r15;

    /**
     * A tally the calling thread owns, which counts the calls of others at {@code index}.
     *
     * @param ownerOnVcpu whether the calling thread makes this first call on a vCPU; when not, the first vCPU thread
     *        to call later claims a pair of fields of its own
     */
    public FirmwareTally(int index, boolean ownerOnVcpu) {
        this.index = index;
        this.owner = Thread.currentThread();
        this.claimable = !ownerOnVcpu;
    }

    /**
     * One call, priced at {@code ns} (0: none): in this record by its owner and by its claimer, else in
     * {@code shared} at {@link #index} and, for the price, at {@code nanosIndex}. {@code onVcpu} says whether the
     * calling thread runs a vCPU; it is asked only while the record is still claimable.
     */
    public void count(long ns, PercpuCounters shared, int nanosIndex, BooleanSupplier onVcpu) {
        Thread me = Thread.currentThread();
        if (owner == me) {
            CALLS.setRelease(this, calls + 1); // only the owner writes: its own plain read is its last store
            if (ns != 0)
                NANOS.setRelease(this, nanos + ns);
        } else if (claimer == me || claimable && claimer == null && onVcpu.getAsBoolean()
                && CLAIMER.compareAndSet(this, (Thread) null, me)) {
            CLAIMED_CALLS.setRelease(this, claimedCalls + 1); // only the claimer writes these
            if (ns != 0)
                CLAIMED_NANOS.setRelease(this, claimedNanos + ns);
        } else if (ns != 0)
            shared.add(index, 1, nanosIndex, ns);
        else
            shared.increment(index);
    }

    /** The calls so far, the owner's, the claimer's and the others' in {@code shared}. */
    public long calls(PercpuCounters shared) {
        return (long) CALLS.getAcquire(this) + (long) CLAIMED_CALLS.getAcquire(this) + shared.sum(index);
    }

    /**
     * The owner's and the claimer's projected time so far (the others' is in the shared counters' {@code nanosIndex},
     * summed once).
     */
    public long ownNanos() {
        return (long) NANOS.getAcquire(this) + (long) CLAIMED_NANOS.getAcquire(this);
    }
}
