package org.tdplab.mmu.tdp.mem;

import java.util.Arrays;

/**
 * The 2M block each CPU took its last 4K frame from, so that vCPUs faulting at once take their frames from different
 * blocks — the effect of the kernel's per-CPU page lists, which hand each CPU a batch of pages of its own. Frames
 * handed out alternately to two vCPUs put both vCPU threads on the same cache lines and the same locks of everything
 * kept per frame or per 2M of frames: its contents, its owner, a firmware model's page metadata and the locks it
 * keeps per range of frames. Not thread-safe: used under the allocator's lock.
 *
 * <p>A CPU is a vCPU of one VM, named by the caller ({@code vmId << 32 | vcpu}), not the calling thread: which thread
 * runs a vCPU must not change which frames it gets, or a scenario's PFNs would differ between two runs of it.
 *
 * <p>A claim is only a preference: the allocator passes over a block another CPU claimed lately while a block no one
 * claimed, or a fresh one, is left, and takes it rather than fail. With one allocating CPU nothing is ever passed
 * over, so it gets the frames the allocator gives without claims.
 */
final class BlockClaims {
    private static final int SLOTS = 16;
    /** No CPU: an empty slot. */
    private static final long NONE = Long.MIN_VALUE;
    /** A claim older than this many 4K allocations is forgotten: its CPU stopped allocating, or went away. */
    static final long RECENT = 4096;

    private final long[] cpu = new long[SLOTS];
    private final long[] block = new long[SLOTS];
    private final long[] stamp = new long[SLOTS];
    /** 4K allocations by CPUs so far: the clock claims age by. */
    private long clock;
    private long caller = NONE;

    BlockClaims() {
        Arrays.fill(cpu, NONE);
    }

    /** Starts a 4K allocation by CPU {@code cpuKey}. */
    void begin(long cpuKey) {
        begin(cpuKey, 1);
    }

    /** Starts a batch of up to {@code frames} 4K allocations by CPU {@code cpuKey}: the clock moves by the batch. */
    void begin(long cpuKey, int frames) {
        caller = cpuKey;
        clock += frames;
    }

    /** Whether a CPU other than the caller took a frame from 2M block {@code b} lately. */
    boolean claimedByOther(long b) {
        for (int i = 0; i < SLOTS; i++)
            if (block[i] == b && cpu[i] != NONE && cpu[i] != caller && clock - stamp[i] <= RECENT)
                return true;
        return false;
    }

    /** The caller took a frame from 2M block {@code b}: its claim, in its own slot or the oldest. */
    void claim(long b) {
        int slot = 0;
        for (int i = 0; i < SLOTS; i++) {
            if (cpu[i] == caller) {
                slot = i;
                break;
            }
            if (stamp[i] < stamp[slot])
                slot = i;
        }
        cpu[slot] = caller;
        block[slot] = b;
        stamp[slot] = clock;
    }
}
