package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * An {@code int} array of a fixed capacity whose absent entries read as 0, in chunks of {@value #CHUNK} entries
 * (4,092 MiB of pages at one entry per 4K page) made on the first non-zero write: for per-page data that lives as long
 * as what it describes and is written densely. A chunk is one {@code int[]} of 4,092 KiB, at least half of a G1
 * region for regions up to 4 MiB (heaps up to about 8 GiB), so G1 allocates it straight into the old generation as a
 * humongous object and no young collection copies it; with the header it still fits one 4 MiB region (a power of two
 * of entries would take two). In 512-entry leaves, the same data was an array per 2 MiB of pages that young
 * collections copied until it was old. An array smaller than a chunk (capacity) has one chunk of its own size.
 *
 * <p>Readers are lock-free and allocation-free (acquire loads); writers publish with release stores, and a chunk is
 * made with a compare-and-exchange, so concurrent writers to different entries are safe. The look-up is one load less
 * than {@link SparseLongArray}'s (no middle level).
 */
final class ChunkedIntArray {
    static final int CHUNK = 1023 * 1024;
    private static final VarHandle TOP = MethodHandles.arrayElementVarHandle(int[][].class);
    private static final VarHandle VAL = MethodHandles.arrayElementVarHandle(int[].class);

    private final long capacity;
    private final int[][] chunks;

    ChunkedIntArray(long capacity) {
        if (capacity < 0)
            throw new IllegalArgumentException("capacity " + capacity);
        long n = (capacity + CHUNK - 1) / CHUNK;
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("capacity " + capacity + " too large");
        this.capacity = capacity;
        this.chunks = new int[(int) n][];
    }

    long capacity() {
        return capacity;
    }

    /** The value at {@code i}; 0 when never written. */
    int get(long i) {
        check(i);
        int c = (int) (i / CHUNK);
        int[] chunk = (int[]) TOP.getAcquire(chunks, c);
        return chunk == null ? 0 : (int) VAL.getAcquire(chunk, (int) (i - (long) c * CHUNK));
    }

    void set(long i, int v) {
        check(i);
        int c = (int) (i / CHUNK);
        int[] chunk = v == 0 ? (int[]) TOP.getAcquire(chunks, c) : chunkOrCreate(c);
        if (chunk != null)
            VAL.setRelease(chunk, (int) (i - (long) c * CHUNK), v);
    }

    /**
     * Sets entry {@code i} to {@code v} if it holds {@code expect} (a volatile compare-and-exchange, making its chunk
     * first if need be); returns what it held ({@code expect} when it was set).
     */
    int compareAndExchange(long i, int expect, int v) {
        check(i);
        int c = (int) (i / CHUNK);
        return (int) VAL.compareAndExchange(chunkOrCreate(c), (int) (i - (long) c * CHUNK), expect, v);
    }

    /** The value at {@code i} by a volatile read (0 when never written). */
    int getVolatile(long i) {
        check(i);
        int c = (int) (i / CHUNK);
        int[] chunk = (int[]) TOP.getVolatile(chunks, c);
        return chunk == null ? 0 : (int) VAL.getVolatile(chunk, (int) (i - (long) c * CHUNK));
    }

    /** The first index in {@code [from, to)} holding {@code v} (≠ 0), by volatile reads, or {@code to}. */
    long next(long from, long to, int v) {
        for (long i = from; i < to;) {
            int c = (int) (i / CHUNK);
            long start = (long) c * CHUNK, end = Math.min(start + CHUNK, to);
            int[] chunk = (int[]) TOP.getVolatile(chunks, c);
            if (chunk != null)
                for (; i < end; i++)
                    if ((int) VAL.getVolatile(chunk, (int) (i - start)) == v)
                        return i;
            i = end;
        }
        return to;
    }

    private int[] chunkOrCreate(int c) {
        int[] chunk = (int[]) TOP.getAcquire(chunks, c);
        return chunk != null ? chunk : createChunk(c);
    }

    /** Makes chunk {@code c}, or returns the one another writer made first. */
    private int[] createChunk(int c) {
        int[] fresh = new int[(int) Math.min(CHUNK, capacity - (long) c * CHUNK)];
        int[] chunk = (int[]) TOP.compareAndExchange(chunks, c, (int[]) null, fresh);
        return chunk != null ? chunk : fresh;
    }

    /**
     * Sets {@code [from, to)} to 0 and drops the chunks it covers entirely, so their memory goes. Entries are zeroed
     * before a chunk is dropped, so a reader still holding it reads 0 as it would after. Only for ranges nobody writes
     * concurrently (a write racing the drop would be lost).
     */
    void releaseRange(long from, long to) {
        for (long i = from; i < to;) {
            int c = (int) (i / CHUNK);
            long start = (long) c * CHUNK, end = Math.min(start + CHUNK, to);
            int[] chunk = (int[]) TOP.getAcquire(chunks, c);
            if (chunk != null) {
                for (long j = i; j < end; j++)
                    VAL.setRelease(chunk, (int) (j - start), 0);
                if (i == start && end - start == chunk.length)
                    TOP.setRelease(chunks, c, (int[]) null);
            }
            i = end;
        }
    }

    /** The first index in {@code [from, to)} with a non-zero value, or {@code to}; skips absent chunks at once. */
    long nextNonZero(long from, long to) {
        for (long i = from; i < to;) {
            int c = (int) (i / CHUNK);
            long start = (long) c * CHUNK, end = Math.min(start + CHUNK, to);
            int[] chunk = (int[]) TOP.getAcquire(chunks, c);
            if (chunk != null)
                for (; i < end; i++)
                    if ((int) VAL.getAcquire(chunk, (int) (i - start)) != 0)
                        return i;
            i = end;
        }
        return to;
    }

    /** Bytes of the chunks currently made, headers aside (for memory-use tests). */
    long bytes() {
        long n = 0;
        for (int c = 0; c < chunks.length; c++) {
            int[] chunk = (int[]) TOP.getAcquire(chunks, c);
            n += chunk == null ? 0 : (long) chunk.length * Integer.BYTES;
        }
        return n;
    }

    /** Chunks currently made (for memory-use tests). */
    int chunks() {
        int n = 0;
        for (int c = 0; c < chunks.length; c++)
            if (TOP.getAcquire(chunks, c) != null)
                n++;
        return n;
    }

    private void check(long i) {
        if (i < 0 || i >= capacity)
            throw outside(i);
    }

    private IndexOutOfBoundsException outside(long i) {
        return new IndexOutOfBoundsException("index " + i + " outside [0, " + capacity + ")");
    }
}
