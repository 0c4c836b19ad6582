package org.tdplab.mmu.tdp.mmu;

/**
 * The MMU-notifier invalidation window ({@code mmu_invalidate_seq}, {@code mmu_invalidate_in_progress} and the
 * range): faults snapshot the sequence before looking up a pfn and retry if an invalidation overlapping their GFN
 * began or completed meanwhile, so no stale pfn is ever installed (invariant 18). Writers run under the MMU write
 * lock; faults read it lock-free and again under the read lock.
 */
public final class Invalidation {
    private volatile long seq;
    private volatile int inProgress;
    private volatile long start = Long.MAX_VALUE;
    private volatile long end = 0;

    /** {@code kvm_mmu_invalidate_begin} plus {@code range_add}; caller holds the write lock. */
    public void begin(long startGfn, long endGfn) {
        if (inProgress++ == 0) {
            start = startGfn;
            end = endGfn;
        } else {
            start = Math.min(start, startGfn);
            end = Math.max(end, endGfn);
        }
    }

    /** {@code kvm_mmu_invalidate_end}; caller holds the write lock. */
    public void end() {
        seq++;
        if (--inProgress == 0) {
            start = Long.MAX_VALUE;
            end = 0;
        }
    }

    public long seq() {
        return seq;
    }

    /** {@code mmu_invalidate_retry_gfn}: the fault that snapshot {@code snapshot} must retry. */
    public boolean retry(long snapshot, long gfn) {
        if (inProgress > 0 && gfn >= start && gfn < end)
            return true;
        return seq != snapshot;
    }

    /**
     * {@link #retry} for a fault that maps {@code [start, end)} (a huge page): it retries if any of that range is
     * being invalidated. The kernel checks only the faulting GFN; the model checks the whole mapping so that a zap
     * that yields can never be outlived by a huge page a racing fault built over part of its range (invariant 16).
     */
    public boolean retry(long snapshot, long start, long end) {
        return inProgress(start, end) || seq != snapshot;
    }

    /** The window in words, for a diagnosis (read without the lock: a snapshot). */
    public String describe() {
        int n = inProgress;
        return n == 0 ? String.format("none in progress, seq %d", seq)
                : String.format("%d in progress over gfn [0x%x, 0x%x), seq %d", n, start, end, seq);
    }

    public boolean inProgress(long gfn) {
        return inProgress > 0 && gfn >= start && gfn < end;
    }

    /** Whether an invalidation in progress covers any of {@code [start, end)}. */
    public boolean inProgress(long start, long end) {
        return inProgress > 0 && start < this.end && end > this.start;
    }
}
