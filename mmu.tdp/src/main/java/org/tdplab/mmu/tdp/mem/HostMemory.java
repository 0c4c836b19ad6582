package org.tdplab.mmu.tdp.mem;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * Simulated host physical memory: a frame allocator of naturally aligned 4K / 2M / 1G blocks, the owner of every
 * 4K frame, and a 64-bit data token per frame that stands for the frame's contents. Metadata is created lazily, so
 * memory use follows what is allocated and written, not the configured size: the owner of a 2M or 1G block is kept
 * once per 2M, and per 4K frame only for 4K allocations and split blocks.
 *
 * <p>The memory grows, 1G at a time or by doubling, when an allocation finds no free block, up to its limit — as much
 * as the VMs' memslots and page tables need. Past the limit an allocation fails with {@code ENOMEM} naming it.
 *
 * <p>A vCPU's 4K frames come from a list of its own ({@link CpuFrames}), refilled a batch at a time; vCPUs allocating
 * at once take them from different 2M blocks where they can ({@link BlockClaims}).
 *
 * <p>Other allocations, and free, split, growth and ownership changes take one lock. Token reads and writes and owner
 * reads are lock-free and allocation-free; concurrent token writers are safe. Freeing a frame zeroes its token (a new
 * owner sees zeroed memory).
 */
public final class HostMemory {
    /** Where a host memory that grows starts. */
    public static final long DEFAULT_SIZE = 64L << 30;
    /** How far it may grow unless configured otherwise. */
    public static final long DEFAULT_LIMIT = 16L << 40;
    /** What names the limit in an {@code ENOMEM} message. */
    public static final String LIMIT_PROPERTY = "tdplab.host.memory.max";

    /** Owner kinds of a frame. */
    public static final int FREE = 0, SHARED = 1, GMEM = 2, PAGE_TABLE = 3, FIRMWARE = 4;
    private static final int KINDS = 5;
    private static final String[] KIND_NAMES = { "free", "shared", "gmem", "page_table", "firmware" };

    private volatile long frames;
    private final long limitFrames;
    private final FrameAllocator allocator;
    /** Which 2M block each vCPU takes its 4K frames from; guarded by the allocator's lock. */
    private final BlockClaims claims = new BlockClaims();
    /** The vCPUs' lists of free 4K frames. */
    private final CpuFrameLists cpus = new CpuFrameLists(KINDS);
    /** A drain's frames; guarded by the allocator's lock. */
    private final long[] drained = new long[CpuFrames.BATCH];
    /** The CPU of an allocation no vCPU makes (an ioctl, a page table): it takes the lowest free frame. */
    public static final int NO_CPU = -1;
    /** Each frame's owner, and the frames each kind owns. */
    private final FrameOwners owners;
    /** Per frame: its data token, in regions as {@link FrameOwners} keeps its words ({@link RegionLongArray}). */
    private final RegionLongArray token;

    public HostMemory() {
        this(DEFAULT_SIZE, DEFAULT_LIMIT);
    }

    /** @param sizeBytes the host's physical memory, fixed; a multiple of 4K */
    public HostMemory(long sizeBytes) {
        this(sizeBytes, sizeBytes);
    }

