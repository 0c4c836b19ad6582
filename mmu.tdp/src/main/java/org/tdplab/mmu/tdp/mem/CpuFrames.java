package org.tdplab.mmu.tdp.mem;

/**
 * One CPU's list of free 4K frames, the kernel's {@code per_cpu_pages}: a vCPU's fault takes its frame here, under
 * the list's own lock, which only that vCPU's thread takes as a rule, and the list is refilled a batch at a time under
 * the allocator's lock. Without it every private 4K fault took the one allocator lock all vCPU threads (of every VM)
 * share. A CPU is a vCPU of one VM, as for {@link BlockClaims}.
 *
 * <p>Frames on a list are free (nobody owns them, and {@link HostMemory#framesInUse} counts them with the free ones)
 * but held back from the allocator, as the kernel's pcp pages are held back from the buddy allocator; an allocation
 * that finds no free frame drains every list first ({@code drain_all_pages}), so a list never makes one fail.
 *
 * <p>Lock order: the allocator's lock, then a list's; a list's lock is never held while taking the allocator's.
 */
final class CpuFrames {
    /** Frames a refill takes at once: the kernel's usual {@code pcp->batch}. */
    static final int BATCH = 63;

    final long cpu;
    private final long[] pfns = new long[BATCH];
    /** Frames on the list; {@code pfns[count - 1]} goes next, so a batch is handed out lowest-first. */
    private int count;
    /** Frames this list handed out, by owner kind: their owners are counted here, not under the allocator's lock. */
    private final long[] handedOut;

    CpuFrames(long cpu, int kinds) {
        this.cpu = cpu;
        this.handedOut = new long[kinds];
    }

    /** A frame for an owner of {@code kind}, counted as handed out; -1 when the list is empty. */
    synchronized long take(int kind) {
        if (count == 0)
            return -1;
        handedOut[kind]++;
        return pfns[--count];
    }

    /**
     * Fills the empty list with a refill's frames, in the order the allocator gave them: stored in reverse, so that
     * {@link #take} hands them out in that order.
     */
    synchronized void refill(long[] batch, int n) {
        if (count != 0)
            throw new IllegalStateException("refill of a list that still has " + count + " frames");
        for (int i = n - 1; i >= 0; i--)
            pfns[count++] = batch[i];
    }

    /** Takes every frame off the list into {@code out} (room for {@link #BATCH}); returns how many. */
    synchronized int drain(long[] out) {
        int n = count;
        System.arraycopy(pfns, 0, out, 0, n);
        count = 0;
        return n;
    }

    synchronized int count() {
        return count;
    }

    synchronized long handedOut(int kind) {
        return handedOut[kind];
    }
}
