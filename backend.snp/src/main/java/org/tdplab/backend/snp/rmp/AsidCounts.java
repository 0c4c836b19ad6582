package org.tdplab.backend.snp.rmp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Assigned 4K frames per ASID, which RMPUPDATEs of several vCPU threads change at once: each thread adds in a row of
 * its own (chosen by its thread, rows a cache line apart), and an ASID's count is the sum of its column. One counter
 * per ASID was written by both vCPU threads of a VM at every private fault. A count read while RMPUPDATEs of that ASID
 * run may be mid-way, as the single counter's could; the invariant check and the teardown read it when none does.
 */
final class AsidCounts {
    private static final int SLOTS = 16, PAD = 16;
    private static final VarHandle COUNT = MethodHandles.arrayElementVarHandle(long[].class);
    private final int asids, row;
    private final long[] counts;

    AsidCounts(int asids) {
        this.asids = asids;
        this.row = asids + PAD;
        this.counts = new long[PAD + SLOTS * row];
    }

    @SuppressWarnings("deprecation") // Thread.threadId() is Java 19
    private int rowOfThisThread() {
        long id = Thread.currentThread().getId();
        return PAD + (int) ((id ^ id >>> 4) & (SLOTS - 1)) * row;
    }

    void add(int asid, long delta) {
        COUNT.getAndAdd(counts, rowOfThisThread() + asid, delta);
    }

    long get(int asid) {
        if (asid < 0 || asid >= asids)
            throw new IndexOutOfBoundsException("asid " + asid);
        long n = 0;
        for (int r = PAD; r < counts.length; r += row)
            n += (long) COUNT.getVolatile(counts, r + asid);
        return n;
    }
}
