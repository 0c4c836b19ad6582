package org.tdplab.mmu.tdp.mem;

import static org.tdplab.mmu.tdp.mem.Bitmaps.any;
import static org.tdplab.mmu.tdp.mem.Bitmaps.clearBit;
import static org.tdplab.mmu.tdp.mem.Bitmaps.first;
import static org.tdplab.mmu.tdp.mem.Bitmaps.firstFrom;
import static org.tdplab.mmu.tdp.mem.Bitmaps.firstWord;
import static org.tdplab.mmu.tdp.mem.Bitmaps.nextSet;
import static org.tdplab.mmu.tdp.mem.Bitmaps.setBit;
import static org.tdplab.mmu.tdp.mem.Bitmaps.testBit;

import java.util.Arrays;

/**
 * A three-order buddy allocator (4K frames, 2M and 1G blocks, all naturally aligned) over bitmaps. Only split 1G
 * regions ({@link FrameRegion}) and split 2M blocks carry metadata, so memory follows what is allocated. Prefers partly
 * used blocks, so small allocations do not break up whole huge blocks needlessly. Not thread-safe: {@link HostMemory}
 * locks it.
 */
final class FrameAllocator {
    private static final int FAN = FrameRegion.FAN;
    private static final byte FREE = FrameRegion.FREE, SPLIT = FrameRegion.SPLIT, USED = FrameRegion.USED,
            ABSENT = FrameRegion.ABSENT;

    private long frames;
    private byte[] state;          // per 1G region
    private FrameRegion[] regions; // split regions only
    private long[] free1g;         // regions wholly free
    private long[] has2m;          // split regions with a wholly free child
    private long[] has4k;          // split regions with a split child that has a free frame
    private long freeFrames;
    /** Bitmap words before this one have no bit set in {@link #free1g} / {@link #has2m} / {@link #has4k}. */
    private int hint1g, hint2m, hint4k;

    FrameAllocator(long frames) {
        this.frames = frames;
        int n = (int) ((frames + (1L << 18) - 1) >>> 18);
        state = new byte[n];
        regions = new FrameRegion[n];
        int words = (n + 63) >>> 6;
        free1g = new long[words];
        has2m = new long[words];
        has4k = new long[words];
        for (int r = 0; r < n; r++) {
            long base = (long) r << 18;
            if (base + (1L << 18) <= frames)
                set1g(r);
            else
                initPartialRegion(r, base);
        }
        freeFrames = frames;
    }

    /** The tail region of a memory that is not a multiple of 1G: children beyond the end never exist. */
    private void initPartialRegion(int r, long base) {
        FrameRegion reg = new FrameRegion();
        state[r] = SPLIT;
        regions[r] = reg;
        for (int c = 0; c < FAN; c++) {
            long cb = base + ((long) c << 9);
            if (cb + FAN <= frames) {
                reg.state[c] = FREE;
                setBit(reg.free2m, c);
                reg.free2mCount++;
            } else if (cb < frames) {
                FrameRegion.Block b = new FrameRegion.Block();
                for (int f = 0; cb + f < frames; f++) {
                    setBit(b.free, f);
                    b.freeCount++;
                }
                reg.state[c] = SPLIT;
                reg.blocks[c] = b;
                reg.setHas4k(c);
            } else {
                reg.state[c] = ABSENT;
            }
        }
        if (reg.free2mCount > 0)
            set2m(r);
        if (any(reg.has4k))
            set4k(r);
    }

    long freeFrames() {
        return freeFrames;
    }

    long frames() {
        return frames;
    }

    /** Whether {@link #grow} may extend this allocator: its size is a whole number of 1G regions. */
    boolean growable() {
        return (frames & ((1L << 18) - 1)) == 0;
    }

    /** Adds wholly free 1G regions up to {@code newFrames} (a multiple of 1G); the caller checked {@link #growable}. */
    void grow(long newFrames) {
        int old = state.length, n = (int) (newFrames >>> 18);
        if (n <= old)
            return;
        state = Arrays.copyOf(state, n);
        regions = Arrays.copyOf(regions, n);
        int words = (n + 63) >>> 6;
        free1g = Arrays.copyOf(free1g, words);
        has2m = Arrays.copyOf(has2m, words);
        has4k = Arrays.copyOf(has4k, words);
        for (int r = old; r < n; r++)
            set1g(r);
        hint1g = Math.min(hint1g, old >>> 6);
        freeFrames += newFrames - frames;
        frames = newFrames;
    }

    /** Base PFN of a free block of {@code level}, now allocated; -1 when none is free. */
    long alloc(int level) {
        return alloc(level, null);
    }

    /** {@link #alloc(int)}, a 4K frame from a block no other CPU claimed lately where one is left. */
    long alloc(int level, BlockClaims claims) {
        long pfn;
        switch (level) {
        case Levels.L1G: pfn = alloc1g(); break;
        case Levels.L2M: pfn = alloc2m(false); break;
        case Levels.L4K: pfn = alloc4k(claims); break;
        default: throw new IllegalArgumentException("level " + level);
        }
        if (pfn >= 0)
            freeFrames -= Levels.pages(level);
        return pfn;
    }

