package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * A sparse {@code long} array of a capacity that can grow, whose absent entries read as 0, for per-page state that is
 * sparse on a small host and dense on a big one (host memory's per-frame owner and data token). Indexes are grouped in
 * regions of {@value #REGION} entries (2 GiB of 4K frames), each cut in {@value #SLOTS} slots of 512 entries (2M). A
 * slot gets storage on its first non-zero write: a 4 KiB leaf of its own, or its part of one chunk for the region's
 * first {@value #CHUNK_SLOTS} slots, a {@code long[]} of 4,088 KiB that G1 allocates straight into the old generation
 * as a humongous object (at least half of a region for G1 regions up to 4 MiB: heaps up to about 8 GiB), so no young
 * collection copies it; with its header it fits one 4 MiB region, which all 1,024 slots would not. A region's last two
 * slots always take leaves. Leaves, made by the million on a big host, were copied by every young collection until
 * they were old.
 *
 * <p>A region's slots take leaves until it has {@link #chunkAfter} of them and the array as a whole holds
 * {@link #chunksFrom} slots of storage; from then on its new slots take their part of the region's chunk, made then.
 * So a host with less than a chunk's worth of metadata (2 GiB of frames) pays for no chunk, and a region a big host
 * touches only here and there (under {@link #chunkAfter} × 2 MiB) keeps small leaves; a dense region holds at most
 * {@link #chunkAfter} leaves beside its chunk ({@value #CHUNK_AFTER} × 4 KiB: 1.6% of it). Leaves already made stay
 * (lock-free writers may hold them; nothing is copied).
 *
 * <p>{@link #releaseRange} drops the storage of the slots it covers whole: a leaf goes, and the chunk goes when its
 * region's last slot in it is released (its entries are all 0 then), so memory follows what is written.
 *
 * <p>Readers are lock-free and allocation-free (acquire loads; the look-up is as long as {@link SparseLongArray}'s);
 * writers publish with release stores, so concurrent writers to different entries are safe. Storage is made and
 * dropped under this object's monitor, once per slot.
 */
public final class RegionLongArray {
    static final int LEAF_BITS = 9;
    static final int FAN = 1 << LEAF_BITS;
    private static final int MASK = FAN - 1;
    static final int REGION_BITS = 19;
    static final int REGION = 1 << REGION_BITS;
    private static final int REGION_MASK = REGION - 1;
    static final int SLOTS = REGION / FAN;
    /** Slots a chunk holds, from a region's first: 4,088 KiB, to fit one 4 MiB G1 region with its header. */
    static final int CHUNK_SLOTS = SLOTS - 2;
    /** Leaves a region makes before the rest of it is a chunk. */
    static final int CHUNK_AFTER = 16;
    /** Slots with storage the array holds before it makes any chunk: a chunk's worth. */
    static final int CHUNKS_FROM = CHUNK_SLOTS;
    private static final VarHandle TOP = MethodHandles.arrayElementVarHandle(long[][][].class);
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[][].class);
    private static final VarHandle VAL = MethodHandles.arrayElementVarHandle(long[].class);

    private final int chunkAfter, chunksFrom;
    private volatile long capacity;
    /**
     * Per region: its {@value #SLOTS} slots (a leaf, the region's chunk, or null) and, at index {@value #SLOTS}, the
     * chunk itself while any slot uses it.
     */
    private volatile long[][][] top;
    /** Per region, guarded by this: slots with a leaf, slots in the chunk. */
    private int[] leavesIn, chunkSlotsIn;
    /** Guarded by this: slots with storage, chunks. */
    private int slotsInUse, chunks;

    public RegionLongArray(long capacity) {
        this(capacity, CHUNK_AFTER, CHUNKS_FROM);
    }

    /**
     * @param chunkAfter leaves a region makes before the rest of it is a chunk ({@value #CHUNK_AFTER})
     * @param chunksFrom slots with storage the array holds before it makes any chunk ({@value #CHUNKS_FROM}); tests
     *        use small thresholds
     */
    public RegionLongArray(long capacity, int chunkAfter, int chunksFrom) {
        if (capacity < 0)
            throw new IllegalArgumentException("capacity " + capacity);
        this.chunkAfter = chunkAfter;
        this.chunksFrom = chunksFrom;
        this.capacity = capacity;
        int n = regions(capacity);
        this.top = new long[n][][];
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
    public long get(long i) {
        long[] a = storage(i);
        return a == null ? 0 : (long) VAL.getAcquire(a, offset(a, i));
    }

    public void set(long i, long v) {
        long[] a = storage(i);
        if (a == null && v != 0)
            a = make(i);
        if (a != null)
            VAL.setRelease(a, offset(a, i), v);
    }

    /** Where {@code i} is in {@code a}: its leaf, or its region's chunk. */
    private static int offset(long[] a, long i) {
        return (int) i & (a.length == FAN ? MASK : REGION_MASK);
    }

    /** The leaf or chunk that holds {@code i}, or null. */
    private long[] storage(long i) {
        if (i < 0 || i >= capacity)
            throw outside(i);
        long[][][] t = top;
        int r = (int) (i >>> REGION_BITS);
        long[][] slots = r < t.length ? (long[][]) TOP.getAcquire(t, r) : null;
        return slots == null ? null : (long[]) SLOT.getAcquire(slots, (int) (i >>> LEAF_BITS) & (SLOTS - 1));
    }

    private IndexOutOfBoundsException outside(long i) {
        return new IndexOutOfBoundsException("index " + i + " outside [0, " + capacity + ")");
    }

    /** Storage for the slot of {@code i}: a new leaf, or its part of the region's chunk (made first if need be). */
    private synchronized long[] make(long i) {
        int r = (int) (i >>> REGION_BITS), s = (int) (i >>> LEAF_BITS) & (SLOTS - 1);
        long[][] slots = (long[][]) TOP.getAcquire(top, r);
        if (slots == null) {
            slots = new long[SLOTS + 1][];
            TOP.setRelease(top, r, slots);
        }
        long[] a = slots[s];
        if (a != null)
            return a;
        long[] chunk = s < CHUNK_SLOTS ? slots[SLOTS] : null;
        if (chunk == null && s < CHUNK_SLOTS && leavesIn[r] >= chunkAfter && slotsInUse >= chunksFrom) {
            chunk = new long[CHUNK_SLOTS * FAN];
            slots[SLOTS] = chunk; // read only under this monitor
            chunks++;
        }
        if (chunk != null) {
            a = chunk;
            chunkSlotsIn[r]++;
        } else {
            a = new long[FAN];
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
            long[] a = storage(i);
            if (a != null)
                for (; i < end; i++)
                    VAL.setRelease(a, offset(a, i), 0L);
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
            long[][] slots = (long[][]) TOP.getAcquire(top, r);
            long[] a = slots == null ? null : slots[s];
            if (a == null)
                continue;
            SLOT.setRelease(slots, s, (long[]) null);
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
