package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * {@link RegionLongArray} of {@code int}s: the same sparse array of a capacity that can grow, absent entries 0, for
 * per-page state that fits 32 bits (host memory's per-frame owner). Its regions hold twice the entries
 * ({@value #REGION}: 4 GiB of 4K frames, {@value #SLOTS} slots of 512), so that a region's chunk of
 * {@value #CHUNK_SLOTS} slots is again a 4,092 KiB array that G1 allocates straight into the old generation as a
 * humongous object (for G1 regions up to 4 MiB); leaves are 2 KiB. Storage is made, read, written and dropped as
 * there: lock-free, allocation-free readers (acquire loads), release stores, storage made and dropped under this
 * object's monitor.
 */
public final class RegionIntArray {
    static final int LEAF_BITS = 9;
    static final int FAN = 1 << LEAF_BITS;
    private static final int MASK = FAN - 1;
    static final int REGION_BITS = 20;
    static final int REGION = 1 << REGION_BITS;
    private static final int REGION_MASK = REGION - 1;
    static final int SLOTS = REGION / FAN;
    /** Slots a chunk holds, from a region's first: 4,092 KiB, to fit one 4 MiB G1 region with its header. */
    static final int CHUNK_SLOTS = SLOTS - 2;
    /** Leaves a region makes before the rest of it is a chunk. */
    static final int CHUNK_AFTER = 16;
    /** Slots with storage the array holds before it makes any chunk: a chunk's worth. */
    static final int CHUNKS_FROM = CHUNK_SLOTS;
    private static final VarHandle TOP = MethodHandles.arrayElementVarHandle(int[][][].class);
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(int[][].class);
    private static final VarHandle VAL = MethodHandles.arrayElementVarHandle(int[].class);

    private final int chunkAfter, chunksFrom;
    private volatile long capacity;
    /**
     * Per region: its {@value #SLOTS} slots (a leaf, the region's chunk, or null) and, at index {@value #SLOTS}, the
     * chunk itself while any slot uses it.
     */
    private volatile int[][][] top;
    /** Per region, guarded by this: slots with a leaf, slots in the chunk. */
    private int[] leavesIn, chunkSlotsIn;
    /** Guarded by this: slots with storage, chunks. */
    private int slotsInUse, chunks;

    public RegionIntArray(long capacity) {
        this(capacity, CHUNK_AFTER, CHUNKS_FROM);
    }

    /**
     * @param chunkAfter leaves a region makes before the rest of it is a chunk ({@value #CHUNK_AFTER})
     * @param chunksFrom slots with storage the array holds before it makes any chunk ({@value #CHUNKS_FROM}); tests
     *        use small thresholds
     */
    public RegionIntArray(long capacity, int chunkAfter, int chunksFrom) {
        if (capacity < 0)
            throw new IllegalArgumentException("capacity " + capacity);
        this.chunkAfter = chunkAfter;
        this.chunksFrom = chunksFrom;
        this.capacity = capacity;
        int n = regions(capacity);
        this.top = new int[n][][];
        this.leavesIn = new int[n];
        this.chunkSlotsIn = new int[n];
    }

    private static int regions(long capacity) {
        long n = (capacity + REGION - 1) >>> REGION_BITS;
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("capacity " + capacity + " too large");
        return (int) n;
    }

    public long capacity() {
        return capacity;
    }

    /** Raises the capacity (never lowers it); the region table is copied under the monitor that makes storage. */
    public synchronized void grow(long newCapacity) {
        if (newCapacity <= capacity)
            return;
        int n = regions(newCapacity);
        if (n > top.length) {
            top = Arrays.copyOf(top, n);
            leavesIn = Arrays.copyOf(leavesIn, n);
            chunkSlotsIn = Arrays.copyOf(chunkSlotsIn, n);
        }
        capacity = newCapacity;
    }

    /** The value at {@code i}; 0 when never written. */
    public int get(long i) {
        int[] a = storage(i);
        return a == null ? 0 : (int) VAL.getAcquire(a, offset(a, i));
    }

    public void set(long i, int v) {
        int[] a = storage(i);
        if (a == null && v != 0)
            a = make(i);
        if (a != null)
            VAL.setRelease(a, offset(a, i), v);
    }

    /** Where {@code i} is in {@code a}: its leaf, or its region's chunk. */
    private static int offset(int[] a, long i) {
        return (int) i & (a.length == FAN ? MASK : REGION_MASK);
    }

    /** The leaf or chunk that holds {@code i}, or null. */
    private int[] storage(long i) {
        if (i < 0 || i >= capacity)
            throw outside(i);
        int[][][] t = top;
        int r = (int) (i >>> REGION_BITS);
        int[][] slots = r < t.length ? (int[][]) TOP.getAcquire(t, r) : null;
        return slots == null ? null : (int[]) SLOT.getAcquire(slots, (int) (i >>> LEAF_BITS) & (SLOTS - 1));
    }

    private IndexOutOfBoundsException outside(long i) {
        return new IndexOutOfBoundsException("index " + i + " outside [0, " + capacity + ")");
    }

    /** Storage for the slot of {@code i}: a new leaf, or its part of the region's chunk (made first if need be). */
    private synchronized int[] make(long i) {
        int r = (int) (i >>> REGION_BITS), s = (int) (i >>> LEAF_BITS) & (SLOTS - 1);
        int[][] slots = (int[][]) TOP.getAcquire(top, r);
        if (slots == null) {
            slots = new int[SLOTS + 1][];
            TOP.setRelease(top, r, slots);
        }
        int[] a = slots[s];
        if (a != null)
            return a;
        int[] chunk = s < CHUNK_SLOTS ? slots[SLOTS] : null;
        if (chunk == null && s < CHUNK_SLOTS && leavesIn[r] >= chunkAfter && slotsInUse >= chunksFrom) {
            chunk = new int[CHUNK_SLOTS * FAN];
            slots[SLOTS] = chunk; // read only under this monitor
            chunks++;
        }
        if (chunk != null) {
            a = chunk;
            chunkSlotsIn[r]++;
        } else {
            a = new int[FAN];
            leavesIn[r]++;
        }
        slotsInUse++;
        SLOT.setRelease(slots, s, a);
        return a;
    }

    /** Sets {@code [from, to)} to 0; safe with concurrent writers (no storage is dropped). */
    public void clearRange(long from, long to) {
        for (long i = from; i < to;) {
            long end = Math.min((i | MASK) + 1, to);
            int[] a = storage(i);
            if (a != null)
                for (; i < end; i++)
                    VAL.setRelease(a, offset(a, i), 0);
            i = end;
        }
    }

    /**
     * Sets {@code [from, to)} to 0 and drops the storage of the slots it covers whole: their leaves, and a chunk no
     * slot uses any more. Entries are zeroed before their slot is unlinked, so a reader still holding the storage reads
     * 0 as it would after. Only for ranges nobody writes concurrently (a write racing the unlink would be lost).
     */
    public synchronized void releaseRange(long from, long to) {
        clearRange(from, to);
        for (long i = (from + MASK) & ~(long) MASK; i + FAN <= to; i += FAN) {
            int r = (int) (i >>> REGION_BITS), s = (int) (i >>> LEAF_BITS) & (SLOTS - 1);
            int[][] slots = (int[][]) TOP.getAcquire(top, r);
            int[] a = slots == null ? null : slots[s];
            if (a == null)
                continue;
            SLOT.setRelease(slots, s, (int[]) null);
            slotsInUse--;
            if (a.length == FAN) {
                leavesIn[r]--;
            } else if (--chunkSlotsIn[r] == 0) {
                slots[SLOTS] = null;
                chunks--;
            }
        }
    }

    /** Slots (2M of entries) with storage, a leaf or a part of a chunk (for memory-use tests). */
    public synchronized long leaves() {
        return slotsInUse;
    }

    /** Chunks currently made (for memory-use tests). */
    public synchronized int chunks() {
        return chunks;
    }
}
