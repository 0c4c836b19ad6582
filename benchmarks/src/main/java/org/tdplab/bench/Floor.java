package org.tdplab.bench;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The physical floor (perf-anchors §1c): a packed 4-level radix of {@code long[512]} tables in chunked {@code long}
 * arrays, a non-leaf entry holding its child's table id, every update a CAS. What a TDP MMU cannot beat on this
 * JVM: it has no memslots, no backing memory, no oracles, no TLBs, no locks, no bookkeeping.
 *
 * <p>Thread-safe like the kernel's read-side fault path: table ids come from an atomic counter, a new table is linked
 * by CAS (the loser's table is simply wasted), and leaves are installed by CAS.
 */
public final class Floor {
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int LEVELS = 4;
    private static final int TABLES_PER_CHUNK = 512;
    private static final int CHUNK_SHIFT = 9 + 9; // sptep bits that select a chunk
    private static final long PRESENT = 7, ACCESSED = 1L << 8, DIRTY = 1L << 9, WRITABLE = 2;

    private final long[][] chunks;
    private final AtomicInteger next = new AtomicInteger(1);
    private final int root;

    /** A radix able to map {@code pages} 4K pages (its tables allocated as they are needed). */
    public Floor(long pages) {
        long tables = 8 + pages / 512 + pages / (512 * 512) * 2 + 64;
        chunks = new long[(int) ((tables + TABLES_PER_CHUNK - 1) / TABLES_PER_CHUNK) + 1][];
        root = alloc();
    }

    private int alloc() {
        int id = next.getAndIncrement();
        int c = id / TABLES_PER_CHUNK;
        if (chunks[c] == null) {
            synchronized (chunks) {
                if (chunks[c] == null)
                    chunks[c] = new long[TABLES_PER_CHUNK * 512];
            }
        }
        return id;
    }

    private long[] chunk(long sptep) {
        return chunks[(int) (sptep >>> CHUNK_SHIFT)];
    }

    private static int slot(long sptep) {
        return (int) (sptep & ((1 << CHUNK_SHIFT) - 1));
    }

    private static long sptep(int table, long gfn, int level) {
        return (long) table << 9 | (gfn >>> (9 * (level - 1)) & 511);
    }

    /** Walk + allocate + CAS: maps {@code gfn} to {@code pfn}, linking missing tables on the way. */
    public void map(long gfn, long pfn) {
        int table = root;
        for (int level = LEVELS; level > 1; level--) {
            long p = sptep(table, gfn, level);
            long[] c = chunk(p);
            long e = (long) LONGS.getVolatile(c, slot(p));
            if (e == 0) {
                int child = alloc();
                long want = (long) child << 12 | PRESENT;
                long seen = (long) LONGS.compareAndExchange(c, slot(p), 0L, want);
                e = seen == 0 ? want : seen;
            }
            table = (int) (e >>> 12);
        }
        long p = sptep(table, gfn, 1);
        LONGS.compareAndSet(chunk(p), slot(p), 0L, pfn << 12 | PRESENT);
    }

    /** Walk + CAS of an existing leaf (the hardware setting A/D). Returns the leaf's pfn. */
    public long touch(long gfn) {
        int table = root;
        for (int level = LEVELS; level > 1; level--) {
            long p = sptep(table, gfn, level);
            table = (int) ((long) LONGS.getVolatile(chunk(p), slot(p)) >>> 12);
        }
        long p = sptep(table, gfn, 1);
        long[] c = chunk(p);
        long e = (long) LONGS.getVolatile(c, slot(p));
        LONGS.compareAndSet(c, slot(p), e, e ^ ACCESSED);
        return e >>> 12;
    }

    /**
     * A range operation's floor: every leaf of {@code [gfn, gfn + pages)} visited in table order (tdp_iter style)
     * and changed by CAS ({@code mask} cleared; 0 zaps). Returns the leaves changed.
     */
    public long scan(long gfn, long pages, long clear) {
        long changed = 0;
        for (long g = gfn; g < gfn + pages; g += 512) {
            int table = root;
            for (int level = LEVELS; level > 1; level--) {
                long p = sptep(table, g, level);
                table = (int) ((long) LONGS.getVolatile(chunk(p), slot(p)) >>> 12);
            }
            if (table == 0)
                continue;
            long base = (long) table << 9;
            long[] c = chunk(base);
            int s = slot(base);
            int n = (int) Math.min(512, gfn + pages - g);
            for (int i = 0; i < n; i++) {
                long e = (long) LONGS.getVolatile(c, s + i);
                if ((e & PRESENT) != 0 && LONGS.compareAndSet(c, s + i, e, clear == 0 ? 0 : e & ~clear))
                    changed++;
            }
        }
        return changed;
    }

    /** Bits a range op clears: write-protect, clear-dirty, age. */
    public static final long WP = WRITABLE, CLEAR_DIRTY = DIRTY, AGE = ACCESSED, ZAP = 0;

    /** Tables allocated so far (root included). */
    public int tables() {
        return next.get() - 1;
    }
}
