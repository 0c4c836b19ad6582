package org.tdplab.mmu.tdp.mem;

/**
 * Page index → host PFN, with the level of the aligned block (folio / host huge page) that backs the page, sparse.
 * Pages of a block mapped whole cost one entry per 2M of indexes: a 2M block, each 2M of a 1G block, or a
 * <em>linear</em> run of 512 4K pages backed by one 2M block of host frames (4K host mappings of frames the host
 * allocated together). Pages mapped one by one have an entry each. Entries are {@code pfn << 2 | level}; 0 = absent.
 * Readers are lock-free and allocation-free; writers (map, unmap, demote) must be serialized by the owner.
 *
 * <p>A map made {@link #chunked} keeps the entries of pages mapped one by one in chunks of about 4 GiB of pages that
 * the garbage collector never copies ({@link ChunkedIntArray}), for a map that such pages fill densely and that lives
 * as long as they do (guest_memfd's, whose 4K folios are each mapped on their own). Such an entry is always at 4K, so
 * it is kept in 32 bits ({@link #wordOf}): 4 bytes per page, where the kernel's page cache keeps a pointer per page.
 */
public final class PfnMap {
    /**
     * The entry of a page of a {@link #chunked} map whose 4K block is being made: locked by its maker
     * ({@link #tryLockPage}), absent to every reader, replaced by the block's entry when it is mapped.
     */
    static final long LOCKED = 1L << 2;
    private static final int BLOCK_SHIFT = 9;
    private static final long BLOCK = 1L << BLOCK_SHIFT;

    private final long size;
    /**
     * Per 2M of indexes: a block entry (its first page's pfn and the level), 0 when none; null in a map of 4K pages.
     */
    private final SparseLongArray blocks;
    /** Per page mapped on its own: in {@link #pages}, or in {@link #chunks} for a {@link #chunked} map. */
    private final SparseLongArray pages;
    private final ChunkedIntArray chunks;
    /**
     * The entries of a {@link #chunked} map whose PFN does not fit its word ({@link #WIDE}): the last frames of a host
     * of 16 TiB, and any beyond. Null for another map.
     */
    private final SparseLongArray wide;
    /** Whether {@link #wide} was ever written: until then a store need not clear its entry there. */
    private volatile boolean anyWide;
    /** A {@link #chunked} map's word: absent, {@link #LOCKED}, see {@link #wide}; else a 4K PFN + {@link #BIAS}. */
    private static final int ABSENT_WORD = 0, LOCKED_WORD = 1, WIDE = 2, BIAS = 3;
    private static final long NARROW_PFNS = (1L << 32) - BIAS;

    public PfnMap(long pages) {
        this(pages, false);
    }

    private PfnMap(long pages, boolean chunked) {
        this(pages, chunked, true);
    }

    private PfnMap(long pages, boolean chunked, boolean withBlocks) {
        this.size = pages;
        this.blocks = withBlocks ? new SparseLongArray((pages + BLOCK - 1) >>> BLOCK_SHIFT) : null;
        this.pages = chunked ? null : new SparseLongArray(pages);
        this.chunks = chunked ? new ChunkedIntArray(pages) : null;
        this.wide = chunked ? new SparseLongArray(pages) : null;
    }

    /** A map of {@code pages} whose pages mapped one by one are kept in chunks ({@link ChunkedIntArray}). */
    public static PfnMap chunked(long pages) {
        return new PfnMap(pages, true);
    }

    /**
     * A {@link #chunked} map whose blocks are all 4K (a guest_memfd of 4K folios): no block entries, so a look-up
     * reads the page's entry alone; a block of a larger level cannot be mapped.
     */
    public static PfnMap chunkedPages(long pages) {
        return new PfnMap(pages, true, false);
    }

    private long page(long index) {
        return chunks != null ? entryOfWord(index, chunks.get(index)) : pages.get(index);
    }

    /** The entry word {@code w} of page {@code index} of a {@link #chunked} map stands for. */
    private long entryOfWord(long index, int w) {
        long u = w & 0xffff_ffffL;
        if (u >= BIAS)
            return (u - BIAS) << 2 | Levels.L4K;
        return u == ABSENT_WORD ? 0 : u == LOCKED_WORD ? LOCKED : wide.get(index);
    }

