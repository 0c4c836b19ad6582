package org.tdplab.mmu.tdp.vm;

/**
 * The data oracle: the token the guest last wrote to each page, private and shared pages apart, kept
 * independently of frames and translations. A read that returns anything else — a stale TLB, a lost private
 * page, contents surviving a conversion or a punched hole — is reported as a violation. Allocation-free on the
 * access path.
 */
final class ExpectedMemory {
    private final TokenMap tokens = new TokenMap();

    private static long key(long gfn, boolean isPrivate) {
        return gfn << 1 | (isPrivate ? 1 : 0);
    }

    void wrote(long gfn, boolean isPrivate, long token) {
        tokens.put(key(gfn, isPrivate), token);
    }

    long expected(long gfn, boolean isPrivate) {
        return tokens.get(key(gfn, isPrivate));
    }

    /** The backing of that kind was discarded: reads return zero. */
    void discard(long startGfn, long endGfn, boolean isPrivate) {
        long kind = isPrivate ? 1 : 0;
        tokens.removeIf(k -> (k & 1) == kind && (k >>> 1) >= startGfn && (k >>> 1) < endGfn);
    }

    /** A memslot moved: its pages keep their contents at the new GFNs. */
    void move(long oldBase, long newBase, long npages) {
        java.util.List<long[]> moved = new java.util.ArrayList<>();
        tokens.forEach((k, v) -> {
            long gfn = k >>> 1;
            if (gfn >= oldBase && gfn < oldBase + npages)
                moved.add(new long[] { k, v });
        });
        for (long[] e : moved)
            tokens.put(e[0], 0);
        for (long[] e : moved)
            tokens.put(((e[0] >>> 1) - oldBase + newBase) << 1 | (e[0] & 1), e[1]);
    }
}
