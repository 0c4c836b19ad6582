package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * A sparse array of a primitive type of a capacity that can grow, whose absent entries read as 0, for per-page state
 * that is sparse on a small host and dense on a big one (host memory's per-frame owner and data token): the regions,
 * slots, leaves and chunks that {@link RegionLongArray} and {@link RegionIntArray} share, with only their elements'
 * access and allocation left to them. Indexes are grouped in regions of {@code 1 << regionBits} entries, each cut in
 * slots of {@value #FAN} entries (2M of 4K frames). A slot gets storage on its first non-zero write: a leaf of its own,
 * or its part of one chunk for the region's first slots (all but its last two), an array of a little under 4 MiB that
 * G1 allocates straight into the old generation as a humongous object (at least half of a region for G1 regions up to
 * 4 MiB: heaps up to about 8 GiB), so no young collection copies it; with its header it fits one 4 MiB region, which
 * all the region's slots would not. A region's last two slots always take leaves. Leaves, made by the million on a big
 * host, were copied by every young collection until they were old.
 *
 * <p>A region's slots take leaves until it has {@code chunkAfter} of them and the array as a whole holds
 * {@code chunksFrom} slots of storage; from then on its new slots take their part of the region's chunk, made then. So
 * a host with less than a chunk's worth of metadata pays for no chunk, and a region a big host touches only here and
 * there (under {@code chunkAfter} × 2 MiB) keeps small leaves; a dense region holds at most {@code chunkAfter} leaves
 * beside its chunk ({@value #CHUNK_AFTER} leaves: 1.6% of it). Leaves already made stay (lock-free writers may hold
 * them; nothing is copied).
 *
 * <p>{@link #releaseRange} drops the storage of the slots it covers whole: a leaf goes, and the chunk goes when its
 * region's last slot in it is released (its entries are all 0 then), so memory follows what is written.
 *
 * <p>Readers are lock-free and allocation-free (acquire loads; the look-up is as long as {@link SparseLongArray}'s);
 * writers publish with release stores, so concurrent writers to different entries are safe. Storage is made and
 * dropped under this object's monitor, once per slot. The subclasses are final and hold the typed fast paths: they
 * find storage with {@link #storage(long, int)}, passing their region size as a constant so that it folds.
 */
abstract class RegionArray {
    static final int LEAF_BITS = 9;
    static final int FAN = 1 << LEAF_BITS;
    static final int MASK = FAN - 1;
    /** Leaves a region makes before the rest of it is a chunk. */
    static final int CHUNK_AFTER = 16;
    private static final VarHandle TOP = MethodHandles.arrayElementVarHandle(Object[][].class);
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Object[].class);

    private final int regionBits, slotsPerRegion, chunkSlots, chunkAfter, chunksFrom;
    private volatile long capacity;
    /**
     * Per region: its slots (a leaf, the region's chunk, or null) and, at index {@link #slotsPerRegion}, the chunk
     * itself while any slot uses it.
     */
    private volatile Object[][] top;
    /** Per region, guarded by this: slots with a leaf, slots in the chunk. */
    private int[] leavesIn, chunkSlotsIn;
    /** Guarded by this: slots with storage, chunks. */
    private int slotsInUse, chunks;

    /**
     * @param regionBits log2 of a region's entries
     * @param chunkAfter leaves a region makes before the rest of it is a chunk ({@value #CHUNK_AFTER})
     * @param chunksFrom slots with storage the array holds before it makes any chunk (a chunk's worth); tests use small
     *        thresholds
     */
    RegionArray(long capacity, int regionBits, int chunkAfter, int chunksFrom) {
        if (capacity < 0)
            throw new IllegalArgumentException("capacity " + capacity);
        this.regionBits = regionBits;
        this.slotsPerRegion = 1 << (regionBits - LEAF_BITS);
        this.chunkSlots = slotsPerRegion - 2;
        this.chunkAfter = chunkAfter;
        this.chunksFrom = chunksFrom;
        this.capacity = capacity;
        int n = regions(capacity);
        this.top = new Object[n][];
        this.leavesIn = new int[n];
        this.chunkSlotsIn = new int[n];
    }

    /** A zeroed array of the element type, of {@code n} entries: a leaf or a chunk. */
    abstract Object newStorage(int n);

    /** Sets {@code [from, to)}, all in the slot of {@code from}, to 0 in its storage {@code a} (release stores). */
    abstract void clear(Object a, long from, long to);

    private int regions(long capacity) {
        long n = (capacity + (1L << regionBits) - 1) >>> regionBits;
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("capacity " + capacity + " too large");
        return (int) n;
    }

    public final long capacity() {
        return capacity;
    }

    /** Raises the capacity (never lowers it); the region table is copied under the monitor that makes storage. */
    public final synchronized void grow(long newCapacity) {
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

    /**
     * The leaf or chunk that holds {@code i}, or null; {@code regionBits} is this array's (a constant at the
     * subclass's call, so that the shifts and the slot mask fold once this is inlined).
     */
    final Object storage(long i, int regionBits) {
        if (i < 0 || i >= capacity)
            throw outside(i);
        Object[][] t = top;
        int r = (int) (i >>> regionBits);
        Object[] slots = r < t.length ? (Object[]) TOP.getAcquire(t, r) : null;
        return slots == null ? null
                : (Object) SLOT.getAcquire(slots, (int) (i >>> LEAF_BITS) & ((1 << (regionBits - LEAF_BITS)) - 1));
    }

    private IndexOutOfBoundsException outside(long i) {
        return new IndexOutOfBoundsException("index " + i + " outside [0, " + capacity + ")");
    }

    /** Storage for the slot of {@code i}: a new leaf, or its part of the region's chunk (made first if need be). */
    final synchronized Object make(long i) {
        int r = (int) (i >>> regionBits), s = (int) (i >>> LEAF_BITS) & (slotsPerRegion - 1);
        Object[] slots = (Object[]) TOP.getAcquire(top, r);
        if (slots == null) {
            slots = new Object[slotsPerRegion + 1];
            TOP.setRelease(top, r, slots);
        }
        Object a = slots[s];
        if (a != null)
            return a;
        Object chunk = s < chunkSlots ? slots[slotsPerRegion] : null;
        if (chunk == null && s < chunkSlots && leavesIn[r] >= chunkAfter && slotsInUse >= chunksFrom) {
            chunk = newStorage(chunkSlots * FAN);
            slots[slotsPerRegion] = chunk; // read only under this monitor
            chunks++;
        }
        if (chunk != null) {
            a = chunk;
            chunkSlotsIn[r]++;
        } else {
            a = newStorage(FAN);
            leavesIn[r]++;
        }
        slotsInUse++;
        SLOT.setRelease(slots, s, a);
        return a;
    }

    /** Sets {@code [from, to)} to 0; safe with concurrent writers (no storage is dropped). */
    public final void clearRange(long from, long to) {
        for (long i = from; i < to;) {
            long end = Math.min((i | MASK) + 1, to);
            Object a = storage(i, regionBits);
            if (a != null)
                clear(a, i, end);
            i = end;
        }
    }

    /**
     * Sets {@code [from, to)} to 0 and drops the storage of the slots it covers whole: their leaves, and a chunk no
     * slot uses any more. Entries are zeroed before their slot is unlinked, so a reader still holding the storage reads
     * 0 as it would after. Only for ranges nobody writes concurrently (a write racing the unlink would be lost).
     */
    public final synchronized void releaseRange(long from, long to) {
        clearRange(from, to);
        for (long i = (from + MASK) & ~(long) MASK; i + FAN <= to; i += FAN) {
            int r = (int) (i >>> regionBits), s = (int) (i >>> LEAF_BITS) & (slotsPerRegion - 1);
            Object[] slots = (Object[]) TOP.getAcquire(top, r);
            Object a = slots == null ? null : slots[s];
            if (a == null)
                continue;
            SLOT.setRelease(slots, s, (Object) null);
            slotsInUse--;
            if (a != slots[slotsPerRegion]) {
                leavesIn[r]--;
            } else if (--chunkSlotsIn[r] == 0) {
                slots[slotsPerRegion] = null;
                chunks--;
            }
        }
    }

    /** Slots (2M of entries) with storage, a leaf or a part of a chunk (for memory-use tests). */
    public final synchronized long leaves() {
        return slotsInUse;
    }

    /** Chunks currently made (for memory-use tests). */
    public final synchronized int chunks() {
        return chunks;
    }
}