    /**
     * Up to {@code max} 4K frames into {@code out}, the frames {@code max} calls of {@link #alloc(int, BlockClaims)}
     * would give, taken a bitmap word at a time from each block it picks; how many (fewer when memory ran out).
     */
    int alloc4k(BlockClaims claims, long[] out, int max) {
        int n = 0;
        while (n < max) {
            long pfn = alloc4k(claims);
            if (pfn < 0)
                break;
            out[n++] = pfn;
            n = takeMore((int) (pfn >>> 18), (int) ((pfn >>> 9) & (FAN - 1)), out, n, max);
        }
        freeFrames -= n;
        return n;
    }

    /** Further free frames of split block {@code c} of region {@code r}, lowest first, into {@code out}. */
    private int takeMore(int r, int c, long[] out, int n, int max) {
        FrameRegion reg = regions[r];
        FrameRegion.Block b = reg.blocks[c];
        long base = ((long) r << 18) | ((long) c << 9);
        while (n < max && b.freeCount > 0) {
            int w = firstFrom(b.free, b.hint) >>> 6;
            long bits = b.free[w];
            for (; bits != 0 && n < max; bits &= bits - 1, b.freeCount--)
                out[n++] = base | (w << 6 | Long.numberOfTrailingZeros(bits));
            b.free[w] = bits;
            b.hint = w;
        }
        if (b.freeCount == 0 && reg.noFreeFrameIn(c))
            clearBit(has4k, r);
        return n;
    }

    private long alloc1g() {
        int r = first1g();
        if (r < 0)
            return -1;
        clearBit(free1g, r);
        state[r] = USED;
        return (long) r << 18;
    }

    /** A whole 2M block, either USED or (for 4K allocation) freshly SPLIT with every frame free. */
    private long alloc2m(boolean forSplit) {
        int r = first2m();
        if (r < 0) {
            r = first1g();
            if (r < 0)
                return -1;
            clearBit(free1g, r);
            state[r] = SPLIT;
            regions[r] = FrameRegion.allFree();
            set2m(r);
        }
        FrameRegion reg = regions[r];
        int c = first(reg.free2m);
        clearBit(reg.free2m, c);
        if (--reg.free2mCount == 0)
            clearBit(has2m, r);
        if (forSplit) {
            reg.blocks[c] = FrameRegion.Block.allFree();
            reg.state[c] = SPLIT;
            reg.setHas4k(c);
            set4k(r);
        } else {
            reg.state[c] = USED;
        }
        return ((long) r << 18) | ((long) c << 9);
    }

    /** How many claimed blocks a 4K allocation passes over before it takes a fresh block. */
    private static final int MAX_PASSED = 8;

    /**
     * A 4K frame from the lowest split 2M block with a free frame that no other CPU claimed lately
     * ({@link BlockClaims}; {@code null}: none did), else from a fresh block, else from the first block passed over.
     */
    private long alloc4k(BlockClaims claims) {
        long passed = -1;
        int n = 0;
        for (int r = first4k(); r >= 0 && n < MAX_PASSED; r = nextSet(has4k, r + 1)) {
            FrameRegion reg = regions[r];
            for (int c = reg.firstHas4k(); c >= 0 && n < MAX_PASSED; c = nextSet(reg.has4k, c + 1)) {
                if (claims == null || !claims.claimedByOther((long) r << 9 | c))
                    return take4k(r, c, claims);
                if (passed < 0)
                    passed = (long) r << 9 | c;
                n++;
            }
        }
        long fresh = alloc2m(true);
        if (fresh < 0 && passed < 0)
            return -1;
        long b = fresh >= 0 ? fresh >>> 9 : passed;
        return take4k((int) (b >>> 9), (int) (b & (FAN - 1)), claims);
    }

    /** The lowest free frame of split block {@code c} of region {@code r}, which has one. */
    private long take4k(int r, int c, BlockClaims claims) {
        FrameRegion reg = regions[r];
        if (c == reg.firstHas4k())
            reg.hint4k = c >>> 6;
        if (claims != null)
            claims.claim((long) r << 9 | c);
        FrameRegion.Block b = reg.blocks[c];
        int f = b.takeLowest();
        if (b.freeCount == 0 && reg.noFreeFrameIn(c))
            clearBit(has4k, r);
        return ((long) r << 18) | ((long) c << 9) | f;
    }

    /** Frees an allocated block; merges buddies back into larger free blocks. */
    void free(long pfn, int level) {
        checkAligned(pfn, level);
        int r = (int) (pfn >>> 18);
        switch (level) {
        case Levels.L1G:
            if (state[r] != USED)
                throw notAllocated(pfn, level);
            state[r] = FREE;
            set1g(r);
            break;
        case Levels.L2M:
            free2m(r, (int) ((pfn >>> 9) & 511), pfn);
            break;
        default:
            free4k(r, (int) ((pfn >>> 9) & 511), (int) (pfn & 511), pfn);
        }
        freeFrames += Levels.pages(level);
    }

