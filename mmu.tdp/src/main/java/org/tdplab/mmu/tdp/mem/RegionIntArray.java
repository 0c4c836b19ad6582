package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A {@link RegionArray} of {@code int}s, for per-page state that fits 32 bits (host memory's per-frame owner). Its
 * regions hold twice {@link RegionLongArray}'s entries ({@value #REGION}: 4 GiB of 4K frames, {@value #SLOTS} slots of
 * 512), so that a region's chunk of {@value #CHUNK_SLOTS} slots is again an array just under 4 MiB (4,092 KiB) that G1
 * allocates straight into the old generation as a humongous object; leaves are 2 KiB. Reads and writes are lock-free
 * and allocation-free (a write allocates once per slot, on its first non-zero value).
 */
public final class RegionIntArray extends RegionArray {
    static final int REGION_BITS = 20;
    static final int REGION = 1 << REGION_BITS;
    private static final int REGION_MASK = REGION - 1;
    static final int SLOTS = REGION / FAN;
    /** Slots a chunk holds, from a region's first: 4,092 KiB, to fit one 4 MiB G1 region with its header. */
    static final int CHUNK_SLOTS = SLOTS - 2;
    /** Slots with storage the array holds before it makes any chunk: a chunk's worth. */
    static final int CHUNKS_FROM = CHUNK_SLOTS;
    private static final VarHandle VAL = MethodHandles.arrayElementVarHandle(int[].class);

    public RegionIntArray(long capacity) {
        this(capacity, CHUNK_AFTER, CHUNKS_FROM);
    }

    /** @see RegionArray#RegionArray(long, int, int, int) */
    public RegionIntArray(long capacity, int chunkAfter, int chunksFrom) {
        super(capacity, REGION_BITS, chunkAfter, chunksFrom);
    }

    /** The value at {@code i}; 0 when never written. */
    public int get(long i) {
        int[] a = (int[]) storage(i, REGION_BITS);
        return a == null ? 0 : (int) VAL.getAcquire(a, offset(a, i));
    }

    public void set(long i, int v) {
        int[] a = (int[]) storage(i, REGION_BITS);
        if (a == null && v != 0)
            a = (int[]) make(i);
        if (a != null)
            VAL.setRelease(a, offset(a, i), v);
    }

    /** Where {@code i} is in {@code a}: its leaf, or its region's chunk. */
    private static int offset(int[] a, long i) {
        return (int) i & (a.length == FAN ? MASK : REGION_MASK);
    }

    @Override
    Object newStorage(int n) {
        return new int[n];
    }

    @Override
    void clear(Object storage, long from, long to) {
        int[] a = (int[]) storage;
        for (long i = from; i < to; i++)
            VAL.setRelease(a, offset(a, i), 0);
    }
}
