package org.tdplab.mmu.tdp.vm;

import java.util.concurrent.ConcurrentHashMap;

/**
 * The data oracle: the token the guest last wrote to each page, private and shared pages apart, kept
 * independently of frames and translations. A read that returns anything else — a stale TLB, a lost private
 * page, contents surviving a conversion or a punched hole — is reported as a violation.
 */
final class ExpectedMemory {
    private final ConcurrentHashMap<Long, Long> tokens = new ConcurrentHashMap<>();

    private static long key(long gfn, boolean isPrivate) {
        return gfn << 1 | (isPrivate ? 1 : 0);
    }

    void wrote(long gfn, boolean isPrivate, long token) {
        if (token == 0)
            tokens.remove(key(gfn, isPrivate));
        else
            tokens.put(key(gfn, isPrivate), token);
    }

    long expected(long gfn, boolean isPrivate) {
        Long t = tokens.get(key(gfn, isPrivate));
        return t == null ? 0 : t;
    }

    /** The backing of that kind was discarded: reads return zero. */
    void discard(long startGfn, long endGfn, boolean isPrivate) {
        tokens.keySet().removeIf(k -> (k & 1) == (isPrivate ? 1 : 0) && (k >>> 1) >= startGfn && (k >>> 1) < endGfn);
    }

    /** A memslot moved: its pages keep their contents at the new GFNs. */
    void move(long oldBase, long newBase, long npages) {
        java.util.Map<Long, Long> moved = new java.util.HashMap<>();
        tokens.entrySet().removeIf(e -> {
            long gfn = e.getKey() >>> 1;
            if (gfn < oldBase || gfn >= oldBase + npages)
                return false;
            moved.put((gfn - oldBase + newBase) << 1 | (e.getKey() & 1), e.getValue());
            return true;
        });
        tokens.putAll(moved);
    }
}
