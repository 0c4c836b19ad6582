package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A sparse {@code long} array of fixed capacity whose absent entries read as 0: a three-level radix (top → 512
 * leaves → 512 values) whose leaves are created on the first non-zero write. Memory follows what was written, not
 * the capacity. Readers are lock-free and allocation-free (acquire loads); writers publish with release stores or
 * atomics, so concurrent writers to different entries, and atomic updates to the same entry, are safe.
 */
public final class SparseLongArray {
    static final int BITS = 9;
    static final int FAN = 1 << BITS;
    private static final int MASK = FAN - 1;
    private static final VarHandle TOP = MethodHandles.arrayElementVarHandle(long[][][].class);
    private static final VarHandle MID = MethodHandles.arrayElementVarHandle(long[][].class);
    private static final VarHandle VAL = MethodHandles.arrayElementVarHandle(long[].class);

    private final long capacity;
    private final long[][][] top;

    public SparseLongArray(long capacity) {
        if (capacity < 0)
            throw new IllegalArgumentException("capacity " + capacity);
        this.capacity = capacity;
        long n = (capacity + (1L << 2 * BITS) - 1) >>> 2 * BITS;
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("capacity " + capacity + " too large");
        this.top = new long[(int) n][][];
    }

    public long capacity() {
        return capacity;
    }

    /** The value at {@code i}; 0 when never written. */
    public long get(long i) {
        long[] leaf = leaf(i);
        return leaf == null ? 0 : (long) VAL.getAcquire(leaf, (int) (i & MASK));
    }

    public void set(long i, long v) {
        long[] leaf = v == 0 ? leaf(i) : leafOrCreate(i);
        if (leaf != null)
            VAL.setRelease(leaf, (int) (i & MASK), v);
    }

    public long getAndBitwiseOr(long i, long bits) {
        long[] leaf = bits == 0 ? leaf(i) : leafOrCreate(i);
        return leaf == null ? 0 : (long) VAL.getAndBitwiseOr(leaf, (int) (i & MASK), bits);
    }

    public long getAndBitwiseAnd(long i, long bits) {
        long[] leaf = leaf(i);
        return leaf == null ? 0 : (long) VAL.getAndBitwiseAnd(leaf, (int) (i & MASK), bits);
    }

    /** Sets {@code [from, to)} to 0; safe with concurrent writers (no leaf is unlinked). */
    public void clearRange(long from, long to) {
        clear(from, to, false);
    }

    /**
     * Sets {@code [from, to)} to 0 and drops the leaves it covers entirely, so their memory goes. Entries are zeroed
     * before a leaf is unlinked, so a reader still holding the leaf reads 0 as it would after the unlink. Only for
     * ranges nobody writes concurrently (a write racing the unlink would be lost).
     */
    public void releaseRange(long from, long to) {
        clear(from, to, true);
    }

    private void clear(long from, long to, boolean release) {
        long i = from;
        while (i < to) {
            long leafEnd = Math.min((i | MASK) + 1, to);
            long[][] mid = mid(i);
            if (mid == null) {
                i = Math.min(((i >>> 2 * BITS) + 1) << 2 * BITS, to);
                continue;
            }
            int mi = (int) ((i >>> BITS) & MASK);
            long[] leaf = (long[]) MID.getAcquire(mid, mi);
            if (leaf != null) {
                for (long j = i; j < leafEnd; j++)
                    VAL.setRelease(leaf, (int) (j & MASK), 0L);
                if (release && (i & MASK) == 0 && leafEnd - i == FAN)
                    MID.setRelease(mid, mi, (long[]) null);
            }
            i = leafEnd;
        }
    }

    /** The first index in {@code [from, to)} with a non-zero value, or {@code to}; skips absent leaves quickly. */
    public long nextNonZero(long from, long to) {
        long i = from;
        while (i < to) {
            long[][] mid = mid(i);
            if (mid == null) {
                i = ((i >>> 2 * BITS) + 1) << 2 * BITS;
                continue;
            }
            long[] leaf = (long[]) MID.getAcquire(mid, (int) ((i >>> BITS) & MASK));
            if (leaf == null) {
                i = (i | MASK) + 1;
                continue;
            }
            long leafEnd = Math.min((i | MASK) + 1, to);
            for (; i < leafEnd; i++)
                if ((long) VAL.getAcquire(leaf, (int) (i & MASK)) != 0)
                    return i;
        }
        return to;
    }

    /** Number of leaves currently allocated (for memory-use tests). */
    public long leaves() {
        long n = 0;
        for (int t = 0; t < top.length; t++) {
            long[][] mid = (long[][]) TOP.getAcquire(top, t);
            if (mid != null)
                for (int m = 0; m < FAN; m++)
                    if (MID.getAcquire(mid, m) != null)
                        n++;
        }
        return n;
    }

    private long[][] mid(long i) {
        if (i < 0 || i >= capacity)
            throw new IndexOutOfBoundsException("index " + i + " outside [0, " + capacity + ")");
        return (long[][]) TOP.getAcquire(top, (int) (i >>> 2 * BITS));
    }

    private long[] leaf(long i) {
        long[][] mid = mid(i);
        return mid == null ? null : (long[]) MID.getAcquire(mid, (int) ((i >>> BITS) & MASK));
    }

    private long[] leafOrCreate(long i) {
        int ti = (int) (i >>> 2 * BITS);
        long[][] mid = mid(i);
        if (mid == null) {
            long[][] fresh = new long[FAN][];
            mid = (long[][]) TOP.compareAndExchange(top, ti, (long[][]) null, fresh);
            if (mid == null)
                mid = fresh;
        }
        int mi = (int) ((i >>> BITS) & MASK);
        long[] leaf = (long[]) MID.getAcquire(mid, mi);
        if (leaf == null) {
            long[] fresh = new long[FAN];
            leaf = (long[]) MID.compareAndExchange(mid, mi, (long[]) null, fresh);
            if (leaf == null)
                leaf = fresh;
        }
        return leaf;
    }
}
