package org.tdplab.backend.tdx.module;

import java.util.function.LongConsumer;

/**
 * The Physical Address Metadata Table: for every physical 4K page the module touched, its page type, the size of the
 * page it belongs to, the owner TD and the epoch it was blocked at ({@code bepoch}). Packed one {@code int} per 4K
 * page (a {@code bepoch} apart: {@link #chunks}) in 2M chunks created on first use, so memory follows what the TD
 * owns. A 2M or 1G page is recorded in every 4K entry it covers (size field set), which is how "all 512 4K PAMT
 * entries free" is checked.
 *
 * <p>AUGs holding the module's lock shared read entries and set the entries of their new pages at once: reads take no
 * lock (a chunk is published with a release store, an entry with one), a new chunk is added under this object's lock,
 * and a chunk's count of non-zero entries changes atomically. Leaves that free pages, and every scan, hold the
 * module's lock exclusively, so no read runs while a chunk goes.
 */
public final class Pamt {

    /** Page types (PT). */
    public static final int PT_NDA = 0, PT_RSVD = 1, PT_REG = 2, PT_EPT = 3, PT_TDR = 4, PT_TDCX = 5, PT_TDVPR = 6;
    private static final String[] TYPE_NAMES = { "NDA", "RSVD", "REG", "EPT", "TDR", "TDCX", "TDVPR" };

    /** Page sizes, as the S-EPT level of a leaf of that size. */
    public static final int SIZE_4K = 0, SIZE_2M = 1, SIZE_1G = 2;

    private static final int TYPE_BITS = 4, SIZE_SHIFT = 4, OWNER_SHIFT = 8, BEPOCH_SHIFT = 24;
    /**
     * Model-only bit (not architectural): the page was freed while cache lines written with a private KeyID may
     * remain; the KeyID is kept in the owner field of the NDA entry. TDH.PHYMEM.PAGE.WBINVD with that KeyID (or
     * TDH.PHYMEM.CACHE.WB) clears it. The host may reuse such a page only after that (hardware spec I9).
     */
    private static final long DIRTY = 1L << 6;
    /**
     * Model-only bit (not architectural): the page is one of a Dynamic PAMT pair, its entry NDA (the module's PAMT
     * page bitmap). Read on the AUG path without a lock, like the entry.
     */
    private static final long PAIR = 1L << 7;

    /**
     * The entries, one {@code int} per 4K page: an entry's bits below {@link #BEPOCH_SHIFT} (type, size, the model's
     * bits, owner) as they are, and {@link #HAS_BEPOCH} when its {@code bepoch} is not 0, which {@link #bepochs} then
     * holds. Only BLOCK stamps one (holding the module's lock exclusively), so nearly every entry is its int alone: 4
     * bytes per page instead of 8, the same entries read.
     */
    private final PamtChunks<int[]> chunks = new PamtChunks<>();
    /** Per 2M chunk, the {@code bepoch} of its entries that have one ({@link #HAS_BEPOCH}); made on the first. */
    private final PamtChunks<long[]> bepochs = new PamtChunks<>();
    private static final int HAS_BEPOCH = 1 << BEPOCH_SHIFT, LOW = HAS_BEPOCH - 1;
    /**
     * Dynamic PAMT (TDH.SYS.CONFIG R8 bit 16): the 4K entries of a 2M range exist only once the host gave the module a
     * pair of pages to hold them (TDH.PHYMEM.PAMT.ADD); the 2M entry is then of type PAMT and names the pair. Without
     * it (static PAMT) every range has its 4K entries. The model keeps its entries in {@link #chunks} either way; this
     * says which ranges have a pair: {@code {pfn0, pfn1}} by {@code pfn >> 9}. Read without a lock, like the chunks.
     */
    private final boolean dynamic;
    private final PamtChunks<long[]> pairs = new PamtChunks<>();

    Pamt(boolean dynamic) {
        this.dynamic = dynamic;
    }

    Pamt() {
        this(false);
    }

    public boolean dynamic() {
        return dynamic;
    }