    /**
     * The word that keeps entry {@code e} of page {@code index} of a {@link #chunked} map: a 4K one (the only level a
     * page mapped on its own has) in 32 bits, or in {@link #wide} when its PFN does not fit, stored there first, so
     * that a reader that sees the word sees the entry.
     */
    private int wordOf(long index, long e) {
        if (e == 0 || e == LOCKED)
            return e == 0 ? ABSENT_WORD : LOCKED_WORD;
        if ((e & 3) != Levels.L4K)
            throw new IllegalArgumentException("a page mapped on its own is at 4K: entry 0x" + Long.toHexString(e));
        long pfn = e >>> 2;
        if (pfn < NARROW_PFNS)
            return (int) (pfn + BIAS);
        anyWide = true;
        wide.set(index, e);
        return WIDE;
    }

    private void setPage(long index, long e) {
        if (chunks == null) {
            pages.set(index, e);
            return;
        }
        int w = wordOf(index, e);
        chunks.set(index, w);
        if (w != WIDE && anyWide && wide.get(index) != 0)
            wide.set(index, 0); // after the word: a reader that saw WIDE reads the entry, or absent
    }

    /** Chunks a {@link #chunked} map has made (for memory-use tests); 0 for another. */
    int chunks() {
        return chunks == null ? 0 : chunks.chunks();
    }

    /** Bytes of the chunks a {@link #chunked} map has made (for memory-use tests); 0 for another. */
    long chunkBytes() {
        return chunks == null ? 0 : chunks.bytes();
    }

    public long size() {
        return size;
    }

    /**
     * Page {@code index}'s entry: its PFN and the level of the block backing it, {@code pfn << 2 | level}, read with
     * one look-up ({@link #pfnOf}, {@link #levelOf}); 0, or {@link #LOCKED}, when absent (level 0).
     */
    public long entry(long index) {
        if (blocks != null) {
            long e = blocks.get(index >>> BLOCK_SHIFT);
            if (e != 0)
                return ((e >>> 2) + (index & (BLOCK - 1))) << 2 | (e & 3);
        }
        return page(index);
    }

    /** The PFN of page {@code index}, or -1 when absent. */
    public long pfn(long index) {
        return pfnOf(entry(index));
    }

    /** The PFN an entry maps, or -1 (absent, or {@link #LOCKED}: no level). */
    public static long pfnOf(long e) {
        return (e & 3) == 0 ? -1 : e >>> 2;
    }

    /**
     * Locks page {@code index} of a {@link #chunked} map, absent, for the making of its 4K block: its entry goes
     * from 0 to {@link #LOCKED} (a volatile compare-and-set). Returns 0 when this call locked it, else the entry
     * found there ({@link #LOCKED}: another maker holds it). {@link #mapBlock} of the page at 4K unlocks it, and so
     * does {@link #unlockPage}, which leaves it absent.
     */
    long tryLockPage(long index) {
        int w = chunks.compareAndExchange(index, ABSENT_WORD, LOCKED_WORD);
        return w == ABSENT_WORD ? 0 : entryOfWord(index, w);
    }

    void unlockPage(long index) {
        chunks.set(index, ABSENT_WORD);
    }

    /** Whether page {@code index} of a {@link #chunked} map is locked, by a volatile read. */
    boolean lockedNow(long index) {
        return chunks.getVolatile(index) == LOCKED_WORD;
    }

    /**
     * The first page in {@code [from, to)} of a {@link #chunked} map that is locked (volatile reads), or {@code to}.
     */
    long nextLocked(long from, long to) {
        return chunks.next(from, to, LOCKED_WORD);
    }

    /** The level of the block backing {@code index}, or 0 when absent. */
    public int level(long index) {
        return levelOf(entry(index));
    }

    /** The entry of a page at {@code pfn} in a block of {@code level}. */
    static long entryOf(long pfn, int level) {
        return pfn << 2 | level;
    }

    /** The level an entry maps at: 0 when absent (0 or {@link #LOCKED}). */
    public static int levelOf(long e) {
        return (int) (e & 3);
    }