    /**
     * @param sizeBytes the host's physical memory at first; a multiple of 4K
     * @param limitBytes how far it may grow (a multiple of 1G to grow at all)
     */
    public HostMemory(long sizeBytes, long limitBytes) {
        if (sizeBytes <= 0 || (sizeBytes & (Levels.PAGE_SIZE - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "size=0x%x: host memory must be a non-zero multiple of 4K",
                    sizeBytes);
        if (limitBytes < sizeBytes)
            throw new MmuException(Errno.EINVAL, "limit=0x%x: host memory may not be limited below its size 0x%x",
                    limitBytes, sizeBytes);
        this.frames = sizeBytes >>> Levels.PAGE_SHIFT;
        this.limitFrames = limitBytes >>> Levels.PAGE_SHIFT;
        this.allocator = new FrameAllocator(frames);
        this.owners = new FrameOwners(frames, KINDS);
        this.token = new RegionLongArray(frames);
    }

    public long frames() {
        return frames;
    }

    public long limitFrames() {
        return limitFrames;
    }

    public static String kindName(int kind) {
        return kind >= 0 && kind < KINDS ? KIND_NAMES[kind] : "kind" + kind;
    }

    /**
     * Allocates a naturally aligned block of {@code level} owned by ({@code ownerKind}, {@code ownerId}), growing the
     * memory when no block is free and the limit allows.
     *
     * @return the base PFN
     * @throws MmuException ENOMEM when no free block of that size is left and the limit is reached
     */
    public long alloc(int level, int ownerKind, int ownerId) {
        return alloc(level, ownerKind, ownerId, NO_CPU);
    }

    /**
     * {@link #alloc(int, int, int)} for vCPU {@code vcpu} of VM {@code ownerId} (its fault), or {@link #NO_CPU}: a 4K
     * frame comes from a 2M block no other vCPU took frames from lately where one is left ({@link BlockClaims}).
     */
    public long alloc(int level, int ownerKind, int ownerId, int vcpu) {
        checkKind(ownerKind);
        checkId(ownerId);
        if (ownerKind == FREE)
            throw new IllegalArgumentException("an allocated block needs an owner kind other than FREE");
        long o = FrameOwners.word(ownerKind, ownerId);
        if (level == Levels.L4K && vcpu != NO_CPU) {
            long pfn = allocFromCpu((long) ownerId << 32 | (vcpu & 0xffffffffL), ownerKind);
            owners.setFrame(pfn, o);
            return pfn;
        }
        return allocLocked(level, ownerKind, o);
    }

    /** {@link #alloc(int, int, int, int)} from the allocator, under its lock, for owner word {@code o}. */
    private long allocLocked(int level, int ownerKind, long o) {
        synchronized (allocator) {
            long pfn = allocator.alloc(level);
            if (pfn < 0 && grow(Levels.pages(level)))
                pfn = allocator.alloc(level);
            if (pfn < 0 && drainCpus())
                pfn = allocator.alloc(level);
            if (pfn < 0)
                throw noMemory(level);
            long n = Levels.pages(level);
            if (level == Levels.L4K)
                owners.setFrame(pfn, o);
            else
                owners.setBlocks(pfn, n, o);
            owners.addInUse(ownerKind, n);
            return pfn;
        }
    }

    /**
     * A 4K frame from CPU {@code cpu}'s list ({@link CpuFrames}), refilled first when empty: a batch of frames under
     * the allocator's lock, from a 2M block no other CPU took frames from lately where one is left.
     */
    private long allocFromCpu(long cpu, int kind) {
        CpuFrames list = cpus.find(cpu);
        long pfn = list == null ? -1 : list.take(kind);
        return pfn >= 0 ? pfn : refillAndTake(list, cpu, kind);
    }

    /** {@link #allocFromCpu} once CPU {@code cpu}'s list ({@code list}, or null: none yet) was found empty. */
    private long refillAndTake(CpuFrames list, long cpu, int kind) {
        long pfn = -1;
        while (pfn < 0) {
            synchronized (allocator) {
                if (list == null)
                    list = cpus.findOrAdd(cpu);
                if (list.count() == 0)
                    refill(list);
            }
            pfn = list.take(kind); // another thread of the CPU may have emptied it again: then once more
        }
        return pfn;
    }

    /** Fills {@code list} with up to a batch of 4K frames, growing or draining the other lists when none is free. */
    private void refill(CpuFrames list) {
        claims.begin(list.cpu, CpuFrames.BATCH);
        long[] batch = list.refillBuffer; // the list's own: one buffer for all wrote its lines from every vCPU
        int n = allocator.alloc4k(claims, batch, CpuFrames.BATCH);
        if (n == 0 && (grow(1) || drainCpus()))
            n = allocator.alloc4k(claims, batch, CpuFrames.BATCH);
        if (n == 0)
            throw noMemory(Levels.L4K);
        list.refill(batch, n);
    }

    /** Gives every CPU list's frames back to the allocator; whether there were any. Holds the allocator's lock. */
    private boolean drainCpus() {
        boolean any = false;
        for (CpuFrames list : cpus.all())
            any |= drain(list);
        return any;
    }

    private boolean drain(CpuFrames list) {
        int n = list.drain(drained);
        for (int i = 0; i < n; i++) {
            allocator.free(drained[i], Levels.L4K);
            dropMetadataIfFree(Levels.alignDown(drained[i], Levels.L2M));
        }
        return n > 0;
    }

    /**
     * VM {@code vmId} is gone: the frames left on its vCPUs' lists go back to the allocator, and the frames its lists
     * handed out and were not freed yet are counted as the allocator's own.
     */
    public void releaseCpus(int vmId) {
        synchronized (allocator) {
            for (CpuFrames list : cpus.removeVm(vmId)) {
                drain(list);
                for (int k = 0; k < KINDS; k++)
                    owners.addInUse(k, list.handedOut(k));
            }
        }
    }

    private MmuException noMemory(int level) {
        return new MmuException(Errno.ENOMEM, "no free %s block in %d MiB of host memory (%d frames free; the "
                + "limit is %d GiB: raise it with -D%s=SIZE)", Levels.name(level), frames >>> 8,
                allocator.freeFrames(), limitFrames >>> 18, LIMIT_PROPERTY);
    }

    /** Adds at least {@code needed} frames (1G at a time, or doubling), within the limit. Holds the lock. */
    private boolean grow(long needed) {
        if (!allocator.growable() || frames >= limitFrames)
            return false;
        long g = 1L << 18;
        long want = Math.max(frames * 2, frames + (needed + g - 1) / g * g);
        long to = Math.min(limitFrames / g * g, want);
        if (to <= frames)
            return false;
        owners.grow(to);
        token.grow(to);
        allocator.grow(to);
        frames = to;
        return true;
    }

    /** The frame list of vCPU {@code vcpu} of VM {@code ownerId}, or null (for tests). */
    CpuFrames cpuList(int ownerId, int vcpu) {
        return cpus.find((long) ownerId << 32 | (vcpu & 0xffffffffL));
    }

    /**
     * {@link #free(long, int)} by vCPU {@code vcpu} of VM {@code ownerId}, or {@link #NO_CPU}: a 4K frame goes on the
     * vCPU's list while it has room ({@code free_unref_page}), its owner and token cleared, without the allocator's
     * lock; anything else, or a frame that is not allocated at 4K, goes to {@link #free(long, int)}.
     */
    public void free(long pfn, int level, int ownerId, int vcpu) {
        if (level == Levels.L4K && vcpu != NO_CPU) {
            CpuFrames list = cpus.find((long) ownerId << 32 | (vcpu & 0xffffffffL));
            checkPfn(pfn);
            long o = owners.frameWord(pfn);
            if (list != null && o != 0 && !owners.keptPerBlock(pfn)) {
                owners.setFrame(pfn, 0);
                token.set(pfn, 0);
                if (list.put(pfn, FrameOwners.kindOf(o)))
                    return;
                owners.setFrame(pfn, o); // the list is full: the allocator takes it, counting it by its owner
            }
        }
        free(pfn, level);
    }

    /** Frees an allocated block: its frames become FREE and their tokens 0. */
    public void free(long pfn, int level) {
        synchronized (allocator) {
            long n = Levels.pages(level);
            if (level == Levels.L4K)
                checkPfn(pfn);
            if (level == Levels.L4K && owners.get(pfn) == 0) // free, or on a vCPU's list, which the allocator counts as used
                throw new IllegalStateException(String.format("pfn=0x%x: no allocated 4K frame here", pfn));
            allocator.free(pfn, level); // validates first
            owners.release(pfn, n);
            // Drop the metadata of every 2M region that is now wholly free; zero the rest.
            for (long b = Levels.alignDown(pfn, Levels.L2M); b < pfn + n; b += 512) {
                if (!dropMetadataIfFree(b)) {
                    token.clearRange(Math.max(b, pfn), Math.min(b + 512, pfn + n));
                    owners.clearRange(Math.max(b, pfn), Math.min(b + 512, pfn + n));
                }
            }
        }
    }

    /** Drops the metadata of the 2M region at {@code b} if it is wholly free; whether it was. Holds the lock. */
    private boolean dropMetadataIfFree(long b) {
        if (!allocator.wholly2mFree(b))
            return false;
        token.releaseRange(b, b + 512);
        owners.releaseRange(b, b + 512);
        return true;
    }

    /** Splits an allocated huge block into 512 allocated blocks of the next level (ownership and tokens kept). */
    public void split(long pfn, int level) {
        synchronized (allocator) {
            allocator.split(pfn, level);
            if (level == Levels.L2M)
                owners.pushDown(pfn >>> FrameOwners.BLOCK_SHIFT);
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
        checkId(id);
        if (kind == FREE)
            throw new IllegalArgumentException("setOwner cannot free frames; use free()");
        synchronized (allocator) {
            for (long i = 0; i < count; i++)
                if (ownerKind(pfn + i) == FREE)
                    throw new IllegalStateException(String.format("pfn=0x%x: frame is free", pfn + i));
            owners.change(pfn, count, FrameOwners.word(kind, id));
        }
    }

    public int ownerKind(long pfn) {
        checkPfn(pfn);
        return FrameOwners.kindOf(owners.get(pfn));
    }

    public int ownerId(long pfn) {
        checkPfn(pfn);
        return (int) owners.get(pfn);
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
        synchronized (allocator) {
            long n = kind == FREE ? allocator.freeFrames() : owners.inUse(kind);
            for (CpuFrames list : cpus.all())
                n += kind == FREE ? list.count() : list.handedOut(kind);
            return n;
        }
    }

    /** Allocated 2M regions that carry metadata (for memory-use tests). */
    long metadataLeaves() {
        return owners.leaves() + token.leaves();
    }

    /** Chunks of per-frame metadata ({@link RegionLongArray}; for memory-use tests). */
    int metadataChunks() {
        return owners.chunks() + token.chunks();
    }

    private void checkPfn(long pfn) {
        if (pfn < 0 || pfn >= frames)
            throw new IllegalArgumentException(String.format("pfn=0x%x: beyond host memory (%d frames)", pfn, frames));
    }

    private static void checkKind(int kind) {
        if (kind < 0 || kind >= KINDS)
            throw new IllegalArgumentException("owner kind " + kind);
    }

    /** An owner id (a VM's) fits 29 bits: a frame keeps it in 32 with its kind ({@link FrameOwners}). */
    private static void checkId(int id) {
        if (!FrameOwners.validId(id))
            throw new IllegalArgumentException("owner id " + id + ": " + FrameOwners.MIN_ID + " to "
                    + FrameOwners.MAX_ID);
    }
}
