package org.tdplab.mmu.tdp.vcpu;

/**
 * A vCPU's TLB: a direct-mapped cache of 4K translations in two primitive arrays. The key is the page's guest
 * frame number as the guest addressed it (shared bit included) plus an encrypted-access bit; the value is the host
 * pfn with permission bits. It keeps translations until a flush reaches the vCPU — so a missing flush shows.
 *
 * <p>Beside it, the CPU's paging-structure cache of the last level's tables (the PDE cache): for a root and a 2M
 * region, the 4K table a walk reached through present non-leaf entries, so that the next walk of the region reads
 * one entry. It is tagged by the root as the hardware's is by the table pointer it was filled under, and is flushed
 * with the TLB and nowhere else: a table unlinked without a flush stays reachable from it, as on the hardware.
 */
public final class Tlb {
    public static final long W = 1L << 62, X = 1L << 61;
    private static final long PFN_MASK = (1L << 52) - 1;
    private static final long EMPTY = -1;
    private final long[] keys;
    private final long[] values;
    private final int mask;

    /** Entries of the paging-structure cache (direct-mapped, a power of two). */
    public static final int TABLE_ENTRIES = 32;
    /** Paging-structure cache: key ({@link #tableKey}) at {@code PAD + 2i}, table id at {@code PAD + 2i + 1}. */
    private final long[] tables = new long[PAD + 2 * TABLE_ENTRIES + PAD];

    public Tlb(int entries) {
        if (Integer.bitCount(entries) != 1)
            throw new IllegalArgumentException("TLB size must be a power of two: " + entries);
        keys = new long[PAD + entries + PAD];
        values = new long[PAD + entries + PAD];
        mask = entries - 1;
        flush();
    }

    /** Key bits: the guest's encrypted-access bit, and a translation the mirror (backend-owned) side gave. */
    public static final long ENCRYPTED = 1L << 60, VIA_MIRROR = 1L << 61;
    /** The GFN part of a key. */
    public static final long GFN_MASK = ENCRYPTED - 1;

    public static long key(long gfn, boolean encrypted, boolean viaMirror) {
        return gfn | (encrypted ? ENCRYPTED : 0) | (viaMirror ? VIA_MIRROR : 0);
    }

    /** 128 bytes either side of the entries: the arrays of another vCPU's TLB may lie next to these. */
    private static final int PAD = 16;

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return PAD + ((int) (h >>> 40) & mask);
    }

    /** The cached value for {@code key}, or -1. */
    public long lookup(long key) {
        int i = slot(key);
        return keys[i] == key ? values[i] : EMPTY;
    }

    public void insert(long key, long pfn, boolean writable, boolean exec) {
        int i = slot(key);
        keys[i] = key;
        values[i] = pfn | (writable ? W : 0) | (exec ? X : 0);
    }

    /** Drops every translation and every cached table (INVEPT). */
    public void flush() {
        java.util.Arrays.fill(keys, EMPTY);
        java.util.Arrays.fill(tables, EMPTY);
    }

    // ---- paging-structure cache -------------------------------------------------------------------------------

    /** The key of the 2M region of {@code indexGfn} (the GFN as the root indexes it) in {@code root}. */
    private static long tableKey(int root, long indexGfn) {
        return (long) root << 40 | indexGfn >>> 9;
    }

    private static int tableSlot(long key) {
        return PAD + 2 * ((int) ((key * 0x9E3779B97F4A7C15L) >>> 59) & (TABLE_ENTRIES - 1));
    }

    /** The 4K table cached for the 2M region of {@code indexGfn} in {@code root}, or 0. */
    public int lookupTable(int root, long indexGfn) {
        long key = tableKey(root, indexGfn);
        int i = tableSlot(key);
        return tables[i] == key ? (int) tables[i + 1] : 0;
    }

    /** Caches {@code table}, reached by a walk of {@code root} for {@code indexGfn} through present entries. */
    public void insertTable(int root, long indexGfn, int table) {
        long key = tableKey(root, indexGfn);
        int i = tableSlot(key);
        tables[i] = key;
        tables[i + 1] = table;
    }

    /** Visits every cached table: its root, the first GFN of its region (as the root indexes it) and its id. */
    public void forEachTable(TableVisitor visitor) {
        for (int i = PAD; i < tables.length - PAD; i += 2)
            if (tables[i] != EMPTY)
                visitor.visit((int) (tables[i] >>> 40), (tables[i] & ((1L << 40) - 1)) << 9, (int) tables[i + 1]);
    }

    @FunctionalInterface
    public interface TableVisitor {
        void visit(int root, long indexGfn, int table);
    }

    public static long pfn(long value) {
        return value & PFN_MASK;
    }

    /** Visits every cached translation (for the stale-TLB check). */
    public void forEach(EntryVisitor visitor) {
        for (int i = PAD; i < keys.length - PAD; i++)
            if (keys[i] != EMPTY)
                visitor.visit(keys[i], values[i]);
    }

    @FunctionalInterface
    public interface EntryVisitor {
        void visit(long key, long value);
    }
}
