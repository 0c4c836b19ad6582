package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.tdp.mem.HostMemory;

/**
 * The data oracle: the token the guest last wrote to each page, private and shared pages apart, kept
 * independently of frames and translations. A read that returns anything else — a stale TLB, a lost private
 * page, contents surviving a conversion or a punched hole — is reported as a violation. Lock-free and
 * allocation-free on the access path.
 *
 * <p>A guest write stores the frame and then the token, so a read of the same page on another vCPU can return the
 * new contents before the oracle knows them, or the old ones after: a guest write owns its leaf of the store from
 * before the frame to after the token, and counts itself in the leaf; a read looks at the owner and the count like a
 * sequence lock, and a read that a write of the leaf overlapped is not judged. A read that no write overlapped is
 * judged exactly.
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

    /**
     * A guest write of the page begins: called before its frame is stored, and
     * {@link #wrote(TokenMap.Leaf, long, long)} after.
     */
    TokenMap.Leaf beginWrite(long gfn, boolean isPrivate) {
        return of(isPrivate).beginWrite(gfn);
    }

    /** The token a write begun by {@link #beginWrite} stored, and the write's end. */
    void wrote(TokenMap.Leaf leaf, long gfn, long token) {
        TokenMap.put(leaf, gfn, token);
        TokenMap.endWrite(leaf);
    }

    /**
     * A guest write of {@code token} to the page's frame {@code pfn}: the frame stored inside
     * {@link #beginWrite}/{@link #wrote(TokenMap.Leaf, long, long)}. A store that fails lets the leaf go, its reads
     * unjudged from then on (the frame may hold either token).
     */
    void guestWrite(HostMemory host, long gfn, boolean isPrivate, long pfn, long token) {
        TokenMap.Leaf leaf = beginWrite(gfn, isPrivate);
        try {
            host.write(pfn, token);
        } catch (RuntimeException | Error e) {
            TokenMap.abortWrite(leaf);
            throw e;
        }
        wrote(leaf, gfn, token);
    }

    /**
     * Before a guest read of the page's frame: its leaf (null if none yet), which {@link #beforeRead} and
     * {@link #expected(TokenMap.Leaf, long)} take, so that a read walks the store once.
     */
    TokenMap.Leaf leafOf(long gfn, boolean isPrivate) {
        return of(isPrivate).leafOf(gfn);
    }

    /** Before a guest read of the page's frame: what {@link #judgeable} needs (-1: a write is in flight). */
    static long beforeRead(TokenMap.Leaf leaf) {
        return TokenMap.writesIfQuiet(leaf);
    }

    /** {@link #expected(long, boolean)} in the leaf {@link #leafOf} found. */
    static long expected(TokenMap.Leaf leaf, long gfn) {
        return TokenMap.get(leaf, gfn);
    }

    /** After a read whose token differs from {@link #expected}: true unless a write of its leaf overlapped it. */
    boolean judgeable(long gfn, boolean isPrivate, long beforeRead) {
        return !of(isPrivate).writeRaced(gfn, beforeRead);
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
