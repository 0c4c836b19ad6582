package org.tdplab.backend.snp.rmp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The entries of one 2M region in the region's slice of its chunk's arrays ({@link RegionTable}: the storage of about
 * 1 GiB of frames is two arrays, not 1,364): the 512 low qwords, then the 512 high qwords two to a word. A high qword
 * holds the VMPL permission masks, one byte per VMPL ({@link RmpEntry#perms}): {@value RmpEntry#VMPLS} bytes, so its
 * upper half is always zero and is not stored — 12 bytes per entry instead of the hardware's 16, the same values.
 */
final class RmpRegion {
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    /** Words of a region: the low qwords, then the high ones two to a word. */
    static final int WORDS_PER_REGION = Rmp.PAGES + Rmp.PAGES / 2;

    /**
     * The chunk's entry words, this region's from {@link #base}: read volatile, written release ({@link #lo},
     * {@link #set}); a plain array, not an {@code AtomicLongArray}: one dependent load less per look-up (a cache
     * miss on a random fault).
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

    /** The low qword of entry {@code i}. */
    long lo(int i) {
        return (long) WORDS.getVolatile(words, base + i);
    }

    /** The high qword of entry {@code i}: its half of the word it shares with its neighbour. */
    long hi(int i) {
        long w = (long) WORDS.getVolatile(words, base + Rmp.PAGES + (i >>> 1));
        return (w >>> ((i & 1) << 5)) & 0xffff_ffffL;
    }

    /**
     * Writes entry {@code i}, the high qword first: a lock-free reader that sees the low one sees the high one
     * written before it. The caller holds the region's lock, which every writer of the region takes (the word of two
     * high qwords is read, changed and written back under it).
     *
     * @throws IllegalArgumentException for a high qword with bits above the VMPL permission bytes
     */
    void set(int i, long lo, long hi) {
        if (hi >>> 32 != 0)
            throw new IllegalArgumentException("RMP high qword 0x" + Long.toHexString(hi)
                    + " has bits above the VMPL permission bytes");
        int k = base + Rmp.PAGES + (i >>> 1), shift = (i & 1) << 5;
        long w = words[k];
        WORDS.setRelease(words, k, (w & ~(0xffff_ffffL << shift)) | hi << shift);
        WORDS.setRelease(words, base + i, lo);
    }

    /** Who last wrote entry {@code i} ({@link Rmp#BY_RMPUPDATE}, …); 0 for an entry never written. */
    byte writer(int i) {
        return writers[writerBase + i];
    }

    void setWriter(int i, byte by) {
        writers[writerBase + i] = by;
    }
}
