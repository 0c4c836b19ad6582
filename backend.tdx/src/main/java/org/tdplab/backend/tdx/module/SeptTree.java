package org.tdplab.backend.tdx.module;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.ObjLongConsumer;

/**
 * The Secure-EPT pages of one TD, packed: one {@code long[512]} of entries per page (and, for pages above the leaf
 * level, an {@code int[512]} of child page ids so walks need no lookup), plus per-page metadata in parallel arrays.
 * No object per entry.
 *
 * <p>Entry encoding (the model's own, not the architectural bits): bits 3:0 the {@link SeptState}, bit 4 the
 * host-priority bit (set when a host lock attempt failed, so a guest-side lock backs off), bit 5 the entry's lock
 * (held by a leaf that runs with the tree lock shared), bits 51:12 the HPA.
 * Levels are TDX levels: a page of level {@code l} holds entries of level {@code l} (0 = 4K leaves), and is linked
 * by an entry of level {@code l + 1}.
 *
 * <p>Pages are removed only under the module's exclusive lock. TDH.MEM.SEPT.ADD adds one holding it shared, under
 * the lock of the entry that will link it: {@link #alloc} is serialized here, and the new page is filled in
 * ({@link #setChild}) before the entry's release store ({@link #setUnlocked}) links it, which {@link #get}'s acquire
 * load pairs with, so a walk that reads the link reads the page. Leaves that hold the lock shared change their own
 * entries, each under the entry's lock ({@link #tryLock}), and the CPU's walk reads without a lock
 * ({@link #getUnlocked}).
 */
final class SeptTree {

    static final long STATE_MASK = 0xF;
    static final long HOST_PRIORITY = 1L << 4;
    static final long HPA_MASK = 0x000F_FFFF_FFFF_F000L;
    /** The entry's lock bit: set by a leaf that holds the tree lock shared, for as long as it works on the entry. */
    static final long LOCKED = 1L << 5;
    private static final VarHandle ENTRY = MethodHandles.arrayElementVarHandle(long[].class);

    private long[][] entries = new long[16][];
    private int[][] children = new int[16][];
    private int[] level = new int[16];
    private long[] gfn = new long[16];
    private long[] pfn = new long[16];
    private boolean[] live = new boolean[16];
    private int next = 1; // id 0 means "none"
    private int freeHead;
    private int[] freeNext = new int[16];
    private int livePages;
    private final Map<Long, Integer> byPfn = new HashMap<>();
    /**
     * Changes whenever a link stops being NL_MAPPED, a page is freed or the tree is restored: a guest walk's path
     * through the upper levels, remembered while it was one value ({@link GuestSide}), is still the path while it is.
     * Only leaves that hold the module's lock exclusively take an entry out of NL_MAPPED (SEPT.ADD, AUG and ACCEPT,
     * which hold it shared, never do), so a leaf that holds it either way reads a value no change is racing with.
     */
    private volatile long linkGeneration;

    /** See {@link #linkGeneration}. */
    long linkGeneration() {
        return linkGeneration;
    }

    /** A link leaves NL_MAPPED (or another link state), or pages go: every remembered path is to be walked again. */
    private void linksChanged() {
        linkGeneration = linkGeneration + 1; // one writer: the exclusive holder (see the field)
        Arrays.fill(walked, 0L);
    }

    private void changing(long old, long e) {
        if (SeptState.isNonLeaf(state(old)) && state(e) != state(old))
            linksChanged();
    }

    /**
     * The host walks' memory of the page of 4K entries of one 2M region ({@link SeptWalk#walk}; a guest ACCEPT's walk
     * from the root writes it too, {@link GuestSide}): {@code region + 1}
     * in the high half, the page in the low half; 0 for none. A slot per thread-id residue (any thread may use any
     * slot: what a slot says is true for every walker until {@link #linksChanged} clears it, holding the module's lock
     * exclusively, so walkers holding it either way never meet a clear). An AUG of a page in another 2M region than
     * its thread's last writes its slot, nearly every fault in random order: each slot has 128 bytes of its own (the
     * adjacent-line prefetcher moves 64-byte lines in pairs; with slots 64 bytes apart, two vCPU threads of
     * consecutive ids wrote one pair), and the array's header and its end are as far from any.
     */
    private final long[] walked = new long[(WALK_SLOTS + 2) * WALK_STRIDE];
    private static final int WALK_SLOTS = 8, WALK_STRIDE = 16;

    @SuppressWarnings("deprecation") // Thread.getId: threadId() is Java 19
    private static int walkSlot() {
        return (int) ((Thread.currentThread().getId() & (WALK_SLOTS - 1)) + 1) * WALK_STRIDE;
    }

    /** The page of 4K entries a host walk reached for {@code gfn}'s 2M region since no link changed, or 0. */
    int walkedLeafPage(long gfn) {
        long w = (long) ENTRY.getOpaque(walked, walkSlot());
        return w >>> 32 == (gfn >>> 9) + 1 ? (int) w : 0;
    }

