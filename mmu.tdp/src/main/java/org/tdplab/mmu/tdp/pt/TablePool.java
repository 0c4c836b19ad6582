package org.tdplab.mmu.tdp.pt;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

import org.tdplab.mmu.tdp.spte.Spte;

/**
 * Every page-table page of one VM, packed into primitive arrays.
 *
 * <p>A table is an {@code int} id ≥ 1 (0 means none) and owns 512 SPTEs in a chunk of {@value #TABLES_PER_CHUNK}
 * tables. An sptep is {@code (tableId << 9) | index}, so its upper bits pick the chunk and its lower 15 bits the
 * slot in that chunk. Chunks are added, never copied, and the spine that lists them is republished through a
 * volatile field, so lockless walkers always read live arrays.
 *
 * <p>The per-table header ({@code struct kvm_mmu_page}) lives in two more chunked arrays, one of longs and one of
 * ints, a fixed number of words per table. Level, GFN and PFN are written once before the table is published;
 * the mutable words (role, parent sptep, root refcount, external handle, NX flag) go through VarHandles.
 *
 * <p>{@link #alloc} and {@link #free} may run concurrently from many threads; they take a small monitor. Entry
 * accessors are lock-free.
 */
public final class TablePool {
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle INTS = MethodHandles.arrayElementVarHandle(int[].class);

    public static final int TABLES_PER_CHUNK = 64;
    private static final int CHUNK_TABLE_SHIFT = 6;
    private static final int INDEX_BITS = Spte.LEVEL_BITS;
    private static final int INDEX_MASK = Spte.ENT_PER_PAGE - 1;
    /** An sptep's bits above this select the chunk. */
    private static final int CHUNK_SPTEP_SHIFT = CHUNK_TABLE_SHIFT + INDEX_BITS;
    private static final int CHUNK_SPTEP_MASK = (1 << CHUNK_SPTEP_SHIFT) - 1;

    /** Bytes one table holds: 512 eight-byte entries, the same as a host page. */
    public static final long TABLE_BYTES = (long) Spte.ENT_PER_PAGE * Long.BYTES;

    // Role bits (kvm_mmu_page_role, the parts the TDP MMU looks at).
    public static final int ROLE_MIRROR = 1;
    public static final int ROLE_INVALID = 1 << 1;
    public static final int ROLE_ROOT = 1 << 2;
    public static final int ROLE_AD_DISABLED = 1 << 3;
    public static final int ROLE_AS_ID_SHIFT = 4;
    public static final int ROLE_AS_ID_MASK = 1 << ROLE_AS_ID_SHIFT;

    // Header words per table.
    private static final int L_GFN = 0;
    private static final int L_PTEP = 1;
    private static final int L_EXTERNAL = 2;
    private static final int L_PFN = 3;
    private static final int L_WORDS = 4;
    private static final int I_LEVEL = 0;
    private static final int I_ROLE = 1;
    private static final int I_ROOT_COUNT = 2;
    private static final int I_FLAGS = 3;
    private static final int I_WORDS = 4;

    private static final int FLAG_LIVE = 1;
    private static final int FLAG_NX_DISALLOWED = 1 << 1;
    /** On the possible-NX-huge-page list ({@code sp->possible_nx_huge_page_link} not empty). */
    private static final int FLAG_NX_LISTED = 1 << 2;

    private final TableFrames frames;
    private final Object allocLock = new Object();
    /** Written under {@link #allocLock}; see {@link #freeGeneration()}. */
    private volatile long freeGeneration;

    /** Chunk spines; replaced (refs copied) only when full, and re-published on every new chunk. */
    private volatile long[][] spt;
    private volatile long[][] headL;
    private volatile int[][] headI;

    /** pfn → table id ({@code pfn_to_page(pfn)->private}), for stepping from a non-leaf SPTE to its child. */
    private final PfnTableIds idByPfn = new PfnTableIds();

    // Guarded by allocLock.
    private int chunks;
    private final TableIds ids = new TableIds();
    private volatile int live;

    public TablePool(TableFrames frames) {
        this.frames = frames;
        this.spt = new long[4][];
        this.headL = new long[4][];
        this.headI = new int[4][];
    }

