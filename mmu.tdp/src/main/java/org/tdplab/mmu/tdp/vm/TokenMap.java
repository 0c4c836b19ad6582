package org.tdplab.mmu.tdp.vm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.tdplab.mmu.tdp.sync.Backoff;

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
    private static final VarHandle BEGUN = varHandle("begun", long.class), WRITER = varHandle("writer", Thread.class);
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

    /**
     * 512 GFNs' tokens, the thread writing them now and the count of guest writes to them begun
     * ({@link #beginWrite}). The writer owns the leaf: only it changes the tokens and the count, so they change by
     * plain read-modify-writes, and one compare-and-set takes the leaf where atomic adds of a begun and an ended count
     * and of the default bits cost three locked instructions per guest write.
     */
    static final class Leaf {
        /** Bit i: GFN i of the leaf holds its default token (unless {@link #values} has a non-zero entry). */
        final long[] isDefault = new long[FAN / 64];
        /** Tokens other than the default; null until the first one. */
        volatile long[] values;
        /** The thread that owns the leaf (a guest write in flight, or a token being stored); null: none. */
        volatile Thread writer;
        /**
         * Guest writes to the leaf's GFNs begun; written by the owner only. Negative for good once a guest write
         * failed between its frame and its token ({@link #abortWrite}): the leaf's reads are not judged again.
         */
        volatile long begun;
    }

    // ---- the write sequence: a read racing a write of the same leaf is not judged ------------------------------

    /**
     * The leaf of {@code gfn}, created if need be, owned by the caller with a write begun: a guest write stores the
     * page's frame and then the token here, and a reader that read the frame in between would find them apart. The
     * caller stores the frame, then {@link #put(Leaf, long, long)} the token and {@link #endWrite}. Two vCPUs meet
     * on the leaf only when they write within the same 512 GFNs; one then waits for the other's frame and token, so
     * two writes of one page leave the frame and the token of the same one.
     */
    Leaf beginWrite(long gfn) {
        Leaf leaf = leaf(gfn, true);
        own(leaf);
        BEGUN.setOpaque(leaf, leaf.begun + 1); // a negative count stays negative
        VarHandle.releaseFence(); // the count before the frame: a reader that sees the frame sees the write begun
        return leaf;
    }

    /** The guest write of the owned {@code leaf} is over: its token stored, the leaf let go. */
    static void endWrite(Leaf leaf) {
        WRITER.setRelease(leaf, (Thread) null);
    }

    /**
     * The guest write of the owned {@code leaf} failed after {@link #beginWrite} (its frame stored or not, its
     * token not): the leaf's reads are never judged again, and it is let go.
     */
    static void abortWrite(Leaf leaf) {
        BEGUN.setOpaque(leaf, Long.MIN_VALUE);
        endWrite(leaf);
    }

    /** Takes {@code leaf} for the calling thread, waiting while another owns it (a store of a few words). */
    private static void own(Leaf leaf) {
        Thread me = Thread.currentThread();
        for (int spins = 0; !WRITER.compareAndSet(leaf, (Thread) null, me); spins++)
            Backoff.pause(spins, 64, leaf, 20_000);
    }

    /** The leaf of {@code gfn} if one exists (a reader's, before it reads the frame); null if none. */
    Leaf leafOf(long gfn) {
        return leaf(gfn, false);
    }

    /**
     * The writes begun on a leaf from {@link #leafOf} if none is in flight, else -1 (a leaf not there yet has had
     * none). The count is read before the owner: a write that began after the count was read and is still in flight
     * shows as the owner; one that ended before the owner was read left its frame and token both visible, and the
     * count has moved past the value returned, so a mismatch it caused is not judged ({@link #writeRaced}).
     */
    static long writesIfQuiet(Leaf leaf) {
        if (leaf == null)
            return 0;
        long begun = leaf.begun;
        return leaf.writer == null && begun >= 0 ? begun : -1;
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

    /** Stores {@code token} for {@code gfn}; 0 forgets it. Takes the leaf for the store. */
    void put(long gfn, long token) {
        Leaf leaf = leaf(gfn, token != 0);
        if (leaf == null)
            return;
        own(leaf);
        try {
            put(leaf, gfn, token);
        } finally {
            endWrite(leaf);
        }
    }

    /**
     * Stores {@code token} for {@code gfn} in its {@code leaf}, which the caller owns ({@link #beginWrite}). The
     * default bits change by plain read-modify-writes (only the owner writes them) with release stores, which
     * readers load with acquire.
     */
    static void put(Leaf leaf, long gfn, long token) {
        int i = (int) gfn & MASK;
        long bit = 1L << i;
        long bits = (long) LONGS.getOpaque(leaf.isDefault, i >>> 6);
        if (token != 0 && token == defaultToken(gfn)) {
            if ((bits & bit) == 0)
                LONGS.setRelease(leaf.isDefault, i >>> 6, bits | bit);
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
        if ((bits & bit) != 0)
            LONGS.setRelease(leaf.isDefault, i >>> 6, bits & ~bit);
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