    /** What the host walks remember, as {@code (first GFN of the 2M region, page)} pairs: for the checker. */
    void forEachWalked(ObjLongConsumer<Integer> visitor) {
        for (int slot = 1; slot <= WALK_SLOTS; slot++) {
            long w = (long) ENTRY.getOpaque(walked, slot * WALK_STRIDE);
            if (w != 0)
                visitor.accept((int) w, ((w >>> 32) - 1) << 9);
        }
    }

    /** Remembers the page of 4K entries a host walk reached for {@code gfn} (a GFN below 2^40). */
    void walkedTo(long gfn, int page) {
        if (gfn >>> 40 == 0) // the region and its + 1 fit the word's high half (any GFN of a 52-bit GPA does)
            ENTRY.setOpaque(walked, walkSlot(), ((gfn >>> 9) + 1) << 32 | page);
    }

    static int state(long e) {
        return (int) (e & STATE_MASK);
    }

    static long hpa(long e) {
        return e & HPA_MASK;
    }

    static long entry(int state, long hpa) {
        return state | (hpa & HPA_MASK);
    }

    static long withState(long e, int state) {
        return (e & ~STATE_MASK) | state;
    }

    /**
     * A new page of {@code lvl} covering {@code baseGfn}, backed by frame {@code framePfn}, all 512 entries FREE; not
     * linked yet. Serialized: two SEPT.ADDs holding the module's lock shared allocate at once. The page's arrays and
     * its frame's key are made before the lock, which then covers a few stores: two vCPUs' first faults in new 2M
     * ranges allocate at once, and with 6 KiB zeroed inside it their threads spun on it (3% of the CPU time two vCPU
     * threads of a TD spent faulting a 1 GiB guest, against 0.1% for one thread).
     */
    int alloc(int lvl, long baseGfn, long framePfn) {
        long[] pageEntries = new long[512];
        int[] pageChildren = lvl > 0 ? new int[512] : null;
        Long key = framePfn;
        synchronized (this) {
            int id;
            if (freeHead != 0) {
                id = freeHead;
                freeHead = freeNext[id];
            } else {
                id = next++;
                if (id >= live.length)
                    grow();
            }
            entries[id] = pageEntries;
            children[id] = pageChildren;
            level[id] = lvl;
            gfn[id] = baseGfn;
            pfn[id] = framePfn;
            live[id] = true;
            livePages++;
            byPfn.put(key, id);
            return id;
        }
    }

    synchronized void free(int id) {
        linksChanged();
        byPfn.remove(pfn[id]);
        entries[id] = null;
        children[id] = null;
        live[id] = false;
        livePages--;
        freeNext[id] = freeHead;
        freeHead = id;
    }

    private void grow() {
        int n = live.length * 2;
        entries = Arrays.copyOf(entries, n);
        children = Arrays.copyOf(children, n);
        level = Arrays.copyOf(level, n);
        gfn = Arrays.copyOf(gfn, n);
        pfn = Arrays.copyOf(pfn, n);
        live = Arrays.copyOf(live, n);
        freeNext = Arrays.copyOf(freeNext, n);
    }

    /** The entry, by an acquire load: a link read here comes with the page it links ({@link #setUnlocked}). */
    long get(int page, int index) {
        return (long) ENTRY.getAcquire(entries[page], index);
    }

    void set(int page, int index, long e) {
        changing(entries[page][index], e);
        entries[page][index] = e;
    }

    /**
     * The entry's lock, for a leaf that holds the tree lock shared, taken by a host leaf or by the guest: the entry
     * as it is now (lock bit clear), or -1 when another leaf holds it, or a host waits for it and the guest asks.
     * {@link #setUnlocked} (or {@link #unlock}) releases it.
     */
    long tryLock(int page, int index, boolean host) {
        long[] p = entries[page];
        for (;;) {
            long e = (long) ENTRY.getVolatile(p, index);
            if ((e & LOCKED) != 0 || !host && (e & HOST_PRIORITY) != 0) // a guest backs off for a waiting host
                return -1;
            long mine = (host ? e & ~HOST_PRIORITY : e) | LOCKED; // a host that gets the lock clears the bit
            if (ENTRY.compareAndSet(p, index, e, mine))
                return mine & ~LOCKED;
        }
    }

    /** Sets the host-priority bit of an entry another leaf may hold, keeping its other bits. */
    void setHostPriority(int page, int index) {
        long[] p = entries[page];
        for (long e = (long) ENTRY.getVolatile(p, index); (e & HOST_PRIORITY) == 0;
                e = (long) ENTRY.getVolatile(p, index))
            if (ENTRY.compareAndSet(p, index, e, e | HOST_PRIORITY))
                return;
    }

