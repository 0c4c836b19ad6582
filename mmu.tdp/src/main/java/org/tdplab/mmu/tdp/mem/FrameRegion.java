package org.tdplab.mmu.tdp.mem;

import static org.tdplab.mmu.tdp.mem.Bitmaps.clearBit;
import static org.tdplab.mmu.tdp.mem.Bitmaps.firstFrom;
import static org.tdplab.mmu.tdp.mem.Bitmaps.setBit;

import java.util.Arrays;

/**
 * A split 1G region of {@link FrameAllocator}: the state of each of its 2M children and, for a split child, which of
 * its 4K frames are free ({@link Block}). Only split regions and split blocks exist as objects, so the allocator's
 * memory follows what is allocated. Not thread-safe, as the allocator.
 */
final class FrameRegion {
    static final int FAN = 512;
    /** A child's (or a whole region's) state. */
    static final byte FREE = 0, SPLIT = 1, USED = 2, ABSENT = 3;

    /** A split 2M block: which of its 4K frames are free. */
    static final class Block {
        final long[] free = new long[FAN / 64];
        int freeCount;
        /** No word of {@link #free} before this one has a bit set (frames are taken lowest first). */
        int hint;

        /** A block whose frames are all free. */
        static Block allFree() {
            Block b = new Block();
            Arrays.fill(b.free, -1L);
            b.freeCount = FAN;
            return b;
        }

        /** Its lowest free frame, now taken (the block has one). */
        int takeLowest() {
            int f = firstFrom(free, hint);
            hint = f >>> 6;
            clearBit(free, f);
            freeCount--;
            return f;
        }

        /** Frame {@code f}, allocated, is free again. */
        void release(int f) {
            setBit(free, f);
            hint = Math.min(hint, f >>> 6);
            freeCount++;
        }
    }

    final byte[] state = new byte[FAN];
    final Block[] blocks = new Block[FAN];
    /** Children wholly free. */
    final long[] free2m = new long[FAN / 64];
    /** Split children with a free frame. */
    final long[] has4k = new long[FAN / 64];
    /** No word of {@link #has4k} before this one has a bit set. */
    int hint4k;
    int free2mCount;

    /** A region whose 2M children are all free. */
    static FrameRegion allFree() {
        FrameRegion r = new FrameRegion();
        Arrays.fill(r.free2m, -1L);
        r.free2mCount = FAN;
        return r;
    }

    /** A 1G block split into 512 allocated 2M blocks. */
    static FrameRegion allUsed() {
        FrameRegion r = new FrameRegion();
        Arrays.fill(r.state, USED);
        return r;
    }

    /** Child {@code c} has a free frame. */
    void setHas4k(int c) {
        setBit(has4k, c);
        hint4k = Math.min(hint4k, c >>> 6);
    }

    /** The first split child with a free frame, or -1. */
    int firstHas4k() {
        return firstFrom(has4k, hint4k);
    }

    /** Child {@code c} has no free frame left; whether no child of the region has one. */
    boolean noFreeFrameIn(int c) {
        clearBit(has4k, c);
        return firstHas4k() < 0;
    }
}
