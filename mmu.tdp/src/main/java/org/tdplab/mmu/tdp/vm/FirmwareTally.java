package org.tdplab.mmu.tdp.vm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.tdplab.percpu.PercpuCounters;

/**
 * One firmware call name's count and projected time. The thread that made the name's first call counts in fields of
 * this record, which only it writes, with release stores: one line, instead of the many a {@link PercpuCounters} bump
 * reads (its thread slots, row, cells), which a fault stream over much memory likely evicts between two calls. Any
 * other thread counts in the shared counters, at {@link #index} and {@code nanosIndex}; a read adds both. A name a
 * fault calls is mostly first called by a faulting vCPU, so one vCPU's calls take the short way; a name first called
 * at the VM's creation by another thread gains nothing. The record keeps its first caller (that thread's object
 * stays as long as the VM); its counts outlive the thread.
 */
public final class FirmwareTally {
    private static final VarHandle CALLS, NANOS;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            CALLS = l.findVarHandle(FirmwareTally.class, "calls", long.class);
            NANOS = l.findVarHandle(FirmwareTally.class, "nanos", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The name's counter in the shared counters, for the calls of other threads than {@link #owner}. */
    public final int index;
    private final Thread owner;
    @SuppressWarnings("unused") // padding: another object's written fields must not share the counts' line
    private long p0, p1, p2, p3, p4, p5, p6;
    private long calls, nanos;
    @SuppressWarnings("unused")
    private long q0, q1, q2, q3, q4, q5, q6;

    /** A tally the calling thread owns, which counts the calls of others at {@code index}. */
    public FirmwareTally(int index) {
        this.index = index;
        this.owner = Thread.currentThread();
    }

    /**
     * One call, priced at {@code ns} (0: none): in this record by its owner, else in {@code shared} at {@link #index}
     * and, for the price, at {@code nanosIndex}.
     */
    public void count(long ns, PercpuCounters shared, int nanosIndex) {
        if (owner == Thread.currentThread()) {
            CALLS.setRelease(this, calls + 1); // only the owner writes: its own plain read is its last store
            if (ns != 0)
                NANOS.setRelease(this, nanos + ns);
        } else if (ns != 0)
            shared.add(index, 1, nanosIndex, ns);
        else
            shared.increment(index);
    }

    /** The calls so far, the owner's and the others' in {@code shared}. */
    public long calls(PercpuCounters shared) {
        return (long) CALLS.getAcquire(this) + shared.sum(index);
    }

    /** The owner's projected time so far (the others' is in the shared counters' {@code nanosIndex}, summed once). */
    public long ownNanos() {
        return (long) NANOS.getAcquire(this);
    }
}
