package org.tdplab.mmu.tdp.vm;

/**
 * The data oracle: the token the guest last wrote to each page, private and shared pages apart, kept
 * independently of frames and translations. A read that returns anything else — a stale TLB, a lost private
 * page, contents surviving a conversion or a punched hole — is reported as a violation. Lock-free and
 * allocation-free on the access path.
 */
final class ExpectedMemory {
    private final TokenMap shared = new TokenMap();
    private final TokenMap privateTokens = new TokenMap();

    private TokenMap of(boolean isPrivate) {
        return isPrivate ? privateTokens : shared;
    }

    void wrote(long gfn, boolean isPrivate, long token) {
        of(isPrivate).put(gfn, token);
    }

    long expected(long gfn, boolean isPrivate) {
        return of(isPrivate).get(gfn);
    }

    /** The backing of that kind was discarded: reads return zero. */
    void discard(long startGfn, long endGfn, boolean isPrivate) {
        of(isPrivate).clear(startGfn, endGfn);
    }

    /** A memslot moved: its pages keep their contents at the new GFNs. */
    void move(long oldBase, long newBase, long npages) {
        for (TokenMap tokens : new TokenMap[] { shared, privateTokens }) {
            LongPairs moved = new LongPairs();
            tokens.forEach(oldBase, oldBase + npages, moved::add);
            tokens.clear(oldBase, oldBase + npages);
            for (int i = 0; i < moved.size; i++)
                tokens.put(moved.keys[i] - oldBase + newBase, moved.values[i]);
        }
    }

    /** A growable list of (GFN, token) pairs. */
    private static final class LongPairs {
        long[] keys = new long[64], values = new long[64];
        int size;

        void add(long key, long value) {
            if (size == keys.length) {
                keys = java.util.Arrays.copyOf(keys, size * 2);
                values = java.util.Arrays.copyOf(values, size * 2);
            }
            keys[size] = key;
            values[size++] = value;
        }
    }
}
