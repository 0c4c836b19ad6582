package org.tdplab.backend.snp.rmp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * The RMP's 2M regions by index, volatile like an {@code AtomicReferenceArray}, but through a VarHandle of the
 * exact array type: an {@code AtomicReferenceArray} stores through an {@code Object[]} handle, whose store check
 * took the reflective path on every RMP write (RMPUPDATE and PVALIDATE of each private fault).
 *
 * <p>The entries of {@value #CHUNK} consecutive regions (2,044 MiB of frames) share one chunk: one {@code long[]} of
 * their words ({@link RmpRegion}: a word an entry, with who wrote it), 4,088 KiB, each region a fixed slice. A chunk
 * is made when its first region is and kept for the table's life, so a region that comes back
 * (the frames of the next VM) finds its slice. The words array is at least half a G1 region for G1 regions up to
 * 4 MiB (heaps up to about 8 GiB), so G1 allocates it straight into the old generation as one humongous object and
 * never copies it: as 8 KiB arrays, one per region, the RMP of a 16 GiB guest was 128 MiB that every young collection
 * of its faults copied (and the next VM's faults allocated again). Memory follows the frames ever assigned, rounded
 * up to a chunk: 8 bytes of words per frame (the hardware's table has 16: {@link RmpRegion}), and
 * 4 KiB for each region that ever had a high qword of neither common value ({@link #his}). The last chunk holds only
 * the regions that remain.
 */
final class RegionTable {
    private static final VarHandle AT = MethodHandles.arrayElementVarHandle(RmpRegion[].class);
    /** Regions per chunk: 1,022 × 4 KiB of words, with the array's header, fit one 4 MiB G1 region. */
    static final int CHUNK = 1022;
    private static final int WORDS = Rmp.PAGES;
    private static final VarHandle HIS = MethodHandles.arrayElementVarHandle(long[][].class);
    private static final VarHandle HI = MethodHandles.arrayElementVarHandle(long[].class);

    private final RmpRegion[] regions;
    /** Per chunk, its words (null until its first region); under this object's lock. */
    private final long[][] chunkWords;
    /**
     * Per region index, the high qwords of its entries whose word says they have one of their own ({@link RmpRegion}),
     * made on the first (under the region's lock) and kept for the table's life, like the chunks: a reader that reads
     * such a word, with an acquire load, reads the high qword written before it. Null for a region that never had one.
     */
    private final long[][] his;

    RegionTable(int length) {
        regions = new RmpRegion[length];
        int chunks = (length + CHUNK - 1) / CHUNK;
        chunkWords = new long[chunks][];
        his = new long[length][];
    }

    /** The high qword of entry {@code i} of region {@code r} kept apart ({@link #his}). */
    long hiOf(int r, int i) {
        long[] h = (long[]) HIS.getAcquire(his, r);
        return h == null ? 0 : (long) HI.getAcquire(h, i);
    }

    /** Keeps the high qword of entry {@code i} of region {@code r} apart; the caller holds the region's lock. */
    void setHi(int r, int i, long hi) {
        long[] h = his[r];
        if (h == null)
            HIS.setRelease(his, r, h = new long[Rmp.PAGES]);
        HI.setRelease(h, i, hi);
    }

    int length() {
        return regions.length;
    }

    RmpRegion get(int i) {
        return (RmpRegion) AT.getVolatile(regions, i);
    }

    void set(int i, RmpRegion r) {
        AT.setVolatile(regions, i, r);
    }

    /**
     * A region for index {@code i} over its slice of the chunk, whose entries are all zero (a region is dropped only
     * once all its entries are); the slice's words are cleared, which also clears who wrote its zero entries. The
     * caller holds region {@code i}'s lock, and publishes the region with {@link #set}.
     */
    RmpRegion create(int i) {
        int c = i / CHUNK, slot = i - c * CHUNK;
        long[] words;
        synchronized (this) { // regions of one chunk have locks of their own: two may be made at once
            words = chunkWords[c];
            if (words == null) {
                int n = Math.min(CHUNK, regions.length - c * CHUNK);
                chunkWords[c] = words = new long[n * WORDS];
            }
        }
        Arrays.fill(words, slot * WORDS, (slot + 1) * WORDS, 0L);
        return new RmpRegion(words, slot * WORDS, this, i);
    }

    /** Chunks made so far (for memory-use tests). */
    synchronized int chunks() {
        int n = 0;
        for (long[] w : chunkWords)
            if (w != null)
                n++;
        return n;
    }
}
