package org.tdplab.backend.snp.rmp;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The entries of one 2M region in the region's slice of its chunk's arrays ({@link RegionTable}: the storage of about
 * 2 GiB of frames is two arrays, not 1,022): one word per entry, its low qword. The high qword (the VMPL permission
 * masks, {@link RmpEntry#perms}) is nearly always one of two values: 0 (the hypervisor's pages, and a guest's before
 * RMPUPDATE) or VMPL0's full permissions alone (what RMPUPDATE gives a guest page, and PVALIDATE and PSMASH keep).
 * Which of them, or neither, the word says in two bits the low qword leaves reserved (its bits 3 and 4, never set in
 * an entry: {@link #set} refuses one that sets them); a high qword of neither value (RMPADJUST's grants to a higher
 * VMPL) is kept in a word of the region's own ({@link RegionTable#his}), made on the first such. Who last wrote the
 * entry (the model's, for the invariants) is in three more reserved bits, 7:5, where a byte array of its own was
 * written beside the word at every RMPUPDATE and PVALIDATE. So an entry costs 8 bytes instead of the hardware's 16,
 * and the fault path reads and writes one word (one cache line) per entry; the values read are the same.
 */
final class RmpRegion {
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    /** Where the word says which high qword the entry has: bits 3 and 4, reserved in the low qword. */
    static final long HI_MASK = 3L << 3;
    /** Where the word says who last wrote the entry: bits 7:5, reserved in the low qword. */
    private static final int WRITER_SHIFT = 5;
    private static final long WRITER_MASK = 7L << WRITER_SHIFT;
    /** The low qword's reserved bits the word uses: a low qword may set none of them. */
    static final long MODEL_MASK = HI_MASK | WRITER_MASK;
    private static final long HI_ZERO = 0, HI_VMPL0_ALL = 1L << 3, HI_OWN = 2L << 3;
    /** The high qword RMPUPDATE gives a guest page: VMPL0's full permissions. */
    static final long VMPL0_ALL = RmpEntry.withPerms(0, 0, RmpEntry.PERM_ALL);

    /**
     * The chunk's entry words, this region's from {@link #base}: read volatile, written release ({@link #lo},
     * {@link #set}); a plain array, not an {@code AtomicLongArray}: one dependent load less per look-up (a cache
     * miss on a random fault).
     */
    private final long[] words;
    private final int base;
    private final RegionTable table;
    private final int index;
    /** Entries that are not all zero; under the region lock. */
    int nonZero;

    RmpRegion(long[] words, int base, RegionTable table, int index) {
        this.words = words;
        this.base = base;
        this.table = table;
        this.index = index;
    }

    /** The low qword of entry {@code i}. */
    long lo(int i) {
        return (long) WORDS.getVolatile(words, base + i) & ~MODEL_MASK;
    }

    /** The high qword of entry {@code i}. */
    long hi(int i) {
        long w = (long) WORDS.getVolatile(words, base + i) & HI_MASK;
        return w == HI_ZERO ? 0 : w == HI_VMPL0_ALL ? VMPL0_ALL : table.hiOf(index, i);
    }

    /**
     * Writes entry {@code i}, and who wrote it ({@code by}, 0 to 7); the caller holds the region's lock. A high qword
     * of its own is written first: a lock-free reader that sees the word sees it.
     *
     * @throws IllegalArgumentException for a low qword that sets bits 7:3 (reserved; never set by an instruction)
     */
    void set(int i, long lo, long hi, byte by) {
        if ((lo & MODEL_MASK) != 0 || (by & ~7) != 0)
            throw reserved(lo, by);
        long w = lo | (long) by << WRITER_SHIFT;
        WORDS.setRelease(words, base + i, w | (hi == 0 ? HI_ZERO : hi == VMPL0_ALL ? HI_VMPL0_ALL : own(i, hi)));
    }

    /** Keeps {@code hi} apart as entry {@code i}'s high qword ({@link RegionTable#setHi}); the word's bits that say so. */
    private long own(int i, long hi) {
        table.setHi(index, i, hi);
        return HI_OWN;
    }

    /** Out of {@link #set}, which the fault path inlines. */
    private static IllegalArgumentException reserved(long lo, byte by) {
        return new IllegalArgumentException("RMP low qword 0x" + Long.toHexString(lo) + " sets reserved bits 7:3, or "
                + "writer " + by + " is not 0 to 7");
    }

    /** Who last wrote entry {@code i} ({@link Rmp#BY_RMPUPDATE}, …); 0 for an entry never written. */
    byte writer(int i) {
        return (byte) (((long) WORDS.getVolatile(words, base + i) & WRITER_MASK) >>> WRITER_SHIFT);
    }
}
