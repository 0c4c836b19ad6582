package org.tdplab.mmu.tdp.mem;

/**
 * A sparse bitmap over {@link SparseLongArray} words: lock-free, allocation-free single-bit reads, atomic single-bit
 * updates, and word-at-a-time range operations. Absent words read as all-zero and cost no memory.
 */
public final class SparseBitmap {
    private final long bits;
    private final SparseLongArray words;

    public SparseBitmap(long bits) {
        this.bits = bits;
        this.words = new SparseLongArray((bits + 63) >>> 6);
    }

    public long size() {
        return bits;
    }

    public boolean get(long bit) {
        check(bit);
        return (words.get(bit >>> 6) & (1L << bit)) != 0;
    }

    /** Atomically sets {@code bit}; true when it was clear before. */
    public boolean testAndSet(long bit) {
        check(bit);
        long mask = 1L << bit;
        return (words.getAndBitwiseOr(bit >>> 6, mask) & mask) == 0;
    }

    /** Atomically clears {@code bit}; true when it was set before. */
    public boolean testAndClear(long bit) {
        check(bit);
        long mask = 1L << bit;
        return (words.getAndBitwiseAnd(bit >>> 6, ~mask) & mask) != 0;
    }

    /** Sets or clears {@code [from, to)}, atomically per word so concurrent single-bit updates are not lost. */
    public void setRange(long from, long to, boolean value) {
        checkRange(from, to);
        for (long w = from >>> 6; from < to; w++) {
            long mask = rangeMask(from, to, w);
            if (value)
                words.getAndBitwiseOr(w, mask);
            else
                words.getAndBitwiseAnd(w, ~mask);
            from = (w + 1) << 6;
        }
    }

    /** True when every bit of {@code [from, to)} equals {@code value} (true for an empty range). */
    public boolean allEqual(long from, long to, boolean value) {
        checkRange(from, to);
        for (long w = from >>> 6; from < to; w++) {
            long mask = rangeMask(from, to, w);
            long word = words.get(w) & mask;
            if (value ? word != mask : word != 0)
                return false;
            from = (w + 1) << 6;
        }
        return true;
    }

    /** Number of set bits in {@code [from, to)}. */
    public long count(long from, long to) {
        checkRange(from, to);
        long n = 0;
        for (long w = from >>> 6; from < to; w++) {
            n += Long.bitCount(words.get(w) & rangeMask(from, to, w));
            from = (w + 1) << 6;
        }
        return n;
    }

    /** Atomically clears the bits of {@code mask} in word {@code w}; returns those of them that were set. */
    public long getAndClearWord(long w, long mask) {
        return words.getAndBitwiseAnd(w, ~mask) & mask;
    }

    /** A copy of the whole bitmap, one {@code long} per 64 bits. */
    public long[] snapshot() {
        long[] out = new long[(int) ((bits + 63) >>> 6)];
        for (int w = 0; w < out.length; w++)
            out[w] = words.get(w);
        return out;
    }

    private static long rangeMask(long from, long to, long w) {
        long lo = from - (w << 6);
        long hi = Math.min(to - (w << 6), 64);
        long m = -1L << lo;
        return hi == 64 ? m : m & ((1L << hi) - 1);
    }

    private void check(long bit) {
        if (bit < 0 || bit >= bits)
            throw new IndexOutOfBoundsException("bit " + bit + " outside [0, " + bits + ")");
    }

    private void checkRange(long from, long to) {
        if (from < 0 || to > bits || from > to)
            throw new IndexOutOfBoundsException("range [" + from + ", " + to + ") outside [0, " + bits + ")");
    }
}
