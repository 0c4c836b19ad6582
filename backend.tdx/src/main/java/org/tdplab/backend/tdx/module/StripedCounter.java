package org.tdplab.backend.tdx.module;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A count that leaves holding the module's lock shared change at once: each thread adds in a slot of its own cache
 * line (chosen by its thread), and the count is the sum of the slots — exact while no add runs, which holding the
 * lock exclusively ensures. The module keeps these counts in one word each (the lock's shared holders,
 * {@code chldcnt}, the epoch refcounts); the model stripes them because one word written by both vCPU threads at
 * every fault moved between their cores four to six times per fault, with whatever fields shared its line.
 */
final class StripedCounter {
    private static final int SLOTS = 16, PAD = 16; // a slot per 128 bytes
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    /**
     * Slot {@code k} at {@code (k + 1) * PAD}: none within 128 bytes of the array's header (every add reads its length)
     * or of another slot.
     */
    private final long[] counts = new long[(SLOTS + 2) * PAD];

    /** The calling thread's slot: threads made one after the other (a VM's vCPU threads) get different ones. */
    @SuppressWarnings("deprecation") // Thread.threadId() is Java 19
    static int slot() {
        long id = Thread.currentThread().getId();
        return ((int) ((id ^ id >>> 4) & (SLOTS - 1)) + 1) * PAD;
    }

    /** Adds {@code delta} in slot {@code slot} (from {@link #slot()}), atomically and sequentially consistent. */
    void add(int slot, long delta) {
        WORD.getAndAdd(counts, slot, delta);
    }

    void add(long delta) {
        add(slot(), delta);
    }

    /** The count: the sum of the slots, read volatile. */
    long sum() {
        long n = 0;
        for (int s = PAD; s <= SLOTS * PAD; s += PAD)
            n += (long) WORD.getVolatile(counts, s);
        return n;
    }

    /**
     * Whether every slot is empty: for a count each thread takes back in its own slot (the lock's holders), the same
     * as a zero sum, in one pass that stops at the first holder.
     */
    boolean isZero() {
        for (int s = PAD; s <= SLOTS * PAD; s += PAD)
            if ((long) WORD.getVolatile(counts, s) != 0)
                return false;
        return true;
    }

    /** Sets the count (a restore, holding the lock exclusively). */
    void set(long value) {
        for (int s = PAD; s <= SLOTS * PAD; s += PAD)
            WORD.setVolatile(counts, s, 0L);
        WORD.setVolatile(counts, PAD, value);
    }
}
