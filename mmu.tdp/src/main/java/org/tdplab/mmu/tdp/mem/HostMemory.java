package org.tdplab.mmu.tdp.mem;

import java.util.concurrent.atomic.AtomicLongArray;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * Simulated host physical memory: a frame allocator of naturally aligned 4K / 2M / 1G blocks, the owner of every
 * 4K frame, and a 64-bit data token per frame that stands for the frame's contents. Metadata is created lazily per
 * 2M region, so memory use follows what is allocated and written, not the configured size.
 *
 * <p>Allocation, free, split and ownership changes take one lock. Token reads and writes and owner reads are
 * lock-free and allocation-free; concurrent token writers are safe. Freeing a frame zeroes its token (a new owner
 * sees zeroed memory).
 */
public final class HostMemory {
    public static final long DEFAULT_SIZE = 64L << 30;

    /** Owner kinds of a frame. */
    public static final int FREE = 0, SHARED = 1, GMEM = 2, PAGE_TABLE = 3, FIRMWARE = 4;
    private static final int KINDS = 5;
    private static final String[] KIND_NAMES = { "free", "shared", "gmem", "page_table", "firmware" };

    private final long frames;
    private final FrameAllocator allocator;
    /** Per frame: {@code kind << 32 | id} (0 = FREE). */
    private final SparseLongArray owner;
    private final SparseLongArray token;
    private final AtomicLongArray inUse = new AtomicLongArray(KINDS);

    public HostMemory() {
        this(DEFAULT_SIZE);
    }

    /** @param sizeBytes the host's physical memory; a multiple of 4K */
    public HostMemory(long sizeBytes) {
        if (sizeBytes <= 0 || (sizeBytes & (Levels.PAGE_SIZE - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "size=0x%x: host memory must be a non-zero multiple of 4K",
                    sizeBytes);
        this.frames = sizeBytes >>> Levels.PAGE_SHIFT;
        this.allocator = new FrameAllocator(frames);
        this.owner = new SparseLongArray(frames);
        this.token = new SparseLongArray(frames);
    }

    public long frames() {
        return frames;
    }

    public static String kindName(int kind) {
        return kind >= 0 && kind < KINDS ? KIND_NAMES[kind] : "kind" + kind;
    }

    /**
     * Allocates a naturally aligned block of {@code level} owned by ({@code ownerKind}, {@code ownerId}).
     *
     * @return the base PFN
     * @throws MmuException ENOMEM when no free block of that size is left
     */
    public long alloc(int level, int ownerKind, int ownerId) {
        checkKind(ownerKind);
        if (ownerKind == FREE)
            throw new IllegalArgumentException("an allocated block needs an owner kind other than FREE");
        synchronized (allocator) {
            long pfn = allocator.alloc(level);
            if (pfn < 0)
                throw new MmuException(Errno.ENOMEM, "no free %s block in %d MiB of host memory (%d frames free)",
                        Levels.name(level), frames >>> 8, allocator.freeFrames());
            long n = Levels.pages(level);
            long o = (long) ownerKind << 32 | (ownerId & 0xffffffffL);
            for (long i = 0; i < n; i++)
                owner.set(pfn + i, o);
            inUse.addAndGet(ownerKind, n);
            return pfn;
        }
    }

    /** Frees an allocated block: its frames become FREE and their tokens 0. */
    public void free(long pfn, int level) {
        synchronized (allocator) {
            long n = Levels.pages(level);
            allocator.free(pfn, level); // validates first
            for (long i = 0; i < n; i++) {
                int kind = (int) (owner.get(pfn + i) >>> 32);
                inUse.decrementAndGet(kind);
            }
            // Drop the metadata of every 2M region that is now wholly free; zero the rest.
            for (long b = Levels.alignDown(pfn, Levels.L2M); b < pfn + n; b += 512) {
                long from = Math.max(b, pfn), to = Math.min(b + 512, pfn + n);
                if (allocator.wholly2mFree(b)) {
                    token.releaseRange(b, b + 512);
                    owner.releaseRange(b, b + 512);
                } else {
                    token.clearRange(from, to);
                    owner.clearRange(from, to);
                }
            }
        }
    }

    /** Splits an allocated huge block into 512 allocated blocks of the next level (ownership and tokens kept). */
    public void split(long pfn, int level) {
        synchronized (allocator) {
            allocator.split(pfn, level);
        }
    }

    /** Level of the allocated block containing {@code pfn}, 0 when the frame is free. */
    public int allocatedLevel(long pfn) {
        checkPfn(pfn);
        synchronized (allocator) {
            return allocator.allocatedLevel(pfn);
        }
    }

    /** Changes the owner of {@code count} allocated frames from {@code pfn} (e.g. a firmware model claiming them). */
    public void setOwner(long pfn, long count, int kind, int id) {
        checkKind(kind);
        if (kind == FREE)
            throw new IllegalArgumentException("setOwner cannot free frames; use free()");
        synchronized (allocator) {
            for (long i = 0; i < count; i++)
                if (ownerKind(pfn + i) == FREE)
                    throw new IllegalStateException(String.format("pfn=0x%x: frame is free", pfn + i));
            long o = (long) kind << 32 | (id & 0xffffffffL);
            for (long i = 0; i < count; i++) {
                inUse.decrementAndGet(ownerKind(pfn + i));
                owner.set(pfn + i, o);
            }
            inUse.addAndGet(kind, count);
        }
    }

    public int ownerKind(long pfn) {
        checkPfn(pfn);
        return (int) (owner.get(pfn) >>> 32);
    }

    public int ownerId(long pfn) {
        checkPfn(pfn);
        return (int) owner.get(pfn);
    }

    /** The frame's data token (0 for never-written or freed memory). */
    public long read(long pfn) {
        checkPfn(pfn);
        return token.get(pfn);
    }

    public void write(long pfn, long value) {
        checkPfn(pfn);
        token.set(pfn, value);
    }

    /** Frames currently owned by {@code kind} ({@link #FREE}: frames not allocated). */
    public long framesInUse(int kind) {
        checkKind(kind);
        if (kind == FREE)
            synchronized (allocator) {
                return allocator.freeFrames();
            }
        return inUse.get(kind);
    }

    /** Allocated 2M regions that carry metadata (for memory-use tests). */
    long metadataLeaves() {
        return owner.leaves() + token.leaves();
    }

    private void checkPfn(long pfn) {
        if (pfn < 0 || pfn >= frames)
            throw new IllegalArgumentException(String.format("pfn=0x%x: beyond host memory (%d frames)", pfn, frames));
    }

    private static void checkKind(int kind) {
        if (kind < 0 || kind >= KINDS)
            throw new IllegalArgumentException("owner kind " + kind);
    }
}
