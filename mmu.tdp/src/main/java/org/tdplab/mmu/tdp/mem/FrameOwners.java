package org.tdplab.mmu.tdp.mem;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Who owns each frame of {@link HostMemory}, and how many frames each owner kind holds. An owner word is
 * {@code kind << 32 | id} (0 = free). A block allocated whole at 2M or 1G keeps its word once per 2M block, so a huge
 * allocation writes 1 word per 2M instead of 512; a 4K allocation, or a block split or changing hands in part, keeps one
 * per frame. Per-frame words are kept in 32 bits ({@link #packed}: the kind in the top {@value #KIND_BITS}, the id,
 * from {@link #MIN_ID} to {@link #MAX_ID}, in the rest), in regions that a big host keeps in chunks no young collection copies
 * ({@link RegionIntArray}): 4 bytes per frame a VM's 4K allocations take (its guest_memfd's pages, its page tables).
 *
 * <p>Changes are made under the host memory's lock; reads ({@link #get}, {@link #frameWord}, {@link #inUse}) are
 * lock-free and allocation-free.
 */
final class FrameOwners {
    /** log2 of the frames in a 2M block. */
    static final int BLOCK_SHIFT = 9;
    private static final long BLOCK_FRAMES = 1L << BLOCK_SHIFT;
    /** Bits of a packed per-frame word that hold the kind; the id has the rest. */
    static final int KIND_BITS = 3, ID_BITS = 32 - KIND_BITS;
    /** The owner ids a frame's word holds (a VM's id, counted from 1; tests' own, some negative). */
    static final int MIN_ID = -(1 << (ID_BITS - 1)), MAX_ID = (1 << (ID_BITS - 1)) - 1;
    private static final int ID_MASK = (1 << ID_BITS) - 1;

    /** Per frame: its owner word {@link #packed}, or 0 (free, or see {@link #perBlock}). */
    private final RegionIntArray perFrame;
    /** Per 2M block allocated as a whole (2M, or a part of 1G): its owner word; 0 = see {@link #perFrame}. */
    private final SparseLongArray perBlock;
    private final AtomicLongArray inUse;

    FrameOwners(long frames, int kinds) {
        if (kinds > 1 << KIND_BITS)
            throw new IllegalArgumentException(kinds + " owner kinds: at most " + (1 << KIND_BITS));
        this.perFrame = new RegionIntArray(frames);
        this.perBlock = new SparseLongArray((frames >>> BLOCK_SHIFT) + 1);
        this.inUse = new AtomicLongArray(kinds);
    }

    static long word(int kind, int id) {
        return (long) kind << 32 | (id & 0xffffffffL);
    }

    static int kindOf(long word) {
        return (int) (word >>> 32);
    }

    /** Whether {@code id} fits a frame's word: {@link #MIN_ID} to {@link #MAX_ID}. */
    static boolean validId(int id) {
        return id >= MIN_ID && id <= MAX_ID;
    }

    /** An owner word as a frame keeps it: 32 bits (its id valid, {@link #validId}). */
    private static int packed(long word) {
        return (int) (word >>> 32) << ID_BITS | (int) word & ID_MASK;
    }

    private static long unpacked(int w) {
        return w == 0 ? 0 : word(w >>> ID_BITS, w << KIND_BITS >> KIND_BITS);
    }

    /** The owner word of frame {@code pfn}, whether kept per block or per frame. */
    long get(long pfn) {
        long bo = perBlock.get(pfn >>> BLOCK_SHIFT);
        return bo != 0 ? bo : unpacked(perFrame.get(pfn));
    }

    /** The word kept for {@code pfn} itself (0 when its block keeps it, or the frame is free). */
    long frameWord(long pfn) {
        return unpacked(perFrame.get(pfn));
    }

    /** Whether the 2M block of {@code pfn} keeps its owner once for all its frames. */
    boolean keptPerBlock(long pfn) {
        return perBlock.get(pfn >>> BLOCK_SHIFT) != 0;
    }

    void setFrame(long pfn, long word) {
        perFrame.set(pfn, packed(word));
    }

    /** The {@code n} frames from {@code pfn} (whole 2M blocks) are owned by {@code word}, kept once per block. */
    void setBlocks(long pfn, long n, long word) {
        for (long b = pfn >>> BLOCK_SHIFT; b < (pfn + n) >>> BLOCK_SHIFT; b++)
            perBlock.set(b, word);
    }

    /** Frames owned by {@code kind}. */
    long inUse(int kind) {
        return inUse.get(kind);
    }

    /**
     * Adds {@code n} to the frames of {@code kind}. Every change is made under the lock, so a plain add published
     * with a release store does (no atomic add).
     */
    void addInUse(int kind, long n) {
        inUse.setRelease(kind, inUse.getPlain(kind) + n);
    }

    /**
     * The block of {@code n} frames from {@code pfn} is freed: its frames no longer count for their owners, and the
     * words its 2M blocks kept are gone (per-frame words are cleared with the frames' metadata).
     */
    void release(long pfn, long n) {
        if (n == 1) {
            addInUse(kindOf(get(pfn)), -1);
            return;
        }
        for (long b = pfn >>> BLOCK_SHIFT; b < (pfn + n) >>> BLOCK_SHIFT; b++) {
            long bo = perBlock.get(b);
            if (bo != 0) {
                addInUse(kindOf(bo), -BLOCK_FRAMES);
                perBlock.set(b, 0);
            } else {
                for (long f = b << BLOCK_SHIFT; f < (b + 1) << BLOCK_SHIFT; f++)
                    addInUse(perFrame.get(f) >>> ID_BITS, -1);
            }
        }
    }

    /** A 2M block whose owner was kept once gets it per frame (the block is split, or its frames change hands). */
    void pushDown(long block) {
        long bo = perBlock.get(block);
        if (bo == 0)
            return;
        int w = packed(bo);
        for (long f = block << BLOCK_SHIFT; f < (block + 1) << BLOCK_SHIFT; f++)
            perFrame.set(f, w);
        perBlock.set(block, 0);
    }

    /**
     * {@code count} allocated frames from {@code pfn} change hands to {@code word}: a whole block that kept its owner
     * once keeps the new one once, any other frame gets it per frame.
     */
    void change(long pfn, long count, long word) {
        for (long i = 0; i < count;) {
            long f = pfn + i, b = f >>> BLOCK_SHIFT;
            long bo = perBlock.get(b);
            if (bo != 0 && (f & (BLOCK_FRAMES - 1)) == 0 && count - i >= BLOCK_FRAMES) {
                addInUse(kindOf(bo), -BLOCK_FRAMES);
                perBlock.set(b, word);
                i += BLOCK_FRAMES;
            } else {
                pushDown(b);
                addInUse(perFrame.get(f) >>> ID_BITS, -1);
                perFrame.set(f, packed(word));
                i++;
            }
        }
        addInUse(kindOf(word), count);
    }

    void grow(long frames) {
        perFrame.grow(frames);
        perBlock.grow((frames >>> BLOCK_SHIFT) + 1);
    }

    /** Clears the per-frame words of {@code [from, to)}, keeping their storage. */
    void clearRange(long from, long to) {
        perFrame.clearRange(from, to);
    }

    /**
     * Drops the storage of the per-frame words of {@code [from, to)}, a wholly free 2M region, and the per-block
     * words' leaf of its 1G region when no block there keeps its owner any more (a leaf of 512 words per 1G region,
     * which stayed once a huge block there had been allocated).
     */
    void releaseRange(long from, long to) {
        perFrame.releaseRange(from, to);
        perBlock.releaseLeafIfZero(from >>> BLOCK_SHIFT);
    }

    long leaves() {
        return perFrame.leaves() + perBlock.leaves();
    }

    int chunks() {
        return perFrame.chunks();
    }
}