    /** Maps the block of {@code level} whose first page is {@code head} to host frames from {@code basePfn}. */
    public void mapBlock(long head, long basePfn, int level) {
        if (level == Levels.L4K) {
            setPage(head, basePfn << 2 | level);
            return;
        }
        noBlocksHere();
        for (long i = 0; i < Levels.pages(level); i += BLOCK)
            blocks.set((head + i) >>> BLOCK_SHIFT, (basePfn + i) << 2 | level);
    }

    private void noBlocksHere() {
        if (blocks == null)
            throw new IllegalStateException("a map of 4K pages has no larger blocks");
    }

    /** Maps the 512 pages from {@code head} (2M-aligned) at 4K to the frames of the 2M block at {@code basePfn}. */
    public void mapLinear(long head, long basePfn) {
        noBlocksHere();
        blocks.set(head >>> BLOCK_SHIFT, basePfn << 2 | Levels.L4K);
    }

    /** The first frame of the linear run that holds {@code index}, or -1 when the page is not part of one. */
    public long linearBase(long index) {
        if (blocks == null)
            return -1;
        long e = blocks.get(index >>> BLOCK_SHIFT);
        return e != 0 && (e & 3) == Levels.L4K ? e >>> 2 : -1;
    }

    /**
     * Turns the 2M block or linear run that holds {@code index} into 512 pages mapped on their own at 4K (the host
     * split its block, before a partial unmap).
     */
    public void demote(long index) {
        long b = index >>> BLOCK_SHIFT;
        long e = blocks == null ? 0 : blocks.get(b);
        if (e == 0 || (e & 3) > Levels.L2M)
            throw new IllegalStateException("index 0x" + Long.toHexString(index) + " is not in a 2M block");
        for (long i = 0; i < BLOCK; i++)
            setPage((b << BLOCK_SHIFT) + i, ((e >>> 2) + i) << 2 | Levels.L4K);
        blocks.set(b, 0); // after the pages: a lock-free reader sees one or the other
    }

    /**
     * Unmaps {@code [from, to)} and releases the memory of the entries. A block entry must lie wholly inside (split
     * or {@link #demote} a block first).
     */
    public void unmap(long from, long to) {
        for (long b = from >>> BLOCK_SHIFT; blocks != null && b << BLOCK_SHIFT < to; b++) {
            if (blocks.get(b) == 0)
                continue;
            if (b << BLOCK_SHIFT < from || (b + 1) << BLOCK_SHIFT > to)
                throw new IllegalStateException("unmap [0x" + Long.toHexString(from) + ", 0x" + Long.toHexString(to)
                        + ") cuts through the block at 0x" + Long.toHexString(b << BLOCK_SHIFT));
            blocks.set(b, 0);
        }
        if (chunks != null) {
            chunks.releaseRange(from, to);
            if (anyWide)
                wide.releaseRange(from, to);
        } else
            pages.releaseRange(from, to);
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

    /** First page mapped on its own in {@code [from, to)} of a {@link #chunked} map, or {@code to}. */
    private long nextPresentPage(long from, long to) {
        long p = chunks.nextNonZero(from, to);
        while (p < to && isAbsentOrLocked(chunks.get(p))) // a page found locked may be absent again when read
            p = chunks.nextNonZero(p + 1, to);
        return p;
    }

    private static boolean isAbsentOrLocked(int word) {
        return word == ABSENT_WORD || word == LOCKED_WORD;
    }

    /**
     * First present index in {@code [from, to)}, or {@code to}. A {@link #LOCKED} page is absent: a maker that locked
     * it may be about to let it go, a writer waiting for makers having seen the page unlocked.
     */
    public long nextPresent(long from, long to) {
        if (from >= to)
            return to;
        long p = chunks != null ? nextPresentPage(from, to) : pages.nextNonZero(from, to);
        if (blocks == null)
            return p;
        long b = blocks.nextNonZero(from >>> BLOCK_SHIFT, ((to - 1) >>> BLOCK_SHIFT) + 1);
        if (b <= (to - 1) >>> BLOCK_SHIFT)
            p = Math.min(p, Math.max(from, b << BLOCK_SHIFT));
        return p;
    }
}
