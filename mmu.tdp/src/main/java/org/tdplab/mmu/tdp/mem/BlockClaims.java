package org.tdplab.mmu.tdp.mem;

import java.util.Arrays;

/**
 * The 2M block each thread took its last 4K frame from, so that threads allocating at once take their frames from
 * different blocks — the effect of the kernel's per-CPU page lists, which hand each CPU a batch of pages of its own.
 * Frames handed out alternately to two vCPU threads put both threads on the same cache lines and the same locks of
 * everything kept per frame or per 2M of frames: its contents, its owner, a firmware model's page metadata, the
 * SNP RMP's region locks. Not thread-safe: used under the allocator's lock.
 *
 * <p>A claim is only a preference: the allocator passes over a block another thread claimed lately while a block no
 * one claimed, or a fresh one, is left, and takes it rather than fail. With one allocating thread nothing is ever
 * passed over, so a single-threaded run gets the frames it always got.
 */
final class BlockClaims {
    private static final int SLOTS = 16;
    /** A claim older than this many 4K allocations is forgotten: its thread stopped allocating, or ended. */
    static final long RECENT = 4096;

    private final long[] thread = new long[SLOTS];
    private final long[] block = new long[SLOTS];
    private final long[] stamp = new long[SLOTS];
    /** 4K allocations so far: the clock claims age by. */
    private long clock;
    private long caller = -1;

    BlockClaims() {
        Arrays.fill(thread, -1);
    }

    /** Starts a 4K allocation by the thread with id {@code threadId}. */
    void begin(long threadId) {
        caller = threadId;
        clock++;
    }

    /** Whether a thread other than the caller took a frame from 2M block {@code b} lately. */
    boolean claimedByOther(long b) {
        for (int i = 0; i < SLOTS; i++)
            if (block[i] == b && thread[i] != -1 && thread[i] != caller && clock - stamp[i] <= RECENT)
                return true;
        return false;
    }

    /** The caller took a frame from 2M block {@code b}: its claim, in its own slot or the oldest. */
    void claim(long b) {
        int slot = 0;
        for (int i = 0; i < SLOTS; i++) {
            if (thread[i] == caller) {
                slot = i;
                break;
            }
            if (stamp[i] < stamp[slot])
                slot = i;
        }
        thread[slot] = caller;
        block[slot] = b;
        stamp[slot] = clock;
    }
}