    // ---- sptep arithmetic ---------------------------------------------------------------------------------

    public static long sptep(int tableId, int index) {
        return ((long) tableId << INDEX_BITS) | index;
    }

    public static int tableOf(long sptep) {
        return (int) (sptep >>> INDEX_BITS);
    }

    public static int indexOf(long sptep) {
        return (int) sptep & INDEX_MASK;
    }

    // ---- entries ------------------------------------------------------------------------------------------

    /**
     * Reads an SPTE. Volatile, not just acquire: an RCU reader's announcement must be ordered before the loads
     * that find tables, or a grace period could miss it.
     */
    public long get(long sptep) {
        return (long) LONGS.getVolatile(spt[(int) (sptep >>> CHUNK_SPTEP_SHIFT)], (int) sptep & CHUNK_SPTEP_MASK);
    }

    /** Plain-lock write (the kernel's WRITE_ONCE under mmu_lock held for write); release ordering. */
    public void set(long sptep, long value) {
        LONGS.setRelease(spt[(int) (sptep >>> CHUNK_SPTEP_SHIFT)], (int) sptep & CHUNK_SPTEP_MASK, value);
    }

    public boolean cas(long sptep, long expected, long value) {
        return LONGS.compareAndSet(spt[(int) (sptep >>> CHUNK_SPTEP_SHIFT)], (int) sptep & CHUNK_SPTEP_MASK,
                expected, value);
    }

    /** Witness form of {@link #cas}: returns the value found, equal to {@code expected} on success. */
    public long cmpxchg(long sptep, long expected, long value) {
        return (long) LONGS.compareAndExchange(spt[(int) (sptep >>> CHUNK_SPTEP_SHIFT)],
                (int) sptep & CHUNK_SPTEP_MASK, expected, value);
    }

    public long xchg(long sptep, long value) {
        return (long) LONGS.getAndSet(spt[(int) (sptep >>> CHUNK_SPTEP_SHIFT)], (int) sptep & CHUNK_SPTEP_MASK,
                value);
    }

    /**
     * The first index in {@code [from, to)} of table {@code id} whose entry has a bit of {@code mask} set, or -1:
     * one tight scan of the table's slice of its chunk, each entry read once as {@link #get} reads it.
     */
    public int firstWithAny(int id, int from, int to, long mask) {
        long[] c = spt[id >>> CHUNK_TABLE_SHIFT];
        int base = (id & (TABLES_PER_CHUNK - 1)) << INDEX_BITS;
        for (int i = from; i < to; i++)
            if (((long) LONGS.getVolatile(c, base + i) & mask) != 0)
                return i;
        return -1;
    }

    // ---- allocation ---------------------------------------------------------------------------------------

    /**
     * A new table of {@code level} covering GFNs from {@code gfn}, every entry {@link Spte#SHADOW_NONPRESENT_VALUE},
     * no parent, refcount 0. Freed ids are reused most-recent first.
     */
    public int alloc(int level, long gfn, int role) {
        synchronized (allocLock) {
            int id = ids.take();
            if (id >>> CHUNK_TABLE_SHIFT == chunks) // the first id of a chunk not made yet
                addChunk();
            long pfn = frames.allocFrame(id);
            if (idByPfn.get(pfn) != 0) {
                throw new IllegalStateException("frame 0x" + Long.toHexString(pfn) + " already holds table "
                        + idByPfn.get(pfn));
            }
            int c = id >>> CHUNK_TABLE_SHIFT;
            int slot = id & (TABLES_PER_CHUNK - 1);
            long[] entries = spt[c];
            int base = slot << INDEX_BITS;
            Arrays.fill(entries, base, base + Spte.ENT_PER_PAGE, Spte.SHADOW_NONPRESENT_VALUE);
            long[] hl = headL[c];
            int lb = slot * L_WORDS;
            hl[lb + L_GFN] = gfn;
            hl[lb + L_PTEP] = 0;
            hl[lb + L_EXTERNAL] = 0;
            hl[lb + L_PFN] = pfn;
            int[] hi = headI[c];
            int ib = slot * I_WORDS;
            hi[ib + I_LEVEL] = level;
            hi[ib + I_ROLE] = role;
            hi[ib + I_ROOT_COUNT] = 0;
            // The release store orders the plain header writes above before it.
            INTS.setRelease(hi, ib + I_FLAGS, FLAG_LIVE);
            idByPfn.put(pfn, id);
            live++;
            return id;
        }
    }

