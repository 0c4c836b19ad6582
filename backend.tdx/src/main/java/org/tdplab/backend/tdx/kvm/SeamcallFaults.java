package org.tdplab.backend.tdx.kvm;

import java.util.ArrayDeque;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;

import org.tdplab.backend.tdx.module.Seamcall;

/**
 * Statuses the next calls of a leaf return instead of the module's — the TDX module failing in a way the model never
 * reaches by itself (host interrupts, module bugs) — so that KVM's error paths can be driven: TRACK, and CACHE.WB,
 * VP.FLUSH, VPFLUSHDONE, KEY.FREEID, RECLAIM and WBINVD of the teardown ({@link #LEAVES}). Tests queue them here, a
 * scenario with {@code tdx.fail} ({@link TdxVerbs}). A failed SEAMCALL changes nothing in the module, so the leaf
 * does not run ({@link #fail}); an informational status is returned after it ran ({@link #answer}). Statuses queued
 * for one leaf are taken in the order they were queued. Empty, and then never looked at beyond one volatile read,
 * unless something was queued.
 */
final class SeamcallFaults {
    /**
     * The leaves every call site consults, in the order a TD's end calls them: those whose failure KVM handles in a
     * defined way the model follows (bug, retry, warn, leak; mainline 6.19).
     */
    static final List<Seamcall> LEAVES = List.of(Seamcall.TDH_MEM_TRACK, Seamcall.TDH_VP_FLUSH,
            Seamcall.TDH_MNG_VPFLUSHDONE, Seamcall.TDH_PHYMEM_CACHE_WB, Seamcall.TDH_MNG_KEY_FREEID,
            Seamcall.TDH_PHYMEM_PAGE_RECLAIM, Seamcall.TDH_PHYMEM_PAGE_WBINVD);
    private static final Set<Seamcall> INJECTABLE = EnumSet.copyOf(LEAVES);

    /** Per leaf, runs of statuses to come: {status, 1 if the leaf runs first, calls left}. */
    private final Map<Seamcall, ArrayDeque<long[]>> queued = new EnumMap<>(Seamcall.class);
    /** Calls still to answer from the queues (a volatile read of it is all an unarmed call costs). */
    private volatile long pending;

    /** The next {@code times} calls of {@code leaf} return {@code status} and do nothing. */
    void fail(Seamcall leaf, long status, long times) {
        add(leaf, status, times, false);
    }

    /** The next {@code times} calls of {@code leaf} run, then return {@code status} instead of the module's. */
    void answer(Seamcall leaf, long status, long times) {
        add(leaf, status, times, true);
    }

    private synchronized void add(Seamcall leaf, long status, long times, boolean runs) {
        if (!INJECTABLE.contains(leaf) || times < 1)
            throw new IllegalArgumentException(leaf + " × " + times);
        queued.computeIfAbsent(leaf, l -> new ArrayDeque<>()).add(new long[] { status, runs ? 1 : 0, times });
        pending += times;
    }

    /** Whether any call is still to be answered from the queues: a caller per page asks before it makes a lambda. */
    boolean armed() {
        return pending > 0;
    }

    /** The leaf's status: a queued one, else the module's answer. */
    long call(Seamcall leaf, LongSupplier module) {
        long[] next = pending > 0 ? take(leaf) : null;
        if (next == null)
            return module.getAsLong();
        if (next[1] != 0)
            module.getAsLong();
        return next[0];
    }

    /** The next queued answer for {@code leaf} ({status, runs}), or null. */
    private synchronized long[] take(Seamcall leaf) {
        ArrayDeque<long[]> q = queued.get(leaf);
        long[] run = q == null ? null : q.peek();
        if (run == null)
            return null;
        if (--run[2] == 0)
            q.poll();
        pending--;
        return run;
    }

    /** Calls of {@code leaf} still to be answered from the queue. */
    synchronized long queued(Seamcall leaf) {
        long n = 0;
        for (long[] run : queued.getOrDefault(leaf, new ArrayDeque<>()))
            n += run[2];
        return n;
    }
}
