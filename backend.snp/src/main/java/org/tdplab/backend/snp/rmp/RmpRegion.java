package org.tdplab.backend.snp.rmp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The entries of one 2M region: low, high qword per frame, as the hardware lays them out, in the region's slice
 * of its chunk's arrays ({@link RegionTable}: the storage of about 1 GiB of frames is two arrays, not 1,022).
 */
final class RmpRegion {
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

    /**
     * The chunk's entry words, this region's from {@link #base}: read volatile, written release ({@link #word},
     * {@link #setWord}); a plain array, not an {@code AtomicLongArray}: one dependent load less per look-up (a
     * cache miss on a random fault).
     */
    private final long[] words;
    private final int base;
    /** Who last wrote each entry, this region's from {@link #writerBase}; written under the region lock. */
    private final byte[] writers;
    private final int writerBase;
    /** Entries that are not all zero; under the region lock. */
    int nonZero;

    RmpRegion(long[] words, int base, byte[] writers, int writerBase) {
        this.words = words;
        this.base = base;
        this.writers = writers;
        this.writerBase = writerBase;
    }

    long word(int k) {
        return (long) WORDS.getVolatile(words, base + k);
    }

    void setWord(int k, long v) {
        WORDS.setRelease(words, base + k, v);
    }

    /** Who last wrote entry {@code i} ({@link Rmp#BY_RMPUPDATE}, …); 0 for an entry never written. */
    byte writer(int i) {
        return writers[writerBase + i];
    }

    void setWriter(int i, byte by) {
        writers[writerBase + i] = by;
    }
}
