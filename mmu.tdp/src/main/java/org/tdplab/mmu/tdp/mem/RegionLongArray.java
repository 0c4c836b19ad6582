package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A {@link RegionArray} of {@code long}s (host memory's per-frame data token): regions of {@value #REGION} entries
 * (2 GiB of 4K frames), each cut in {@value #SLOTS} slots of 512 entries (2M); leaves of 4 KiB, and a region's chunk
 * of its first {@value #CHUNK_SLOTS} slots a {@code long[]} of 4,088 KiB. Reads and writes are lock-free and
 * allocation-free (a write allocates once per slot, on its first non-zero value).
 */
public final class RegionLongArray extends RegionArray {
    static final int REGION_BITS = 19;
    static final int REGION = 1 << REGION_BITS;
    private static final int REGION_MASK = REGION - 1;
    static final int SLOTS = REGION / FAN;
    /** Slots a chunk holds, from a region's first: 4,088 KiB, to fit one 4 MiB G1 region with its header. */
    static final int CHUNK_SLOTS = SLOTS - 2;
    /** Slots with storage the array holds before it makes any chunk: a chunk's worth. */
    static final int CHUNKS_FROM = CHUNK_SLOTS;
    private static final VarHandle VAL = MethodHandles.arrayElementVarHandle(long[].class);

    public RegionLongArray(long capacity) {
        this(capacity, CHUNK_AFTER, CHUNKS_FROM);
    }

    /** @see RegionArray#RegionArray(long, int, int, int) */
    public RegionLongArray(long capacity, int chunkAfter, int chunksFrom) {
        super(capacity, REGION_BITS, chunkAfter, chunksFrom);
    }

    /** The value at {@code i}; 0 when never written. */
    public long get(long i) {
        long[] a = (long[]) storage(i, REGION_BITS);
        return a == null ? 0 : (long) VAL.getAcquire(a, offset(a, i));
    }

    public void set(long i, long v) {
        long[] a = (long[]) storage(i, REGION_BITS);
        if (a == null && v != 0)
            a = (long[]) make(i);
        if (a != null)
            VAL.setRelease(a, offset(a, i), v);
    }

    /** Where {@code i} is in {@code a}: its leaf, or its region's chunk. */
    private static int offset(long[] a, long i) {
        return (int) i & (a.length == FAN ? MASK : REGION_MASK);
    }

    @Override
    Object newStorage(int n) {
        return new long[n];
    }

    @Override
    void clear(Object storage, long from, long to) {
        long[] a = (long[]) storage;
        for (long i = from; i < to; i++)
            VAL.setRelease(a, offset(a, i), 0L);
    }
}
