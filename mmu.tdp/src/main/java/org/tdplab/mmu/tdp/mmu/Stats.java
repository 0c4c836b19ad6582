package org.tdplab.mmu.tdp.mmu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.tdplab.percpu.PercpuCounters;

/**
 * The core's counters for one VM: {@link PercpuCounters}, a row per thread, so vCPU threads faulting at once neither
 * fight over one cache line per fault nor pay an atomic for each count, plus each vCPU's own
 * counters ({@link Cells}, the kernel's {@code kvm_vcpu_stat}: {@code pf_taken}, {@code pf_fixed}, ...), which
 * only that vCPU's thread writes, so a fault bumps them with plain stores instead of an atomic. A stat's value
 * is the sum of both, as the kernel sums its vCPU stats over the VM's vCPUs.
 */
public final class Stats {
    private static final VarHandle CELL = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int N = Stat.values().length;

    private final PercpuCounters counts = new PercpuCounters(N);
    private volatile Cells[] vcpuCells = new Cells[0];

    /**
     * One vCPU's counters. Single writer: the thread that holds the vCPU ({@code vcpu->mutex}); readers on other
     * threads see each count whole (release store, acquire load) and up to date once they synchronized with it.
     */
    public static final class Cells {
        /** A cache line's worth of padding (128 bytes) either side: another vCPU's cells may lie next to these. */
        private static final int PAD = 16;
        private final long[] values = new long[PAD + N + PAD];

        public void inc(Stat stat) {
            int i = PAD + stat.ordinal();
            CELL.setRelease(values, i, (long) CELL.getOpaque(values, i) + 1);
        }

        long get(Stat stat) {
            return (long) CELL.getAcquire(values, PAD + stat.ordinal());
        }
    }

    /** Counters for one more vCPU, counted in every {@link #get} from now on. */
    public synchronized Cells vcpuCells() {
        Cells c = new Cells();
        Cells[] all = Arrays.copyOf(vcpuCells, vcpuCells.length + 1);
        all[all.length - 1] = c;
        vcpuCells = all;
        return c;
    }

    public void inc(Stat stat) {
        counts.increment(stat.ordinal());
    }

    public void add(Stat stat, long delta) {
        counts.add(stat.ordinal(), delta);
    }

    /**
     * The leaf counts ({@code pages_4k} …, by level) of a leaf zap, kept by the MMU write lock's holder until it
     * lets go: a range zap would otherwise look up its thread's row for every SPTE, a fifth of its cost. Open only
     * while its opener holds the write lock (closed before the lock is let go even for a moment, so that another
     * holder neither counts into it nor reads counts it holds back); null when closed. Nobody else changes leaves
     * meanwhile, so only readers of the counts outside the lock can see them lag, as they may miss any thread's
     * latest count.
     */
    private long[] pageBatch;
    private final long[] pageBatchCells = new long[8];

    /** Opens the batch; false when it is open already (an outer zap's): then that one closes it. */
    public boolean openPageBatch() {
        if (pageBatch != null)
            return false;
        pageBatch = pageBatchCells;
        return true;
    }

    /** Moves the batch's counts into the counters and closes it; whether it was open. */
    public boolean closePageBatch() {
        long[] b = pageBatch;
        if (b == null)
            return false;
        for (int level = 1; level < b.length; level++)
            if (b[level] != 0) {
                add(Stat.pages(level), b[level]);
                b[level] = 0;
            }
        pageBatch = null;
        return true;
    }

    /** Leaves at {@code level} appeared ({@code delta > 0}) or went; by the write lock's holder when it says so. */
    public void addPages(int level, long delta, boolean writeLocked) {
        if (!writeLocked || !addToPageBatch(level, delta))
            add(Stat.pages(level), delta);
    }

    /**
     * {@link #addPages} into the open batch, by the write lock's holder: false when no batch is open (the caller
     * counts in the counters).
     */
    public boolean addToPageBatch(int level, long delta) {
        long[] b = pageBatch;
        if (b == null)
            return false;
        b[level] += delta;
        return true;
    }

    public long get(Stat stat) {
        long sum = counts.sum(stat.ordinal());
        for (Cells c : vcpuCells)
            sum += c.get(stat);
        return sum;
    }

    public Map<String, Long> snapshot() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Stat s : Stat.values())
            out.put(s.kernelName, get(s));
        return out;
    }
}
