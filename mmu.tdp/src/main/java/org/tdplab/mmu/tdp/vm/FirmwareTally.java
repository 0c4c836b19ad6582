package org.tdplab.mmu.tdp.vm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.BooleanSupplier;

import org.tdplab.percpu.PercpuCounters;

/**
 * One firmware call name's count and projected time. The thread that made the name's first call, and each of the
 * first vCPU threads to call it after (up to {@link #PAIRS} in all), count in a pair of cells of this record that only
 * that thread writes, with release stores: one line, instead of the many a {@link PercpuCounters} bump reads (its
 * thread slots, row, cells), which a fault stream over much memory likely evicts between two calls. A vCPU thread
 * claims its pair by one compare-and-set, at its first call; a thread that counts in a pair keeps it (only it writes
 * it, so a count of it in progress is never lost). Any other thread — off the vCPUs, or once every pair is taken —
 * counts in the shared counters, at {@link #index} and {@code nanosIndex}; a read adds them all. The record keeps its
 * counting threads (their objects stay as long as the VM); its counts outlive them.
 *
 * <p>Why four: with pairs for the first caller and one claimer only, the second of two vCPU threads faulting a
 * guest whose faults call the firmware counted each call (three per fault) in the shared counters, work one thread
 * faulting both halves never did.
 */
public final class FirmwareTally {
    private static final VarHandle CELL = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle COUNTER = MethodHandles.arrayElementVarHandle(Thread[].class);
    /** Pairs a record has: its first caller's and three vCPU threads'. */
    public static final int PAIRS = 4;
    /**
     * 128 bytes of cells before the first pair, between two pairs and after the last: the line pair the adjacent-line
     * prefetcher moves, so that no two counting threads, nor the array's header, share one.
     */
    private static final int PAD = 16, STRIDE = PAD + 2;

    /** The name's counter in the shared counters, for the calls of threads without a pair. */
    public final int index;
    /** The thread counting in each pair: the first caller's, then the claimers' (null: free), each set once. */
    private final Thread[] counting;
    /** Each pair's calls and projected time ({@link #at}). */
    private final long[] cells;

    /** A tally the calling thread counts in, with {@link #PAIRS} pairs. */
    public FirmwareTally(int index) {
        this(index, PAIRS);
    }

    /** A tally of {@code pairs} pairs, the first the calling thread's (tests take fewer, to fill them). */
    public FirmwareTally(int index, int pairs) {
        if (pairs < 1)
            throw new IllegalArgumentException("pairs=" + pairs);
        this.index = index;
        this.counting = new Thread[pairs];
        this.counting[0] = Thread.currentThread();
        this.cells = new long[at(pairs) + PAD - 2];
    }

    /** Where pair {@code pair}'s calls lie in the cells (its projected time next). */
    static int at(int pair) {
        return PAD + pair * STRIDE;
    }

    /** How many cells the record has (for its layout test). */
    int cellCount() {
        return cells.length;
    }

    /**
     * One call, priced at {@code ns} (0: none): in the calling thread's pair, claimed first when a pair is free and
     * {@code onVcpu} (asked only then) says the thread runs a vCPU; else in {@code shared} at {@link #index} and, for
     * the price, at {@code nanosIndex}.
     */
    public void count(long ns, PercpuCounters shared, int nanosIndex, BooleanSupplier onVcpu) {
        Thread me = Thread.currentThread();
        Thread[] c = counting;
        // the first two pairs' threads (two vCPUs faulting at once) tested one by one, not in the loop: a loop whose
        // profile saw both made each call 2-3 times as slow (a two-thread loop of calls: 10 ns a call against 4)
        if (c[0] == me)
            add(0, ns);
        else if (c.length > 1 && c[1] == me)
            add(1, ns);
        else
            countElsewhere(me, ns, shared, nanosIndex, onVcpu);
    }

    /** {@link #count} for a thread not counting in the first two pairs: a later pair, a claim, or the shared counters. */
    private void countElsewhere(Thread me, long ns, PercpuCounters shared, int nanosIndex, BooleanSupplier onVcpu) {
        Thread[] c = counting;
        boolean asked = false;
        for (int i = 1; i < c.length; i++) {
            Thread t = c[i]; // plain: a thread sees its own claim; a stale null only sends it to the CAS, which fails
            if (t == me) {
                add(i, ns);
                return;
            }
            if (t == null) {
                if (!asked && !onVcpu.getAsBoolean())
                    break;
                asked = true;
                if (COUNTER.compareAndSet(c, i, (Thread) null, me)) {
                    add(i, ns);
                    return;
                }
            }
        }
        if (ns != 0)
            shared.add(index, 1, nanosIndex, ns);
        else
            shared.increment(index);
    }

    /** Counts in pair {@code pair}, which only the calling thread writes: its own plain reads are its last stores. */
    private void add(int pair, long ns) {
        int at = at(pair);
        long[] c = cells;
        CELL.setRelease(c, at, c[at] + 1);
        if (ns != 0)
            CELL.setRelease(c, at + 1, c[at + 1] + ns);
    }

    /** The calls so far, the pairs' and the others' in {@code shared}. */
    public long calls(PercpuCounters shared) {
        long n = shared.sum(index);
        for (int i = 0; i < counting.length; i++)
            n += (long) CELL.getAcquire(cells, at(i));
        return n;
    }

    /** The pairs' projected time so far (the others' is in the shared counters' {@code nanosIndex}, summed once). */
    public long ownNanos() {
        long ns = 0;
        for (int i = 0; i < counting.length; i++)
            ns += (long) CELL.getAcquire(cells, at(i) + 1);
        return ns;
    }
}
