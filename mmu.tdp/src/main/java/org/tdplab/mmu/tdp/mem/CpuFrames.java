package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.tdplab.mmu.tdp.sync.Backoff;

/**
 * One CPU's list of free 4K frames, the kernel's {@code per_cpu_pages}: a vCPU's fault takes its frame here, under
 * the list's own lock, which only that vCPU's thread takes as a rule, and the list is refilled a batch at a time under
 * the allocator's lock; a 4K frame the vCPU's thread frees goes back on it while there is room ({@link #put}).
 * Without it every private 4K fault took the one allocator lock all vCPU threads (of every VM) share. A CPU is a vCPU
 * of one VM, as for {@link BlockClaims}.
 *
 * <p>Frames on a list are free (nobody owns them, and {@link HostMemory#framesInUse} counts them with the free ones)
 * but held back from the allocator, as the kernel's pcp pages are held back from the buddy allocator; an allocation
 * that finds no free frame drains every list first ({@code drain_all_pages}), so a list never makes one fail.
 *
 * <p>Everything a take writes — the lock word, the count, the handed-out counts, the frames — lies in one array with
 * 128 bytes of padding at either end, and the object itself is never written: a list's header or counts sharing a
 * cache line with another vCPU's list, or with the table of lists every fault reads, made two vCPU threads (of two TDs
 * of one host) spend 1.4× the CPU of one for the same faults, depending on where the heap had put the objects.
 *
 * <p>Lock order: the allocator's lock, then a list's; a list's lock is never held while taking the allocator's.
 */
final class CpuFrames {
    /** Frames a refill takes at once: the kernel's usual {@code pcp->batch}. */
    static final int BATCH = 63;

    private static final VarHandle CELL = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int PAD = 16;
    private static final int LOCK = PAD, COUNT = PAD + 1, HANDED_OUT = PAD + 2;

    final long cpu;
    /**
     * The lock word, the number of frames on the list, the frames handed out by owner kind (their owners are counted
     * here, not under the allocator's lock), then the frames: {@code pfn(count - 1)} goes next, so a batch is handed
     * out lowest-first.
     */
    private final long[] cells;
    private final int framesAt;
    /**
     * A refill's frames as the allocator gives them, before {@link #refill} stores them: used under the allocator's
     * lock. One buffer per list, not one for all: the allocator's single buffer had two vCPU threads' refills write the
     * same eight lines.
     */
    final long[] refillBuffer = new long[BATCH];

    CpuFrames(long cpu, int kinds) {
        this.cpu = cpu;
        this.framesAt = HANDED_OUT + kinds;
        this.cells = new long[framesAt + BATCH + PAD];
    }

    private void lock() {
        if (!CELL.compareAndSet(cells, LOCK, 0L, 1L))
            lockContended();
    }

    private void lockContended() {
        for (int spins = 0; !CELL.compareAndSet(cells, LOCK, 0L, 1L); spins++)
            Backoff.pause(spins, 64, this, 20_000);
    }

    private void unlock() {
        CELL.setRelease(cells, LOCK, 0L);
    }

    /** A frame for an owner of {@code kind}, counted as handed out; -1 when the list is empty. */
    long take(int kind) {
        lock();
        try {
            int n = (int) cells[COUNT];
            if (n == 0)
                return -1;
            cells[HANDED_OUT + kind]++;
            cells[COUNT] = n - 1;
            return cells[framesAt + n - 1];
        } finally {
            unlock();
        }
    }

    /**
     * Fills the empty list with a refill's frames, in the order the allocator gave them: stored in reverse, so that
     * {@link #take} hands them out in that order.
     */
    void refill(long[] batch, int n) {
        lock();
        try {
            if (cells[COUNT] != 0)
                throw new IllegalStateException("refill of a list that still has " + cells[COUNT] + " frames");
            for (int i = 0; i < n; i++)
                cells[framesAt + i] = batch[n - 1 - i];
            cells[COUNT] = n;
        } finally {
            unlock();
        }
    }

    /**
     * A freed frame of an owner of {@code kind} back on the list, counted as no longer handed out
     * ({@code free_unref_page} to the CPU's pcp list); false when the list is full, for the allocator to take it.
     * The frame's owner and token are cleared before.
     */
    boolean put(long pfn, int kind) {
        lock();
        try {
            int n = (int) cells[COUNT];
            if (n == BATCH)
                return false;
            cells[framesAt + n] = pfn;
            cells[COUNT] = n + 1;
            cells[HANDED_OUT + kind]--;
            return true;
        } finally {
            unlock();
        }
    }

    /** Takes every frame off the list into {@code out} (room for {@link #BATCH}); returns how many. */
    int drain(long[] out) {
        lock();
        try {
            int n = (int) cells[COUNT];
            System.arraycopy(cells, framesAt, out, 0, n);
            cells[COUNT] = 0;
            return n;
        } finally {
            unlock();
        }
    }

    int count() {
        lock();
        try {
            return (int) cells[COUNT];
        } finally {
            unlock();
        }
    }

    long handedOut(int kind) {
        lock();
        try {
            return cells[HANDED_OUT + kind];
        } finally {
            unlock();
        }
    }
}