    /** Stores {@code e} into an entry the caller locked, releasing it; a host-priority bit set meanwhile stays. */
    void setUnlocked(int page, int index, long e) {
        long[] p = entries[page];
        for (;;) {
            long now = (long) ENTRY.getVolatile(p, index);
            changing(now, e); // never, holding the lock shared (see linkGeneration); counted if it were
            if (ENTRY.compareAndSet(p, index, now, (e & ~(LOCKED | HOST_PRIORITY)) | (now & HOST_PRIORITY)))
                return;
        }
    }

    /**
     * Stores {@code e} into an entry no leaf holds if it still is {@code expected} (lock bit clear): the change a
     * {@link #tryLock}, then a {@link #setUnlocked}, would make with nothing between them, in one compare-and-set, for
     * a leaf that holds the tree lock shared and decides on that one value. False when the entry changed meanwhile (a
     * leaf took its lock, a host set its priority bit): the leaf reads it again.
     */
    boolean commit(int page, int index, long expected, long e) {
        changing(expected, e); // never, holding the lock shared (see linkGeneration); counted if it were
        return ENTRY.compareAndSet(entries[page], index, expected, e);
    }

    /** Releases an entry the caller locked and did not change. */
    void unlock(int page, int index) {
        long[] p = entries[page];
        for (;;) {
            long now = (long) ENTRY.getVolatile(p, index);
            if (ENTRY.compareAndSet(p, index, now, now & ~LOCKED))
                return;
        }
    }

    int child(int page, int index) {
        return children[page][index];
    }

    /**
     * {@link #get} for the CPU's walk without the module's lock ({@link SeptCpuWalk}): a page it does not see yet (the
     * page table grew, a page is new, id 0) reads as all FREE.
     */
    long getUnlocked(int page, int index) {
        long[][] all = entries;
        long[] p = page > 0 && page < all.length ? all[page] : null;
        return p == null ? 0 : p[index];
    }

    /** {@link #child} without the module's lock, like {@link #getUnlocked}: 0 where it sees no child. */
    int childUnlocked(int page, int index) {
        int[][] all = children;
        int[] p = page > 0 && page < all.length ? all[page] : null;
        return p == null ? 0 : p[index];
    }

    void setChild(int page, int index, int child) {
        children[page][index] = child;
    }

    int level(int page) {
        return level[page];
    }

    long baseGfn(int page) {
        return gfn[page];
    }

    long framePfn(int page) {
        return pfn[page];
    }

    boolean isLive(int page) {
        return page > 0 && page < live.length && live[page];
    }

    /** The page backed by that frame, or 0. */
    synchronized int pageAt(long framePfn) {
        Integer id = byPfn.get(framePfn);
        return id == null ? 0 : id;
    }

    int livePages() {
        return livePages;
    }

    /** Ids of the live pages (for checks). */
    int[] livePageIds() {
        int[] out = new int[livePages];
        int n = 0;
        for (int id = 1; id < next; id++)
            if (live[id])
                out[n++] = id;
        return out;
    }

    /** Whether every entry of the page is FREE (REMOVED counts as not free). */
    boolean allFree(int page) {
        for (long e : entries[page])
            if (state(e) != SeptState.FREE)
                return false;
        return true;
    }

    /** Every live page and the free list, as plain data. */
    ModuleState.Sept export() {
        java.util.List<ModuleState.SeptPage> pages = new java.util.ArrayList<>(livePages);
        for (int id = 1; id < next; id++)
            if (live[id])
                pages.add(new ModuleState.SeptPage(id, level[id], gfn[id], pfn[id], entries[id].clone(),
                        children[id] == null ? new int[0] : children[id].clone()));
        return new ModuleState.Sept(pages, next, freeHead, Arrays.copyOf(freeNext, next));
    }

    /** This tree, empty before, takes the pages and free list of {@code state}. */
    void restore(ModuleState.Sept state) {
        linksChanged();
        int n = Integer.highestOneBit(Math.max(16, state.next()) - 1) << 1;
        entries = new long[n][];
        children = new int[n][];
        level = new int[n];
        gfn = new long[n];
        pfn = new long[n];
        live = new boolean[n];
        freeNext = Arrays.copyOf(state.freeNext(), n);
        next = state.next();
        freeHead = state.freeHead();
        livePages = 0;
        byPfn.clear();
        for (ModuleState.SeptPage p : state.pages()) {
            int id = p.id();
            if (id <= 0 || id >= next || live[id] || p.entries().length != 512
                    || p.children().length != (p.level() > 0 ? 512 : 0))
                throw new IllegalArgumentException("S-EPT page " + id + " does not fit this tree");
            entries[id] = p.entries().clone();
            children[id] = p.level() > 0 ? p.children().clone() : null;
            level[id] = p.level();
            gfn[id] = p.gfn();
            pfn[id] = p.pfn();
            live[id] = true;
            livePages++;
            byPfn.put(p.pfn(), id);
        }
    }

    /** The index of a GFN's entry in a page of that level. */
    static int index(long gfn, int lvl) {
        return (int) ((gfn >>> (9 * lvl)) & 511);
    }
}