    /** Whether the 4K entries of {@code pfn}'s 2M range exist: a pair was added, or the PAMT is static. */
    public boolean has4kEntries(long pfn) {
        return !dynamic || pairs.get(pfn >>> 9) != null;
    }

    /** The pair of the 2M range of {@code pfn}, or null. */
    long[] pair(long pfn) {
        return pairs.get(pfn >>> 9);
    }

    /** Whether {@code pfn} is one of a pair's pages. */
    boolean isPairPage(long pfn) {
        return (word(pfn) & PAIR) != 0;
    }

    /** TDH.PHYMEM.PAMT.ADD's commit (the module's lock held exclusively). */
    synchronized void addPair(long pfn, long pfn0, long pfn1) {
        for (long p : new long[] { pfn0, pfn1 })
            store(chunkOf(p >>> 9), p, PAIR);
        pairs.put(pfn >>> 9, new long[] { pfn0, pfn1 });
    }

    /** TDH.PHYMEM.PAMT.REMOVE's commit (the module's lock held exclusively): the pair, now the host's again. */
    synchronized long[] removePair(long pfn) {
        long[] pair = pairs.get(pfn >>> 9);
        pairs.remove(pfn >>> 9);
        for (long p : pair) {
            int[] c = chunks.get(p >>> 9);
            store(c, p, 0);
            dropIfEmpty(p >>> 9, c);
        }
        return pair;
    }

    /** Every pair: {@code range, pfn0, pfn1} triplets, ranges ascending. */
    synchronized long[] pairsFlat() {
        long[] keys = pairs.keys();
        long[] out = new long[3 * keys.length];
        for (int i = 0; i < keys.length; i++) {
            long[] p = pairs.get(keys[i]);
            out[3 * i] = keys[i];
            out[3 * i + 1] = p[0];
            out[3 * i + 2] = p[1];
        }
        return out;
    }
    /**
     * A chunk holds the 512 entries of one 2M range and, in its last element, a count of its non-zero entries that
     * is never more than their number, so that freeing a page tells whether the chunk emptied without scanning it (a
     * TD's teardown frees every page) unless the count says it might have. Leaves that hold the module's lock
     * exclusively count what they set and clear, with plain stores (they run alone); AUG and SEPT.ADD, which hold it
     * shared and so set entries of one chunk at once, do not count theirs ({@link #setShared}): an atomic add per
     * fault, for a count only exclusive holders read. A count that falls to zero or below is made exact by a scan
     * ({@link #dropIfEmpty}), so a chunk goes when its last entry does, as before, and is scanned about once per
     * emptying rather than per free.
     */
    private static final int COUNT = 512;

    private static int[] newChunk() {
        return new int[COUNT + 1];
    }

    /**
     * Stores {@code v} as the entry of {@code pfn} in its chunk {@code c}; {@code counted}: holding the module's lock
     * exclusively, so the chunk's count follows (see {@link #COUNT}). A {@code bepoch} is stored before the int that
     * says it is there, with release stores both: a reader that sees the int sees it.
     */
    private void store(int[] c, long pfn, long v, boolean counted) {
        int i = (int) (pfn & 511);
        int old = c[i]; // an entry is written by the one leaf that holds its page
        long bepoch = v >>> BEPOCH_SHIFT;
        if (bepoch != 0)
            bepochChunk(pfn >>> 9)[i] = bepoch; // made and written holding the module's lock exclusively (BLOCK)
        ENTRY.setRelease(c, i, (int) (v & LOW) | (bepoch != 0 ? HAS_BEPOCH : 0));
        if (old == 0 && v != 0) {
            if (counted)
                c[COUNT]++;
        } else if (old != 0 && v == 0) {
            c[COUNT]--; // clearing an entry takes the module's lock exclusively
        }
    }

    private void store(int[] c, long pfn, long v) {
        store(c, pfn, v, true);
    }

    /** The bepochs of chunk {@code key}, made if none (holding the module's lock exclusively, BLOCK's). */
    private synchronized long[] bepochChunk(long key) {
        long[] b = bepochs.get(key);
        return b != null ? b : bepochs.put(key, new long[COUNT]);
    }