    /** Returns a table to the pool now. Callers that raced with lockless walkers go through {@link Rcu}. */
    public void free(int id) {
        synchronized (allocLock) {
            if (!isLive(id)) {
                throw new IllegalStateException("table " + id + " is not live");
            }
            long pfn = pfnOf(id);
            idByPfn.remove(pfn); // then the bump, both before the frame can hold another table (freeGeneration())
            freeGeneration = freeGeneration + 1;
            int[] hi = headI[id >>> CHUNK_TABLE_SHIFT];
            INTS.setRelease(hi, (id & (TABLES_PER_CHUNK - 1)) * I_WORDS + I_FLAGS, 0);
            ids.put(id);
            live--;
            frames.freeFrame(pfn);
        }
    }

    private void addChunk() {
        long[][] s = spt;
        long[][] l = headL;
        int[][] i = headI;
        if (chunks == s.length) {
            s = Arrays.copyOf(s, chunks * 2);
            l = Arrays.copyOf(l, chunks * 2);
            i = Arrays.copyOf(i, chunks * 2);
        }
        s[chunks] = new long[TABLES_PER_CHUNK << INDEX_BITS];
        l[chunks] = new long[TABLES_PER_CHUNK * L_WORDS];
        i[chunks] = new int[TABLES_PER_CHUNK * I_WORDS];
        chunks++;
        // Volatile stores publish the new chunk, even when the spine array itself was reused.
        headL = l;
        headI = i;
        spt = s;
    }

    public int liveTables() {
        return live;
    }

    /** Memory held by live tables: 4 KiB each, about 8 bytes per mapped 4K page. */
    public long bytes() {
        return live * TABLE_BYTES;
    }

    /** Chunks allocated so far (they are never returned). */
    public int chunkCount() {
        synchronized (allocLock) {
            return chunks;
        }
    }

    /** Whether {@code id} names an allocated, not yet freed table. Lock-free. */
    public boolean isLive(int id) {
        int[][] hi = headI;
        int c = id >>> CHUNK_TABLE_SHIFT;
        if (id <= 0 || c >= hi.length || hi[c] == null) {
            return false;
        }
        return (flags(id) & FLAG_LIVE) != 0;
    }

    // ---- pfn <-> id ---------------------------------------------------------------------------------------

    public long pfnOf(int id) {
        return headL[id >>> CHUNK_TABLE_SHIFT][(id & (TABLES_PER_CHUNK - 1)) * L_WORDS + L_PFN];
    }

    /**
     * Bumped by every {@link #free}, after the freed table's pfn entry is cleared and before its frame can hold
     * another table: a walker that read generation {@code g}, then looked a frame's table up, may use that answer again
     * while the generation is still {@code g} ({@link TdpIter#childTable}). Bumping first would let a look-up between
     * bump and clear pair the new generation with the freed table (safe only behind an RCU grace period). Lock-free.
     */
    public long freeGeneration() {
        return freeGeneration;
    }

    /** The live table in frame {@code pfn}, or 0. */
    public int idOfPfn(long pfn) {
        return idByPfn.get(pfn);
    }

    // ---- header -------------------------------------------------------------------------------------------

    private int flags(int id) {
        return (int) INTS.getAcquire(headI[id >>> CHUNK_TABLE_SHIFT],
                (id & (TABLES_PER_CHUNK - 1)) * I_WORDS + I_FLAGS);
    }

    private static int iw(int id, int word) {
        return (id & (TABLES_PER_CHUNK - 1)) * I_WORDS + word;
    }

    private static int lw(int id, int word) {
        return (id & (TABLES_PER_CHUNK - 1)) * L_WORDS + word;
    }

    public int level(int id) {
        return headI[id >>> CHUNK_TABLE_SHIFT][iw(id, I_LEVEL)];
    }

    /** First GFN the table covers (without gfn bits). */
    public long gfn(int id) {
        return headL[id >>> CHUNK_TABLE_SHIFT][lw(id, L_GFN)];
    }

