package org.tdplab.mmu.tdp.vcpu;

/**
 * A vCPU's TLB: a direct-mapped cache of 4K translations in two primitive arrays. The key is the page's guest
 * frame number as the guest addressed it (shared bit included) plus an encrypted-access bit; the value is the host
 * pfn with permission bits. It keeps translations until a flush reaches the vCPU — so a missing flush shows.
 */
public final class Tlb {
    public static final long W = 1L << 62, X = 1L << 61;
    private static final long PFN_MASK = (1L << 52) - 1;
    private static final long EMPTY = -1;
    private final long[] keys;
    private final long[] values;
    private final int mask;

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

    public void flush() {
        java.util.Arrays.fill(keys, EMPTY);
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
