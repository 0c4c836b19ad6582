package org.tdplab.mmu.tdp.pt;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * Host PFN → page-table id, indexed directly: the analogue of the kernel's {@code pfn_to_page(pfn)->private}
 * ({@code spte_to_child_sp}), arithmetic instead of a hash. A spine indexed by {@code pfn >>> shift} holds chunks of
 * {@code 1 << shift} ints (64: 272 bytes), made on a chunk's first table and kept, as the pool keeps its own chunks, so
 * re-faulting a zapped range allocates nothing; memory follows the frames that ever held a table (page-table frames
 * come from host memory, whose PFNs are dense), not the highest PFN.
 *
 * <p>{@link #get} is lock-free and allocation-free: a volatile load of the spine, then acquire loads of the chunk and
 * the entry (VarHandle accesses, which Fray also sees as scheduling points). {@link #put} and {@link #remove} must be
 * serialized by the caller (the pool's alloc lock); they publish with release stores. A spine that grows is copied
 * and republished whole; chunks are never copied, so a reader holding an old spine reads live chunks.
 */
final class PfnTableIds {
    static final int DEFAULT_SHIFT = 6;
    private static final VarHandle CHUNKS = MethodHandles.arrayElementVarHandle(int[][].class);
    private static final VarHandle IDS = MethodHandles.arrayElementVarHandle(int[].class);

    private final int shift;
    private final int mask;
    private volatile int[][] spine;
    private int chunks;

    PfnTableIds() {
        this(DEFAULT_SHIFT);
    }

    /** @param shift log2 of the PFNs one chunk covers (tests use small chunks) */
    PfnTableIds(int shift) {
        if (shift < 1 || shift > 20)
            throw new IllegalArgumentException("shift " + shift);
        this.shift = shift;
        this.mask = (1 << shift) - 1;
        this.spine = new int[16][];
    }

    /** The id stored for {@code pfn}, or 0. Lock-free. */
    int get(long pfn) {
        int[][] s = spine;
        long c = pfn >>> shift;
        if (c >= s.length)
            return 0;
        int[] chunk = (int[]) CHUNKS.getAcquire(s, (int) c);
        return chunk == null ? 0 : (int) IDS.getAcquire(chunk, (int) pfn & mask);
    }

    /** Stores {@code id} (≠ 0) for {@code pfn}, which must hold none. Caller serializes. */
    void put(long pfn, int id) {
        if (id == 0 || pfn < 0 || (pfn >>> shift) >= Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("pfn 0x" + Long.toHexString(pfn) + " id " + id);
        int c = (int) (pfn >>> shift);
        int[][] s = spine;
        if (c >= s.length)
            s = grow(c);
        int[] chunk = s[c];
        if (chunk == null) {
            chunk = new int[mask + 1];
            CHUNKS.setRelease(s, c, chunk);
            chunks++;
        }
        int i = (int) pfn & mask;
        if (chunk[i] != 0)
            throw new IllegalStateException("frame 0x" + Long.toHexString(pfn) + " already holds table " + chunk[i]);
        IDS.setRelease(chunk, i, id);
    }

    /** Clears {@code pfn}'s entry; returns the id it held, or 0. Caller serializes. */
    int remove(long pfn) {
        int[][] s = spine;
        long c = pfn >>> shift;
        int[] chunk = pfn < 0 || c >= s.length ? null : s[(int) c];
        int i = (int) pfn & mask;
        if (chunk == null || chunk[i] == 0)
            return 0;
        int id = chunk[i];
        IDS.setRelease(chunk, i, 0);
        return id;
    }

    /** A spine with room for chunk {@code c}, published whole. */
    private int[][] grow(int c) {
        int n = spine.length;
        while (n <= c)
            n = (int) Math.min(2L * n, Integer.MAX_VALUE - 8);
        int[][] s = Arrays.copyOf(spine, n);
        spine = s;
        return s;
    }

    /** Chunks currently made (for memory-use tests). Caller serializes. */
    int chunks() {
        return chunks;
    }

    /** Bytes of the spine and the chunks, roughly (for memory-use tests). Caller serializes. */
    long bytes() {
        return 8L * spine.length + chunks * (16L + 4L * (mask + 1));
    }
}