    public int role(int id) {
        return (int) INTS.getVolatile(headI[id >>> CHUNK_TABLE_SHIFT], iw(id, I_ROLE));
    }

    public void setRoleBits(int id, int bits) {
        INTS.getAndBitwiseOr(headI[id >>> CHUNK_TABLE_SHIFT], iw(id, I_ROLE), bits);
    }

    public void clearRoleBits(int id, int bits) {
        INTS.getAndBitwiseAnd(headI[id >>> CHUNK_TABLE_SHIFT], iw(id, I_ROLE), ~bits);
    }

    public boolean isMirror(int id) {
        return (role(id) & ROLE_MIRROR) != 0;
    }

    public boolean isInvalid(int id) {
        return (role(id) & ROLE_INVALID) != 0;
    }

    public boolean isRoot(int id) {
        return (role(id) & ROLE_ROOT) != 0;
    }

    public int asId(int id) {
        return (role(id) & ROLE_AS_ID_MASK) >>> ROLE_AS_ID_SHIFT;
    }

    /** The parent SPTE that links this table, 0 for roots and unlinked tables. */
    public long ptep(int id) {
        return (long) LONGS.getVolatile(headL[id >>> CHUNK_TABLE_SHIFT], lw(id, L_PTEP));
    }

    public void setPtep(int id, long sptep) {
        LONGS.setVolatile(headL[id >>> CHUNK_TABLE_SHIFT], lw(id, L_PTEP), sptep);
    }

    /** Opaque word for the external table handle of a mirror table. */
    public long external(int id) {
        return (long) LONGS.getVolatile(headL[id >>> CHUNK_TABLE_SHIFT], lw(id, L_EXTERNAL));
    }

    public void setExternal(int id, long handle) {
        LONGS.setVolatile(headL[id >>> CHUNK_TABLE_SHIFT], lw(id, L_EXTERNAL), handle);
    }

    public boolean nxHugePageDisallowed(int id) {
        return (flags(id) & FLAG_NX_DISALLOWED) != 0;
    }

    public void setNxHugePageDisallowed(int id, boolean disallowed) {
        setFlag(id, FLAG_NX_DISALLOWED, disallowed);
    }

    public boolean nxListed(int id) {
        return (flags(id) & FLAG_NX_LISTED) != 0;
    }

    public void setNxListed(int id, boolean listed) {
        setFlag(id, FLAG_NX_LISTED, listed);
    }

    private void setFlag(int id, int flag, boolean on) {
        int[] hi = headI[id >>> CHUNK_TABLE_SHIFT];
        if (on)
            INTS.getAndBitwiseOr(hi, iw(id, I_FLAGS), flag);
        else
            INTS.getAndBitwiseAnd(hi, iw(id, I_FLAGS), ~flag);
    }

    // ---- root refcount (tdp_mmu_root_count) ---------------------------------------------------------------

    public int rootCount(int id) {
        return (int) INTS.getVolatile(headI[id >>> CHUNK_TABLE_SHIFT], iw(id, I_ROOT_COUNT));
    }

    /** Sets the count of a root nobody else can see yet. */
    public void setRootCount(int id, int count) {
        INTS.setVolatile(headI[id >>> CHUNK_TABLE_SHIFT], iw(id, I_ROOT_COUNT), count);
    }

    /** Takes a reference unless the count already dropped to 0 ({@code refcount_inc_not_zero}). */
    public boolean tryGetRoot(int id) {
        int[] hi = headI[id >>> CHUNK_TABLE_SHIFT];
        int w = iw(id, I_ROOT_COUNT);
        int c = (int) INTS.getVolatile(hi, w);
        while (c > 0) {
            int seen = (int) INTS.compareAndExchange(hi, w, c, c + 1);
            if (seen == c) {
                return true;
            }
            c = seen;
        }
        return false;
    }

    /** Drops a reference; returns the new count (0: the caller frees the root). */
    public int putRoot(int id) {
        int c = (int) INTS.getAndAdd(headI[id >>> CHUNK_TABLE_SHIFT], iw(id, I_ROOT_COUNT), -1) - 1;
        if (c < 0) {
            throw new IllegalStateException("root " + id + " refcount underflow");
        }
        return c;
    }
}
