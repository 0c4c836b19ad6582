package org.tdplab.backend.tdx.kvm;

import java.util.ArrayDeque;
import java.util.EnumMap;
import java.util.Map;
import java.util.function.LongSupplier;

import org.tdplab.backend.tdx.module.Seamcall;

/**
 * Statuses a test makes the next calls of a leaf return instead of running it — the TDX module failing in a way the
 * model never reaches by itself (host interrupts, module bugs) — so that KVM's error paths can be driven: TRACK,
 * CACHE.WB, VP.FLUSH, VPFLUSHDONE, KEY.FREEID, RECLAIM and WBINVD of the teardown. A failed SEAMCALL changes nothing
 * in the module, so the leaf does not run; an informational status ({@link #answer}) is returned after it ran.
 * Empty (and never looked at beyond one volatile read) outside tests.
 */
final class SeamcallFaults {
    /** Per leaf, the statuses to come: {status, 1 if the leaf runs first}. */
    private final Map<Seamcall, ArrayDeque<long[]>> queued = new EnumMap<>(Seamcall.class);
    private volatile boolean armed;

    /** The next {@code times} calls of {@code leaf} return {@code status} and do nothing. */
    void fail(Seamcall leaf, long status, int times) {
        add(leaf, status, times, false);
    }

    /** The next {@code times} calls of {@code leaf} run, then return {@code status} instead of the module's. */
    void answer(Seamcall leaf, long status, int times) {
        add(leaf, status, times, true);
    }

    private synchronized void add(Seamcall leaf, long status, int times, boolean runs) {
        ArrayDeque<long[]> q = queued.computeIfAbsent(leaf, l -> new ArrayDeque<>());
        for (int i = 0; i < times; i++)
            q.add(new long[] { status, runs ? 1 : 0 });
        armed = true;
    }

    /** The leaf's status: a queued one, else the module's answer. */
    long call(Seamcall leaf, LongSupplier module) {
        long[] next = armed ? take(leaf) : null;
        if (next == null)
            return module.getAsLong();
        if (next[1] != 0)
            module.getAsLong();
        return next[0];
    }

    private synchronized long[] take(Seamcall leaf) {
        ArrayDeque<long[]> q = queued.get(leaf);
        return q == null ? null : q.poll();
    }
}