    private void free2m(int r, int c, long pfn) {
        FrameRegion reg = state[r] == SPLIT ? regions[r] : null;
        if (reg == null || reg.state[c] != USED)
            throw notAllocated(pfn, Levels.L2M);
        markFree2m(r, reg, c);
    }

    private void markFree2m(int r, FrameRegion reg, int c) {
        reg.state[c] = FREE;
        setBit(reg.free2m, c);
        set2m(r);
        if (++reg.free2mCount == FAN) {   // the whole region is free again
            regions[r] = null;
            state[r] = FREE;
            clearBit(has2m, r);
            clearBit(has4k, r);
            set1g(r);
        }
    }

    private void free4k(int r, int c, int f, long pfn) {
        FrameRegion reg = state[r] == SPLIT ? regions[r] : null;
        FrameRegion.Block b = reg == null || reg.state[c] != SPLIT ? null : reg.blocks[c];
        if (b == null || testBit(b.free, f))
            throw notAllocated(pfn, Levels.L4K);
        b.release(f);
        if (b.freeCount == FAN) {         // the whole 2M block is free again
            reg.blocks[c] = null;
            clearBit(reg.has4k, c);
            if (!any(reg.has4k))
                clearBit(has4k, r);
            markFree2m(r, reg, c);
        } else {
            reg.setHas4k(c);
            set4k(r);
        }
    }

    /** Turns an allocated block of {@code level} into 512 allocated blocks of the level below (a huge page split). */
    void split(long pfn, int level) {
        checkAligned(pfn, level);
        int r = (int) (pfn >>> 18);
        if (level == Levels.L1G) {
            if (state[r] != USED)
                throw notAllocated(pfn, level);
            regions[r] = FrameRegion.allUsed();
            state[r] = SPLIT;
        } else if (level == Levels.L2M) {
            int c = (int) ((pfn >>> 9) & 511);
            FrameRegion reg = state[r] == SPLIT ? regions[r] : null;
            if (reg == null || reg.state[c] != USED)
                throw notAllocated(pfn, level);
            reg.blocks[c] = new FrameRegion.Block();
            reg.state[c] = SPLIT;
        } else {
            throw new IllegalArgumentException("a 4K frame cannot be split");
        }
    }

    /** The level at which the block containing {@code pfn} is allocated, or 0 when the frame is free. */
    int allocatedLevel(long pfn) {
        int r = (int) (pfn >>> 18);
        if (state[r] == USED)
            return Levels.L1G;
        if (state[r] != SPLIT)
            return 0;
        FrameRegion reg = regions[r];
        int c = (int) ((pfn >>> 9) & 511);
        if (reg.state[c] == USED)
            return Levels.L2M;
        if (reg.state[c] != SPLIT)
            return 0;
        return testBit(reg.blocks[c].free, (int) (pfn & 511)) ? 0 : Levels.L4K;
    }

    /** True when the whole 2M block containing {@code pfn} is free (its metadata may be dropped). */
    boolean wholly2mFree(long pfn) {
        int r = (int) (pfn >>> 18);
        return state[r] == FREE || state[r] == SPLIT && regions[r].state[(int) ((pfn >>> 9) & 511)] == FREE;
    }

    private void checkAligned(long pfn, int level) {
        if (pfn < 0 || pfn >= frames || (pfn & (Levels.pages(level) - 1)) != 0)
            throw new IllegalArgumentException(String.format("pfn=0x%x: not a %s block of host memory", pfn,
                    Levels.name(level)));
    }

    private static IllegalStateException notAllocated(long pfn, int level) {
        return new IllegalStateException(String.format("pfn=0x%x: no allocated %s block starts here", pfn,
                Levels.name(level)));
    }

    // The region bitmaps are scanned from a hint: a host of terabytes has thousands of words, and allocation takes the
    // lowest free region first, so the words below the hint stay empty until a free lowers it again.
    private int first1g() {
        int w = firstWord(free1g, hint1g);
        hint1g = w < 0 ? free1g.length : w;
        return w < 0 ? -1 : (w << 6) + Long.numberOfTrailingZeros(free1g[w]);
    }

    private int first2m() {
        int w = firstWord(has2m, hint2m);
        hint2m = w < 0 ? has2m.length : w;
        return w < 0 ? -1 : (w << 6) + Long.numberOfTrailingZeros(has2m[w]);
    }

    private int first4k() {
        int w = firstWord(has4k, hint4k);
        hint4k = w < 0 ? has4k.length : w;
        return w < 0 ? -1 : (w << 6) + Long.numberOfTrailingZeros(has4k[w]);
    }

    private void set1g(int r) {
        setBit(free1g, r);
        hint1g = Math.min(hint1g, r >>> 6);
    }

    private void set2m(int r) {
        setBit(has2m, r);
        hint2m = Math.min(hint2m, r >>> 6);
    }

    private void set4k(int r) {
        setBit(has4k, r);
        hint4k = Math.min(hint4k, r >>> 6);
    }

}
