package org.tdplab.mmu.tdp.mem;

/** Bit operations on {@code long[]} bitmaps, for the frame allocator's free and has-free maps. */
final class Bitmaps {
    private Bitmaps() {
    }

    /** The first word at or after {@code from} with a bit set, or -1. */
    static int firstWord(long[] bm, int from) {
        for (int w = from; w < bm.length; w++)
            if (bm[w] != 0)
                return w;
        return -1;
    }

    /** The first set bit at or after word {@code fromWord}, or -1. */
    static int firstFrom(long[] bm, int fromWord) {
        for (int w = fromWord; w < bm.length; w++)
            if (bm[w] != 0)
                return (w << 6) + Long.numberOfTrailingZeros(bm[w]);
        return -1;
    }

    /** The first set bit at or after bit {@code from}, or -1. */
    static int nextSet(long[] bm, int from) {
        int w = from >>> 6;
        if (w >= bm.length)
            return -1;
        long word = bm[w] & (-1L << from);
        if (word != 0)
            return (w << 6) + Long.numberOfTrailingZeros(word);
        return firstFrom(bm, w + 1);
    }

    static int first(long[] bm) {
        return firstFrom(bm, 0);
    }

    static boolean any(long[] bm) {
        for (long w : bm)
            if (w != 0)
                return true;
        return false;
    }

    static boolean testBit(long[] bm, int i) {
        return (bm[i >>> 6] & (1L << i)) != 0;
    }

    static void setBit(long[] bm, int i) {
        bm[i >>> 6] |= 1L << i;
    }

    static void clearBit(long[] bm, int i) {
        bm[i >>> 6] &= ~(1L << i);
    }
}
