package org.tdplab.mmu.tdp.mem;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.ReentrantLock;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.sync.Backoff;

/**
 * One guest_memfd file: private memory handed out in folios on demand. A folio is naturally aligned in the file;
 * its order is the largest one ≤ the maximum order (from the backing level) whose aligned range fits in the file,
 * falling back to smaller orders when host memory has no free block that large (as THP does); a folio never
 * overlaps one already present (so such a fallback stays consistent).
 *
 * <p>{@link #getPfn} of a populated page and every query are lock-free and allocation-free. An allocation locks
 * only the range its folio may take (the largest folio's aligned range: a bit of its own), as the kernel's fault
 * holds only its folio's lock: faults on different ranges allocate at once. Punch, close and bind are the file's
 * writers ({@code filemap_invalidate_lock} for write), one at a time; a writer keeps allocations out of the ranges it
 * works on (a punch, those of its pages, as the truncation holds each folio's lock) and waits for those in progress
 * there, while faults elsewhere in the file go on, as the kernel's do. A range's bit lies among the bits of its
 * neighbours, so two vCPUs faulting their own parts of a guest write no common cache line. None of them may be
 * called with the MMU lock held, as in the kernel, where the pfn is resolved before {@code mmu_lock} is taken.
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
    /**
     * {@code filemap_invalidate_lock} for write: punch, close and bind, one at a time. Allocations do not take it, as
     * {@code kvm_gmem_get_pfn} does not: they take their folio's range lock only, and a writer keeps them out of the
     * ranges it works on through {@link #writing}.
     */
    private final ReentrantLock writers = new ReentrantLock();
    /**
     * The ranges (of the largest folio) the writer holding {@link #writers} works on, or null: an allocation in them
     * waits for it, one elsewhere goes on. Published before the writer waits for the allocations in progress there.
     */
    private volatile Span writing;
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

    /** Ranges {@code [from, to)} of the largest folio, held by a writer. */
    private record Span(long from, long to) {
        boolean covers(long range) {
            return range >= from && range < to;
        }
    }

    /**
     * Locks the largest folio's aligned range around {@code index}: every folio that may hold it. A thread that finds
     * it held waits for that allocation (the kernel's fault waits on the folio's lock); one that finds a writer
     * working on the range lets it go and waits for the writer.
     *
     * <p>The lock's compare-and-set and the read of {@link #writing} after it, against the writer's store of
     * {@link #writing} and its reads of the range words after it ({@link #awaitAllocations}), are all volatile
     * accesses: one side sees the other (Dekker), so no allocation runs in a range a writer works on.
     */
    private void lockRange(long index) {
        long range = index >>> Levels.shift(maxLevel), bit = 1L << range;
        int w = wordAt(range);
        for (int spins = 0;; spins++) {
            long v = (long) BITS.getVolatile(rangeBusy, w);
            if ((v & bit) == 0 && BITS.compareAndSet(rangeBusy, w, v, v | bit)) {
                Span s = writing;
                if (s == null || !s.covers(range) || writers.isHeldByCurrentThread())
                    return;
                unlockRange(index);
                for (int k = 0; writing == s; k++)
                    Backoff.pause(k, 64, this, 20_000);
                spins = -1;
                continue;
            }
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

    /**
     * Holds the file for a writer working on pages {@code [start, end)}: no allocation runs in the ranges of the
     * largest folio that they touch once this returns, and none begins there until {@link #unlockFile}. Returns what
     * to give {@link #unlockFile} (a writer's span, when a writer of this thread is already in).
     */
    private Span lockFile(long start, long end) {
        writers.lock();
        Span outer = writing;
        int shift = Levels.shift(maxLevel);
        long from = start >>> shift, to = ((end - 1) >>> shift) + 1;
        if (outer != null) {
            from = Math.min(from, outer.from());
            to = Math.max(to, outer.to());
        }
        writing = new Span(from, to);
        awaitAllocations(from, to);
        return outer;
    }

    /** Waits until no allocation holds a range of {@code [from, to)}. */
    private void awaitAllocations(long from, long to) {
        for (long r = from; r < to;) {
            int w = wordAt(r);
            long next = Math.min(to, (r | 63) + 1);
            long mask = (next - r == 64 ? -1L : (1L << (next - r)) - 1) << r;
            for (int spins = 0; ((long) BITS.getVolatile(rangeBusy, w) & mask) != 0; spins++)
                Backoff.pause(spins, 64, this, 20_000);
            r = next;
        }
    }

    private void unlockFile(Span outer) {
        writing = outer;
        writers.unlock();
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
        Span outer = lockFile(0, pages);
        try {
            boundBaseGfn = baseGfn;
        } finally {
            unlockFile(outer);
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

    /** Under the range's lock only ({@code kvm_gmem_get_pfn} holds the folio's lock, not the file's). */
    private long allocate(long index, int vcpu) {
        lockRange(index);
        try {
            return allocateLocked(index, vcpu);
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
        Span outer = lockFile(start, end);
        try {
            remove(start, end);
        } finally {
            unlockFile(outer);
        }
    }

    /** Frees every folio; later {@link #getPfn} calls fail with EFAULT. */
    public void close() {
        Span outer = lockFile(0, pages);
        try {
            if (closed)
                return;
            remove(0, pages);
            closed = true;
            boundBaseGfn = -1;
        } finally {
            unlockFile(outer);
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
