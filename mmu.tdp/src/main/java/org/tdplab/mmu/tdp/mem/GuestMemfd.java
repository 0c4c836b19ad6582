package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.sync.Backoff;
import org.tdplab.mmu.tdp.sync.StripedRwLock;

/**
 * One guest_memfd file: private memory handed out in folios on demand. A folio is naturally aligned in the file;
 * its order is the largest one ≤ the maximum order (from the backing level) whose aligned range fits in the file,
 * falling back to smaller orders when host memory has no free block that large (as THP does); a folio never
 * overlaps one already present (so such a fallback stays consistent).
 *
 * <p>{@link #getPfn} of a populated page and every query are lock-free and allocation-free. An allocation locks
 * only the range its folio may take (the largest folio's aligned range: a bit of its own), then holds the file's
 * lock for read, so faults on different ranges allocate at once, as the kernel's do under their folio's lock alone;
 * punch, close and bind hold the file's lock for write ({@code filemap_invalidate_lock}, and each folio's lock as
 * the punch reaches it). The file's lock is a {@link StripedRwLock} and a range's bit lies among the bits of its
 * neighbours, so two vCPUs faulting their own parts of a guest write no common cache line: with a lock per page
 * hashed to one of 256, each lock's line moved between their cores at almost every fault. None of them may be called
 * with the MMU lock held, as in the kernel, where the pfn is resolved before {@code mmu_lock} is taken.
 */
public final class GuestMemfd {
    private static final VarHandle BITS = MethodHandles.arrayElementVarHandle(long[].class);
    private final HostMemory memory;
    private final int ownerId;
    private final long pages;
    private final int maxLevel;
    private final GmemListener listener;
    private final PfnMap folios;
    private volatile long boundBaseGfn = -1;
    private volatile boolean closed;
    /** Allocations hold it for read, the file's operations for write. */
    private final StripedRwLock fileLock = new StripedRwLock();
    /**
     * One bit per range of the largest folio, set while an allocation in the range runs (its folios' lock): the word
     * of ranges {@code 64w..64w+63} at {@link #wordAt}. Words of 2M and 1G ranges lie a cache line apart (packed,
     * the 8 words of a 1 GiB guest's 2M ranges shared one line, which both halves' faults wrote); words of 4K ranges
     * are packed (a line is 2 MiB of guest; a line each would cost 8 bytes per 4K of guest).
     */
    private final long[] rangeBusy;
    private final int wordShift;
    private static final int LINE = 8;