    /** The entry a stored int stands for, with its {@code bepoch} if it has one. */
    private long entryOfInt(long pfn, int w) {
        return (w & HAS_BEPOCH) == 0 ? w & LOW : (w & LOW) | bepochs.get(pfn >>> 9)[(int) (pfn & 511)] << BEPOCH_SHIFT;
    }

    private static final java.lang.invoke.VarHandle ENTRY = java.lang.invoke.MethodHandles
            .arrayElementVarHandle(int[].class);

    public static long entry(int type, int size, int owner, long bepoch) {
        return type | ((long) size << SIZE_SHIFT) | ((long) (owner & 0xffff) << OWNER_SHIFT) | (bepoch << BEPOCH_SHIFT);
    }

    public static int type(long entry) {
        return (int) (entry & ((1 << TYPE_BITS) - 1));
    }

    public static int size(long entry) {
        return (int) ((entry >>> SIZE_SHIFT) & 3);
    }

    public static int owner(long entry) {
        return (int) ((entry >>> OWNER_SHIFT) & 0xffff);
    }

    public static long bepoch(long entry) {
        return entry >>> BEPOCH_SHIFT;
    }

    public static String typeName(int type) {
        return type >= 0 && type < TYPE_NAMES.length ? TYPE_NAMES[type] : "PT" + type;
    }

    public static long pages(int size) {
        return 1L << (9 * size);
    }

    public long get(long pfn) {
        return entryOf(word(pfn));
    }

    /**
     * The page's word as stored: its entry, or, with the model's dirty bit, the KeyID a freed page's lines may still
     * be dirty with. {@link #entryOf} and {@link #dirtyKeyIdOf} read both from one load.
     */
    public long word(long pfn) {
        int[] c = chunks.get(pfn >>> 9);
        return c == null ? 0 : entryOfInt(pfn, (int) ENTRY.getAcquire(c, (int) (pfn & 511)));
    }

    /** The entry in a {@link #word}: none (0) for a freed page whose lines are still dirty. */
    public static long entryOf(long word) {
        return (word & (DIRTY | PAIR)) != 0 ? 0 : word;
    }

    /** The KeyID a {@link #word} says the page's lines may still be dirty with, or -1. */
    public static int dirtyKeyIdOf(long word) {
        return (word & DIRTY) != 0 ? owner(word) : -1;
    }

    public int typeOf(long pfn) {
        return type(get(pfn));
    }

    /**
     * Sets the entry of every 4K page of the {@code size} page at {@code pfn} (a new owner: no longer dirty), holding
     * the module's lock exclusively (or alone with this PAMT, as tests do).
     */
    public void set(long pfn, int size, long entry) {
        set(pfn, size, entry, true);
    }

    /**
     * {@link #set} by a leaf that holds the module's lock shared (AUG, SEPT.ADD): other such leaves set entries of the
     * same chunk at once, so the chunk's count is left as it is ({@link #COUNT}).
     */
    void setShared(long pfn, int size, long entry) {
        set(pfn, size, entry, false);
    }

    private void set(long pfn, int size, long entry, boolean counted) {
        long n = pages(size);
        for (long i = 0; i < n; i++) {
            long p = pfn + i;
            int[] c = chunks.get(p >>> 9);
            if (c == null)
                c = chunkOf(p >>> 9);
            store(c, p, entry, counted);
        }
    }

    /** The chunk of {@code key}, added if no one added it yet. */
    private synchronized int[] chunkOf(long key) {
        int[] c = chunks.get(key);
        return c != null ? c : chunks.put(key, newChunk());
    }

    /**
     * Frees the page: type NDA. With {@code dirtyKeyId >= 0} its cache lines are left dirty with that KeyID until
     * a WBINVD with it.
     */
    public synchronized void free(long pfn, int size, int dirtyKeyId) {
        long n = pages(size);
        for (long i = 0; i < n; i++) {
            long p = pfn + i;
            int[] c = chunks.get(p >>> 9);
            if (c == null)
                continue;
            store(c, p, dirtyKeyId >= 0 ? DIRTY | ((long) (dirtyKeyId & 0xffff) << OWNER_SHIFT) : 0);
            dropIfEmpty(p >>> 9, c);
        }
    }

