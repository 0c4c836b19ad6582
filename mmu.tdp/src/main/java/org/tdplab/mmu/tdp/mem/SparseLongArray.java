package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A sparse {@code long} array of a capacity that can grow, whose absent entries read as 0: a three-level radix (top →
 * 512 leaves → 512 values) whose leaves are created on the first non-zero write. Memory follows what was written, not
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

    private volatile long capacity;
    private volatile long[][][] top;

    public SparseLongArray(long capacity) {
        if (capacity < 0)
            throw new IllegalArgumentException("capacity " + capacity);
        this.capacity = capacity;
        this.top = new long[topEntries(capacity)][][];
    }

    private static int topEntries(long capacity) {
        long n = (capacity + (1L << 2 * BITS) - 1) >>> 2 * BITS;
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("capacity " + capacity + " too large");
        return (int) n;
    }

    public long capacity() {
        return capacity;
    }

    /**
     * Raises the capacity (never lowers it). The top array is copied and republished; a writer that raced the copy
     * into the old array is not lost, because callers grow under the lock that serializes creation of new middles
     * (the host memory lock).
     */
    public synchronized void grow(long newCapacity) {
        if (newCapacity <= capacity)
            return;
        int n = topEntries(newCapacity);
        if (n > top.length)
            top = java.util.Arrays.copyOf(top, n);
        capacity = newCapacity;
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

    /**
     * Drops the leaf holding {@code i} when every entry in it is 0, so its memory goes; whether it did. Only under
     * the lock every writer of the array holds (a write racing the unlink would be lost); a reader still holding the
     * leaf reads 0, as it does once the leaf is gone.
     */
    public boolean releaseLeafIfZero(long i) {
        long[][] mid = mid(i);
        if (mid == null)
            return false;
        int mi = (int) ((i >>> BITS) & MASK);
        long[] leaf = (long[]) MID.getAcquire(mid, mi);
        if (leaf == null)
            return false;
        for (int j = 0; j < FAN; j++)
            if ((long) VAL.getAcquire(leaf, j) != 0)
                return false;
        MID.setRelease(mid, mi, (long[]) null);
        return true;
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

    /** A new middle, published in the current top array (under the lock {@link #grow} takes to copy it). */
    private synchronized long[][] createMid(int ti) {
        long[][] mid = (long[][]) TOP.getAcquire(top, ti);
        if (mid == null) {
            mid = new long[FAN][];
            TOP.setRelease(top, ti, mid);
        }
        return mid;
    }

    /** Number of leaves currently allocated (for memory-use tests). */
    public long leaves() {
        long n = 0;
        long[][][] top = this.top;
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
        long[][][] t = top;
        int ti = (int) (i >>> 2 * BITS);
        return ti < t.length ? (long[][]) TOP.getAcquire(t, ti) : null;
    }

    private long[] leaf(long i) {
        long[][] mid = mid(i);
        return mid == null ? null : (long[]) MID.getAcquire(mid, (int) ((i >>> BITS) & MASK));
    }

    private long[] leafOrCreate(long i) {
        int ti = (int) (i >>> 2 * BITS);
        long[][] mid = mid(i);
        if (mid == null)
            mid = createMid(ti);
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
