package org.tdplab.mmu.tdp.vm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The data oracle's store: GFN → the token last written there (0: never written, or discarded), lock-free and
 * allocation-free on get and put once a leaf exists. A radix of 512-entry leaves under 512-entry middles, grouped in
 * regions of 2^27 GFNs found by a short scan (a guest has a few), so memory follows what was written whatever the
 * GPA width.
 *
 * <p>A leaf keeps a bit per GFN that says "the GFN's own address was written" (what a guest write without an explicit
 * value stores), and a {@code long} array only once some GFN of the leaf got another value: a guest written with its
 * default tokens costs two bits per page instead of eight bytes, and the oracle still checks every page exactly.
 */
final class TokenMap {
    private static final VarHandle REFS = MethodHandles.arrayElementVarHandle(Object[].class);
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle VALUES = varHandle("values", long[].class);
    private static final VarHandle BEGUN = varHandle("begun", long.class), ENDED = varHandle("ended", long.class);
    private static final int BITS = 9, FAN = 1 << BITS, MASK = FAN - 1;
    private static final int REGION_SHIFT = 3 * BITS;

    private static VarHandle varHandle(String field, Class<?> type) {
        try {
            return MethodHandles.lookup().findVarHandle(Leaf.class, field, type);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The token a write without an explicit value stores: the page's own GPA. */
    static long defaultToken(long gfn) {
        return gfn << 12;
    }

    /** 512 GFNs' tokens, and the count of guest writes to them begun and ended ({@link #beginWrite}). */
    static final class Leaf {
        /** Bit i: GFN i of the leaf holds its default token (unless {@link #values} has a non-zero entry). */
        final long[] isDefault = new long[FAN / 64];
        /** Tokens other than the default; null until the first one. */
        volatile long[] values;
        /** Guest writes to the leaf's GFNs begun and ended: equal, none in flight. */
        volatile long begun, ended;
    }

    // ---- the write sequence: a read racing a write of the same leaf is not judged ------------------------------

    /**
     * The leaf of {@code gfn}, created if need be, with a write begun: a guest write stores the page's frame and then
     * the token here, and a reader that read the frame in between would find them apart. Two atomic adds per write;
     * two vCPUs meet on them only when they write within the same 512 GFNs.
     */
    Leaf beginWrite(long gfn) {
        Leaf leaf = leaf(gfn, true);
        BEGUN.getAndAdd(leaf, 1L);
        return leaf;
    }

    static void endWrite(Leaf leaf) {
        ENDED.getAndAdd(leaf, 1L);
    }

    /** The leaf of {@code gfn} if one exists (a reader's, before it reads the frame); null if none. */
    Leaf leafOf(long gfn) {
        return leaf(gfn, false);
    }

    /**
     * The writes begun on a leaf from {@link #leafOf} if none is in flight, else -1 (a leaf not there yet has had
     * none). Ended is read first: begun can only be ahead of it, so equal counts mean none was in flight when begun
     * was read.
     */
    static long writesIfQuiet(Leaf leaf) {
        if (leaf == null)
            return 0;
        long ended = leaf.ended;
        long begun = leaf.begun;
        return begun == ended ? begun : -1;
    }

    /**
     * Whether a write to {@code gfn}'s leaf was in flight at {@code before} (a {@link #writesIfQuiet} read before
     * the frame was) or began since: a read of the frame in that window may have returned either token, and the
     * oracle cannot judge it.
     */
    boolean writeRaced(long gfn, long before) {
        Leaf leaf = leafOf(gfn);
        return before < 0 || (leaf == null ? 0 : leaf.begun) != before;
    }

    private static final class Region {
        final long index;
        /** 512 middles of 512 leaves each. */
        final Object[] mids = new Object[FAN];

        Region(long index) {
            this.index = index;
        }
    }

    private volatile Region[] regions = new Region[0];

    long get(long gfn) {
        return get(leaf(gfn, false), gfn);
    }

    /** The token of {@code gfn} in its {@code leaf} (null: none there). */
    static long get(Leaf leaf, long gfn) {
        if (leaf == null)
            return 0;
        int i = (int) gfn & MASK;
        long[] v = leaf.values;
        if (v != null) {
            long t = (long) LONGS.getAcquire(v, i);
            if (t != 0)
                return t;
        }
        return (((long) LONGS.getAcquire(leaf.isDefault, i >>> 6) >>> i) & 1) != 0 ? defaultToken(gfn) : 0;
    }

    /** Stores {@code token} for {@code gfn}; 0 forgets it. */
    void put(long gfn, long token) {
        put(leaf(gfn, token != 0), gfn, token);
    }

    /** Stores {@code token} for {@code gfn} in its {@code leaf} (null: nothing to forget). */
    static void put(Leaf leaf, long gfn, long token) {
        if (leaf == null)
            return;
        int i = (int) gfn & MASK;
        long bit = 1L << i;
        // the atomic read-modify-writes of the default bits only when the bit changes (a page's first write leaves
        // a clear bit clear; a rewrite with the default token finds it set)
        if (token != 0 && token == defaultToken(gfn)) {
            if ((((long) LONGS.getAcquire(leaf.isDefault, i >>> 6)) & bit) == 0)
                LONGS.getAndBitwiseOr(leaf.isDefault, i >>> 6, bit);
            long[] v = leaf.values;
            if (v != null)
                LONGS.setRelease(v, i, 0L);
            return;
        }
        long[] v = leaf.values;
        if (v == null && token != 0)
            v = values(leaf);
        if (v != null)
            LONGS.setRelease(v, i, token);
        if ((((long) LONGS.getAcquire(leaf.isDefault, i >>> 6)) & bit) != 0)
            LONGS.getAndBitwiseAnd(leaf.isDefault, i >>> 6, ~bit);
    }

    private static long[] values(Leaf leaf) {
        long[] fresh = new long[FAN];
        long[] seen = (long[]) VALUES.compareAndExchange(leaf, (long[]) null, fresh);
        return seen == null ? fresh : seen;
    }

    /** Forgets every token in {@code [from, to)}; leaves wholly inside go. Not concurrent with puts in the range. */
    void clear(long from, long to) {
        for (long g = from; g < to;) {
            long leafEnd = Math.min((g | MASK) + 1, to);
            Region r = region(g >>> REGION_SHIFT);
            if (r == null) {
                g = Math.min(((g >>> REGION_SHIFT) + 1) << REGION_SHIFT, to);
                continue;
            }
            Object[] mid = (Object[]) REFS.getAcquire(r.mids, (int) (g >>> (2 * BITS)) & MASK);
            if (mid == null) {
                g = Math.min(((g >>> (2 * BITS)) + 1) << (2 * BITS), to);
                continue;
            }
            int mi = (int) (g >>> BITS) & MASK;
            if ((g & MASK) == 0 && leafEnd - g == FAN)
                REFS.setRelease(mid, mi, null);
            else
                for (long x = g; x < leafEnd; x++)
                    put(x, 0);
            g = leafEnd;
        }
    }

    /** Calls {@code visitor} for every GFN of {@code [from, to)} that holds a token, in order. */
    void forEach(long from, long to, EntryVisitor visitor) {
        for (long g = from; g < to;) {
            Region r = region(g >>> REGION_SHIFT);
            if (r == null) {
                g = ((g >>> REGION_SHIFT) + 1) << REGION_SHIFT;
                continue;
            }
            Object[] mid = (Object[]) REFS.getAcquire(r.mids, (int) (g >>> (2 * BITS)) & MASK);
            if (mid == null) {
                g = ((g >>> (2 * BITS)) + 1) << (2 * BITS);
                continue;
            }
            long leafEnd = Math.min((g | MASK) + 1, to);
            if (REFS.getAcquire(mid, (int) (g >>> BITS) & MASK) == null) {
                g = leafEnd;
                continue;
            }
            for (; g < leafEnd; g++) {
                long t = get(g);
                if (t != 0)
                    visitor.visit(g, t);
            }
        }
    }

    interface EntryVisitor {
        void visit(long gfn, long token);
    }

    // ---- the radix -----------------------------------------------------------------------------------------------

    private Leaf leaf(long gfn, boolean create) {
        long ri = gfn >>> REGION_SHIFT;
        Region r = region(ri);
        if (r == null) {
            if (!create)
                return null;
            r = addRegion(ri);
        }
        int m = (int) (gfn >>> (2 * BITS)) & MASK;
        Object[] mid = (Object[]) REFS.getAcquire(r.mids, m);
        if (mid == null) {
            if (!create)
                return null;
            Object[] fresh = new Object[FAN];
            mid = (Object[]) REFS.compareAndExchange(r.mids, m, (Object) null, fresh);
            if (mid == null)
                mid = fresh;
        }
        int l = (int) (gfn >>> BITS) & MASK;
        Leaf leaf = (Leaf) REFS.getAcquire(mid, l);
        if (leaf == null && create) {
            Leaf fresh = new Leaf();
            leaf = (Leaf) REFS.compareAndExchange(mid, l, (Object) null, fresh);
            if (leaf == null)
                leaf = fresh;
        }
        return leaf;
    }

    private Region region(long index) {
        Region[] rs = regions;
        for (Region r : rs)
            if (r.index == index)
                return r;
        return null;
    }

    private synchronized Region addRegion(long index) {
        Region r = region(index);
        if (r != null)
            return r;
        Region[] rs = java.util.Arrays.copyOf(regions, regions.length + 1);
        r = new Region(index);
        rs[rs.length - 1] = r;
        regions = rs;
        return r;
    }
}