    /**
     * {@code KVM_CREATE_GUEST_MEMFD}.
     *
     * @param ownerId the VM that owns the frames
     * @param sizeBytes file size, a non-zero multiple of 4K
     * @param backingLevel the largest folio: 1 (4K, order 0), 2 (2M, order 9), 3 (1G, order 18)
     */
    public GuestMemfd(HostMemory memory, int ownerId, long sizeBytes, int backingLevel, GmemListener listener) {
        if (sizeBytes <= 0 || (sizeBytes & (Levels.PAGE_SIZE - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "size=0x%x: guest_memfd size must be a non-zero multiple of 4K",
                    sizeBytes);
        this.memory = memory;
        this.ownerId = ownerId;
        this.pages = sizeBytes >>> Levels.PAGE_SHIFT;
        this.maxLevel = Levels.check(backingLevel);
        this.listener = listener == null ? GmemListener.NONE : listener;
        this.folios = PfnMap.chunked(pages); // 4K folios are mapped one by one, and live as long as the file
        this.wordShift = maxLevel == Levels.L4K ? 0 : 3;
        long words = ((pages - 1) >>> Levels.shift(maxLevel) >>> 6) + 1;
        this.rangeBusy = new long[Math.toIntExact(LINE + (words << wordShift) + LINE)];
    }

    /**
     * Locks the largest folio's aligned range around {@code index}: every folio that may hold it. A thread that finds
     * it held waits for that allocation (the kernel's fault waits on the folio's lock).
     */
    private void lockRange(long index) {
        long range = index >>> Levels.shift(maxLevel), bit = 1L << range;
        int w = wordAt(range);
        for (int spins = 0;; spins++) {
            long v = (long) BITS.getVolatile(rangeBusy, w);
            if ((v & bit) == 0 && BITS.compareAndSet(rangeBusy, w, v, v | bit))
                return;
            Backoff.pause(spins, 64, this, 20_000);
        }
    }

    private void unlockRange(long index) {
        long range = index >>> Levels.shift(maxLevel);
        BITS.getAndBitwiseAnd(rangeBusy, wordAt(range), ~(1L << range));
    }

    /** Where the word of {@code range}'s bit is: a line after the array's header, which every access reads. */
    private int wordAt(long range) {
        return LINE + (int) ((range >>> 6) << wordShift);
    }

    /** Holds the file's lock for write: nothing is being allocated while the file changes. */
    private void lockFile() {
        fileLock.writeLock();
    }

    private void unlockFile() {
        fileLock.writeUnlock();
    }

    public long pages() {
        return pages;
    }

    public long sizeBytes() {
        return pages << Levels.PAGE_SHIFT;
    }

    /** Largest folio order this file uses: 0, 9 or 18. */
    public int maxOrder() {
        return Levels.shift(maxLevel);
    }

    public int ownerId() {
        return ownerId;
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * Binds the file to a memslot at offset 0 (index i ↔ {@code baseGfn + i}); -1 unbinds. Under the file's lock
     * ({@code kvm_gmem_bind}/{@code unbind} take {@code filemap_invalidate_lock}), so a punch's invalidation ends at
     * the binding it began at.
     */
    public void bind(long baseGfn) {
        lockFile();
        try {
            boundBaseGfn = baseGfn;
        } finally {
            unlockFile();
        }
    }

    /** The GFN that index {@code index} backs, or -1 when the file is not bound. */
    public long gfnOf(long index) {
        long base = boundBaseGfn;
        return base < 0 ? -1 : base + index;
    }

    /**
     * {@code kvm_gmem_get_pfn}: the PFN of page {@code index}, allocating (and preparing) its folio first if absent.
     *
     * @throws MmuException EFAULT when the file is closed; ENOMEM when host memory is exhausted
     */
    public long getPfn(long index) {
        return getPfn(index, HostMemory.NO_CPU);
    }

    /**
     * {@link #getPfn(long)} for a fault of vCPU {@code vcpu} of the owning VM: a new 4K folio comes from host memory
     * as that vCPU's ({@link HostMemory#alloc(int, int, int, int)}).
     */
    public long getPfn(long index, int vcpu) {
        checkIndex(index);
        long pfn = folios.pfn(index);
        return pfn >= 0 ? pfn : allocate(index, vcpu);
    }

    /** The PFN of page {@code index} if its folio exists, else -1; never allocates. */
    public long pfnIfPresent(long index) {
        checkIndex(index);
        return folios.pfn(index);
    }

    public boolean populated(long index) {
        checkIndex(index);
        return folios.level(index) != 0;
    }

    /** Order of the folio backing {@code index} (0, 9, 18), or -1 when none. */
    public int folioOrder(long index) {
        checkIndex(index);
        int level = folios.level(index);
        return level == 0 ? -1 : Levels.shift(level);
    }

    /**
     * The order a new folio for {@code index} gets when host memory allows: the largest whose aligned range fits in
     * the file and holds no other folio yet.
     */
    public int naturalOrder(long index) {
        checkIndex(index);
        return Levels.shift(folios.fittingLevel(index, maxLevel));
    }

    /**
     * The range's lock first, the file's then: a thread waiting for another's range holds nothing a writer of the
     * file waits for.
     */
    private long allocate(long index, int vcpu) {
        lockRange(index);
        try {
            fileLock.readLock();
            try {
                return allocateLocked(index, vcpu);
            } finally {
                fileLock.readUnlock();
            }
        } finally {
            unlockRange(index);
        }
    }

    private long allocateLocked(long index, int vcpu) {
        if (closed)
            throw new MmuException(Errno.EFAULT, "index=0x%x: guest_memfd is closed", index);
        long pfn = folios.pfn(index);
        if (pfn >= 0)
            return pfn;
        int level = folios.fittingLevel(index, maxLevel);
        long base;
        while (true) {
            try {
                base = memory.alloc(level, HostMemory.GMEM, ownerId, vcpu);
                break;
            } catch (MmuException e) {
                if (e.errno() != Errno.ENOMEM || level == Levels.L4K)
                    throw e;
                level--;
            }
        }
        long head = Levels.alignDown(index, level);
        try {
            listener.prepare(this, base, head, Levels.shift(level));
        } catch (RuntimeException e) {
            memory.free(base, level);
            throw e;
        }
        folios.mapBlock(head, base, level); // published only once prepared
        return base + (index - head);
    }

    /**
     * {@code fallocate(PUNCH_HOLE | KEEP_SIZE)}: removes the pages in {@code [offset, offset+len)}. The listener hears
     * invalidate-begin, then {@code free} for every folio wholly inside the range (before its frames go back to host
     * memory), then invalidate-end. A range reaching past the end of the file is cut at the end.
     *
     * <p>Simplification: a folio only partly inside the range is kept (the kernel would try to split it); the punched
     * pages of it read as zero afterwards, like the kernel's partial-folio zeroing.
     *
     * @throws MmuException EINVAL when offset or len is not 4K-aligned, len ≤ 0 or offset < 0
     */
    public void punchHole(long offsetBytes, long lenBytes) {
        if (offsetBytes < 0 || lenBytes <= 0)
            throw new MmuException(Errno.EINVAL, "offset=0x%x len=0x%x: offset must be ≥ 0 and len > 0", offsetBytes,
                    lenBytes);
        if ((offsetBytes & (Levels.PAGE_SIZE - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "offset=0x%x: not 4K-aligned", offsetBytes);
        if ((lenBytes & (Levels.PAGE_SIZE - 1)) != 0)
            throw new MmuException(Errno.EINVAL, "len=0x%x: not 4K-aligned", lenBytes);
        long start = offsetBytes >>> Levels.PAGE_SHIFT;
        long end = Math.min(pages, start + (lenBytes >>> Levels.PAGE_SHIFT));
        if (start >= pages)
            return;
        lockFile();
        try {
            remove(start, end);
        } finally {
            unlockFile();
        }
    }

    /** Frees every folio; later {@link #getPfn} calls fail with EFAULT. */
    public void close() {
        lockFile();
        try {
            if (closed)
                return;
            remove(0, pages);
            closed = true;
            boundBaseGfn = -1;
        } finally {
            unlockFile();
        }
    }

    private void remove(long start, long end) {
        listener.invalidateBegin(this, start, end);
        try {
            for (long i = folios.nextPresent(start, end); i < end; i = folios.nextPresent(i, end)) {
                int level = folios.level(i);
                long n = Levels.pages(level);
                long head = Levels.alignDown(i, level);
                long headPfn = folios.pfn(i) - (i - head);
                if (head >= start && head + n <= end) {
                    folios.unmap(head, head + n);
                    listener.free(this, headPfn, Levels.shift(level));
                    memory.free(headPfn, level);
                } else {
                    long to = Math.min(end, head + n);
                    for (long j = i; j < to; j++) {
                        listener.clearing(this, headPfn + (j - head), j);
                        memory.write(headPfn + (j - head), 0);
                        listener.cleared(this, headPfn + (j - head), j);
                    }
                    i = to;
                    continue;
                }
                i = head + n;
            }
        } finally {
            listener.invalidateEnd(this, start, end);
        }
    }

    private void checkIndex(long index) {
        if (index < 0 || index >= pages)
            throw new IllegalArgumentException(String.format("index=0x%x: beyond guest_memfd of %d pages", index,
                    pages));
    }
}