    /** Stamps the blocking epoch on the page's (base) entry. */
    public synchronized void setBepoch(long pfn, long bepoch) {
        long e = get(pfn);
        set(pfn, SIZE_4K, entry(type(e), size(e), owner(e), bepoch));
    }

    /** The KeyID the page's cache lines may still be dirty with, or -1. */
    public int dirtyKeyId(long pfn) {
        return dirtyKeyIdOf(word(pfn));
    }

    /** Writes back and invalidates the page's lines of {@code keyId}. */
    public synchronized void flush(long pfn, int keyId) {
        int[] c = chunks.get(pfn >>> 9);
        if (c != null && dirtyKeyId(pfn) == keyId) {
            store(c, pfn, 0);
            dropIfEmpty(pfn >>> 9, c);
        }
    }

    /** TDH.PHYMEM.CACHE.WB: every cache line written back. */
    public synchronized void flushAll() {
        for (long key : chunks.keys()) {
            int[] c = chunks.get(key);
            for (int i = 0; i < 512; i++)
                if ((c[i] & DIRTY) != 0)
                    store(c, key << 9 | i, 0);
            dropIfEmpty(key, c);
        }
    }

    /** Drops the chunk if no entry of it is left; scans it only when its count says it may be empty. */
    private void dropIfEmpty(long key, int[] c) {
        if (c[COUNT] > 0)
            return;
        int n = 0;
        for (int i = 0; i < COUNT; i++)
            if (c[i] != 0)
                n++;
        c[COUNT] = n;
        if (n == 0) {
            chunks.remove(key);
            bepochs.remove(key);
        }
    }

    /** Visits every 4K page whose entry is not NDA. */
    public synchronized void forEachAssigned(LongConsumer pfnVisitor) {
        for (long key : chunks.keys()) {
            int[] c = chunks.get(key);
            for (int i = 0; i < 512; i++)
                if ((c[i] & DIRTY) == 0 && type(c[i]) != PT_NDA)
                    pfnVisitor.accept((key << 9) | i);
        }
    }

    /** Every chunk that holds an entry, as plain data. */
    synchronized ModuleState.Pamt export() {
        long[] keys = chunks.keys();
        java.util.List<long[]> entries = new java.util.ArrayList<>(keys.length);
        for (long k : keys) {
            int[] c = chunks.get(k);
            long[] e = new long[COUNT + 1];
            for (int i = 0; i < COUNT; i++)
                e[i] = entryOfInt(k << 9 | i, c[i]);
            e[COUNT] = c[COUNT];
            entries.add(e);
        }
        return new ModuleState.Pamt(keys, entries, dynamic, pairsFlat());
    }

    /** This PAMT, empty before, takes the chunks of {@code state}. */
    synchronized void restore(ModuleState.Pamt state) {
        if (state.chunks().length != state.entries().size())
            throw new IllegalArgumentException("PAMT state has " + state.chunks().length + " chunk keys and "
                    + state.entries().size() + " chunks");
        for (int i = 0; i < state.chunks().length; i++) {
            long[] c = state.entries().get(i);
            if (c.length != COUNT + 1)
                throw new IllegalArgumentException("PAMT chunk " + state.chunks()[i] + " has " + c.length
                        + " elements");
            long key = state.chunks()[i];
            int[] mine = newChunk();
            for (int k = 0; k < COUNT; k++)
                store(mine, key << 9 | k, c[k], false);
            mine[COUNT] = Math.toIntExact(c[COUNT]);
            chunks.put(key, mine);
        }
        long[] p = state.pairs();
        if (p.length % 3 != 0 || !dynamic && p.length > 0)
            throw new IllegalArgumentException("PAMT state has " + p.length / 3 + " pairs for a "
                    + (dynamic ? "dynamic" : "static") + " PAMT");
        for (int i = 0; i < p.length; i += 3)
            addPair(p[i] << 9, p[i + 1], p[i + 2]);
    }

    /** Whether nothing is recorded at all (no owned page, no page waiting for its WBINVD). */
    public synchronized boolean isEmpty() {
        return chunks.size == 0 && pairs.size == 0;
    }
}
