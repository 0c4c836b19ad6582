package org.tdplab.mmu.tdp.slot;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mem.Levels;
import org.tdplab.mmu.tdp.mem.PfnMap;

/**
 * The userspace (host) memory behind a memslot, indexed by page offset in the slot. Pages are faulted in on first
 * touch in naturally aligned blocks of the backing level (like THP / hugetlb), falling back to smaller blocks at the
 * slot's end, next to pages already present (after a partial discard), or when host memory has no free huge block.
 * The host address of offset 0 is taken to be 1G-aligned, so offset-space alignment is host-address alignment. A
 * moved slot keeps this object: its contents move with it.
 *
 * <p>With 4K backing, the first touch in a 2M-aligned run of offsets with nothing present takes a whole 2M block of
 * host frames and maps its pages at 4K in order (the host's mappings stay 4K, so KVM maps 4K): one lock round and one
 * map entry per 2M instead of per page. A partial discard splits the block and frees what it covers.
 */
final class SharedMemory {
    private final HostMemory memory;
    private final int ownerId;
    private final int backingLevel;
    private final PfnMap map;
    private volatile boolean released;

    SharedMemory(HostMemory memory, int ownerId, long npages, int backingLevel) {
        this.memory = memory;
        this.ownerId = ownerId;
        this.backingLevel = backingLevel;
        this.map = new PfnMap(npages);
    }

    long pfn(long off) {
        return PfnMap.pfnOf(entry(off));
    }

    /** The map's entry of {@code off} ({@link PfnMap#entry}: the PFN and the level), the page faulted in first. */
    long entry(long off) {
        long e = map.entry(off);
        return PfnMap.levelOf(e) != 0 ? e : allocate(off);
    }

    long pfnIfPresent(long off) {
        return map.pfn(off);
    }

    int level(long off) {
        return map.level(off);
    }

    /** Faults the page of {@code off} in; returns its entry. */
    private synchronized long allocate(long off) {
        if (released)
            throw new MmuException(Errno.EFAULT, "offset 0x%x: the slot's host memory is gone", off);
        long present = map.entry(off);
        if (PfnMap.levelOf(present) != 0)
            return present;
        int level = map.fittingLevel(off, backingLevel);
        if (level == Levels.L4K && allocateLinear(off) >= 0)
            return map.entry(off);
        long base;
        while (true) {
            try {
                base = memory.alloc(level, HostMemory.SHARED, ownerId);
                break;
            } catch (MmuException e) {
                if (e.errno() != Errno.ENOMEM || level == Levels.L4K)
                    throw e;
                level--;
            }
        }
        map.mapBlock(Levels.alignDown(off, level), base, level);
        return map.entry(off);
    }

    /** The frame for {@code off} from a fresh 2M block mapped linearly at 4K, or -1 (no room, or no free block). */
    private long allocateLinear(long off) {
        long head = Levels.alignDown(off, Levels.L2M), end = head + Levels.pages(Levels.L2M);
        if (end > map.size() || map.nextPresent(head, end) != end)
            return -1;
        long base;
        try {
            base = memory.alloc(Levels.L2M, HostMemory.SHARED, ownerId);
        } catch (MmuException e) {
            if (e.errno() != Errno.ENOMEM)
                throw e;
            return -1;
        }
        map.mapLinear(head, base);
        return base + (off - head);
    }

    /**
     * Drops the pages in {@code [from, to)} (MADV_DONTNEED / hole punch of the backing): their frames are freed, and
     * a later touch gets zeroed memory. A huge block only partly inside is split first, as the host splits a THP.
     */
    synchronized void discard(long from, long to) {
        for (long off = map.nextPresent(from, to); off < to; off = map.nextPresent(off, to)) {
            long linear = map.linearBase(off);
            if (linear >= 0) {
                long head = Levels.alignDown(off, Levels.L2M), n = Levels.pages(Levels.L2M);
                if (head >= from && head + n <= to) {
                    map.unmap(head, head + n);
                    memory.free(linear, Levels.L2M);
                    off = head + n;
                } else {
                    memory.split(linear, Levels.L2M);
                    map.demote(off);
                }
                continue;
            }
            int level = map.level(off);
            long n = Levels.pages(level);
            long head = Levels.alignDown(off, level);
            long headPfn = map.pfn(off) - (off - head);
            if (head >= from && head + n <= to) {
                map.unmap(head, head + n);
                memory.free(headPfn, level);
                off = head + n;
            } else if (level == Levels.L2M) {
                memory.split(headPfn, level);
                map.demote(head);
            } else {
                memory.split(headPfn, level);
                long sub = Levels.pages(level - 1);
                for (long h = 0; h < n; h += sub)
                    map.mapBlock(head + h, headPfn + h, level - 1);
            }
        }
    }

    /** Frees everything; later first touches fail with EFAULT. */
    synchronized void release() {
        discard(0, map.size());
        released = true;
    }
}
