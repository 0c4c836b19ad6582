package org.tdplab.mmu.tdp.mem;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * One guest_memfd file: private memory handed out in folios on demand. A folio is naturally aligned in the file;
 * its order is the largest one ≤ the maximum order (from the backing level) whose aligned range fits in the file,
 * falling back to smaller orders when host memory has no free block that large (as THP does); a folio never
 * overlaps one already present (so such a fallback stays consistent).
 *
 * <p>{@link #getPfn} of a populated page and every query are lock-free and allocation-free. An allocation locks
 * only the range its folio may take (the largest folio's aligned range), as the kernel's fault holds only its folio's
 * lock: faults on different ranges allocate at once. Punch, close and bind are the file's writers
 * ({@code filemap_invalidate_lock} for write), one at a time; a writer keeps allocations out of the ranges it works on
 * (a punch, those of its pages, as the truncation holds each folio's lock) and waits for those in progress there,
 * while faults elsewhere in the file go on, as the kernel's do ({@link FolioLocks}). None of them may be called with
 * the MMU lock held, as in the kernel, where the pfn is resolved before {@code mmu_lock} is taken.
 */
public final class GuestMemfd {
    private final HostMemory memory;
    private final int ownerId;
    private final long pages;
    private final int maxLevel;
    private final GmemListener listener;
    private final PfnMap folios;
    private volatile long boundBaseGfn = -1;
    private volatile boolean closed;
    /** The ranges' locks and the writers' ({@code filemap_invalidate_lock}). */
    private final FolioLocks locks;
    /**
     * The folio a writer is removing now, as {@code head << 2 | level} (0 when none): unmapped from the file, its
     * frames not yet handed back ({@link GmemListener#free}). The kernel's truncation holds the folio's lock over both
     * steps; one writer at a time.
     */
    private volatile long removing;

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
        // 4K folios are mapped one by one, and live as long as the file; a file of 4K folios has no block entries
        this.folios = maxLevel == Levels.L4K ? PfnMap.chunkedPages(pages) : PfnMap.chunked(pages);
        this.locks = new FolioLocks(folios, pages, maxLevel);
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
        FolioLocks.Span outer = locks.lockFile();
        try {
            boundBaseGfn = baseGfn;
        } finally {
            locks.unlockFile(outer);
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
        return pfnOf(getPfnAndOrder(index, vcpu));
    }

    /**
     * {@code kvm_gmem_get_pfn} with its {@code max_order}: the PFN of page {@code index} and the order of the folio
     * that holds it, from one look-up of the page's entry, in one {@code long} ({@link #pfnOf}, {@link #maxOrderOf}):
     * a fault resolves both without an object and without looking the folio up again.
     *
     * @throws MmuException EFAULT when the file is closed; ENOMEM when host memory is exhausted
     */
    public long getPfnAndOrder(long index, int vcpu) {
        checkIndex(index);
        long e = folios.entry(index);
        return PfnMap.levelOf(e) != 0 ? e : allocate(index, vcpu);
    }

    /** The PFN in a value of {@link #getPfnAndOrder}. */
    public static long pfnOf(long pfnAndOrder) {
        return PfnMap.pfnOf(pfnAndOrder);
    }

    /** The folio's order (0, 9, 18: {@code max_order}) in a value of {@link #getPfnAndOrder}. */
    public static int maxOrderOf(long pfnAndOrder) {
        return Levels.shift(PfnMap.levelOf(pfnAndOrder));
    }

    /** The PFN of page {@code index} if its folio exists, else -1; never allocates. */
    public long pfnIfPresent(long index) {
        checkIndex(index);
        return folios.pfn(index);
    }

    /**
     * Whether page {@code index} is locked, as the kernel's folio lock holds it: a folio is being made there (in the
     * file, absent to every reader, until prepared and published) or removed (unmapped, its frames not yet handed
     * back). Neither holder takes the MMU lock; a failed preparation lets the page go. Lock-free, allocation-free.
     */
    public boolean locked(long index) {
        checkIndex(index);
        if (locks.locked(index))
            return true;
        long r = removing;
        if (r == 0)
            return false;
        long head = r >>> 2;
        return index >= head && index < head + Levels.pages((int) (r & 3));
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
     * Under the range's lock only ({@code kvm_gmem_get_pfn} holds the folio's lock, not the file's). In a file of 4K
     * folios the lock is the page's entry, which the new folio's entry replaces: the page is absent while locked, and
     * a thread that finds it made meanwhile returns its entry. Returns the page's entry ({@link #getPfnAndOrder}).
     */
    private long allocate(long index, int vcpu) {
        long made = locks.lock(index);
        if (made >= 0)
            return made;
        long entry;
        try {
            if (closed)
                throw new MmuException(Errno.EFAULT, "index=0x%x: guest_memfd is closed", index);
            entry = maxLevel == Levels.L4K ? makePage(index, vcpu) : allocateLocked(index, vcpu);
        } catch (RuntimeException | Error e) {
            locks.unlock(index);
            throw e;
        }
        locks.unlockMapped(index);
        return entry;
    }

    /** A huge-folio file's range is locked: a folio of the range may have been made since the look-up. */
    private long allocateLocked(long index, int vcpu) {
        long e = folios.entry(index);
        return PfnMap.levelOf(e) != 0 ? e : makeFolio(index, folios.fittingLevel(index, maxLevel), vcpu);
    }

    /**
     * {@link #makeFolio} of the 4K folio of page {@code index} in a file of 4K folios, which has no smaller order to
     * fall back to. Kept apart from the huge-folio path, and short, so that the fault's call of it stays small: every
     * private fault of such a file runs it.
     */
    private long makePage(long index, int vcpu) {
        return prepareAndMap(index, index, memory.alloc(Levels.L4K, HostMemory.GMEM, ownerId, vcpu), Levels.L4K);
    }

    /**
     * Allocates, prepares and maps the folio of {@code level} (or a smaller one when host memory has no free block
     * that large) around {@code index}; returns the page's entry ({@link #getPfnAndOrder}).
     */
    private long makeFolio(long index, int level, int vcpu) {
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
        return prepareAndMap(index, Levels.alignDown(index, level), base, level);
    }

    /**
     * Prepares the folio of {@code level} at frame {@code base} whose first page is {@code head}, then maps it (the
     * host frames go back if the preparation fails); returns page {@code index}'s entry.
     */
    private long prepareAndMap(long index, long head, long base, int level) {
        try {
            listener.prepare(this, base, head, Levels.shift(level));
        } catch (RuntimeException e) {
            memory.free(base, level);
            throw e;
        }
        folios.mapBlock(head, base, level); // published only once prepared
        return PfnMap.entryOf(base + (index - head), level);
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
        FolioLocks.Span outer = locks.lockFile(start, end);
        try {
            remove(start, end);
        } finally {
            locks.unlockFile(outer);
        }
    }

    /** Frees every folio; later {@link #getPfn} calls fail with EFAULT. */
    public void close() {
        FolioLocks.Span outer = locks.lockFile();
        try {
            if (closed)
                return;
            remove(0, pages);
            closed = true;
            boundBaseGfn = -1;
        } finally {
            locks.unlockFile(outer);
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
                    removing = head << 2 | level; // before the folio reads absent: a reader sees it locked
                    try {
                        folios.unmap(head, head + n);
                        listener.free(this, headPfn, Levels.shift(level));
                    } finally {
                        removing = 0;
                    }
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
