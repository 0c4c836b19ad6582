package org.tdplab.mmu.tdp.mem;

/**
 * Page index → host PFN, with the level of the aligned block (folio / host huge page) that backs the page. One
 * packed {@code long} per present page ({@code pfn << 2 | level}; 0 = absent), sparse. Readers are lock-free and
 * allocation-free; writers (block map/unmap) must be serialized by the owner.
 */
public final class PfnMap {
    private final SparseLongArray entries;

    public PfnMap(long pages) {
        this.entries = new SparseLongArray(pages);
    }

    public long size() {
        return entries.capacity();
    }

    /** The PFN of page {@code index}, or -1 when absent. */
    public long pfn(long index) {
        long e = entries.get(index);
        return e == 0 ? -1 : e >>> 2;
    }

    /** The level of the block backing {@code index}, or 0 when absent. */
    public int level(long index) {
        return (int) (entries.get(index) & 3);
    }

    /** Maps the block of {@code level} whose first page is {@code head} to host frames from {@code basePfn}. */
    public void mapBlock(long head, long basePfn, int level) {
        long n = Levels.pages(level);
        for (long i = 0; i < n; i++)
            entries.set(head + i, (basePfn + i) << 2 | level);
    }

    /** Unmaps {@code [from, to)} and releases the memory of the entries. */
    public void unmap(long from, long to) {
        entries.releaseRange(from, to);
    }

    /**
     * The largest level ≤ {@code maxLevel} whose aligned block around {@code index} lies inside the map and has no
     * page mapped yet: a block never overlaps pages already present (e.g. after a partial discard or a fallback).
     */
    public int fittingLevel(long index, int maxLevel) {
        int level = maxLevel;
        for (; level > Levels.L4K; level--) {
            long head = Levels.alignDown(index, level), end = head + Levels.pages(level);
            if (end <= size() && nextPresent(head, end) == end)
                break;
        }
        return level;
    }

    /** First present index in {@code [from, to)}, or {@code to}. */
    public long nextPresent(long from, long to) {
        return entries.nextNonZero(from, to);
    }
}
