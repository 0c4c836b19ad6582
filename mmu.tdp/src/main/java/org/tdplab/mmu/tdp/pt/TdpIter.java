package org.tdplab.mmu.tdp.pt;

import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The one walker for every page-table traversal (the kernel's {@code tdp_iter}): a pre-order walk of the SPTEs
 * of one root that cover {@code [start, end)}, going down to {@code minLevel}.
 *
 * <p>Typical use, with no allocation per step:
 * <pre>
 * for (it.start(root, rootLevel, PG_LEVEL_4K, start, end, gfnBits); it.valid; it.next()) { ... it.oldSpte ... }
 * </pre>
 * The state is public like the kernel's struct: callers that lose a cmpxchg store the value they found in
 * {@link #oldSpte}. {@link #gfn} never includes {@link #gfnBits}; those are ORed in only to pick indices, so a
 * direct root of a VM with a shared bit is walked at the aliased GFN while callers see natural GFNs.
 *
 * <p>Every load goes through {@link TablePool#get}, so tables linked concurrently are seen; before stepping into
 * a child the parent SPTE is re-read so the walk does not enter a table that was just unlinked.
 */
public final class TdpIter extends org.tdplab.mmu.tdp.sync.LinePadded {
    private final TablePool pool;
    /** Table id per level of the current path ({@code pt_path}); index 0 unused. */
    private final int[] ptPath = new int[Spte.PT64_ROOT_MAX_LEVEL + 1];
    /**
     * The last child looked up from each level: its frame, its table, and the pool's free generation before the
     * look-up. The kernel finds a child from its pfn through {@code struct page}; the model hashes the pfn, so a
     * walk near the last one (the next page of a sequential fault, the upper levels of any) reuses the answer while no
     * table was freed since.
     */
    private final long[] child = new long[CHILD_PAD + 3 * CHILD_STRIDE + CHILD_PAD];
    /**
     * One array, its entries a cache line away from either end: walkers of different vCPUs are made together and
     * written on every walk, so arrays of their own would share cache lines between vCPU threads.
     */
    private static final int CHILD_PAD = 16, CHILD_STRIDE = Spte.PT64_ROOT_MAX_LEVEL + 1;
    private static final int CHILD_PFN = CHILD_PAD, CHILD_GENERATION = CHILD_PAD + CHILD_STRIDE,
            CHILD_ID = CHILD_PAD + 2 * CHILD_STRIDE;

    /** Natural GFN of the current entry, aligned to {@link #level}. */
    public long gfn;
    public int level;
    public long sptep;
    /** The current SPTE as last read. */
    public long oldSpte;
    public boolean valid;
    /** Set by a caller that dropped its lock; the next step restarts from the root. */
    public boolean yielded;

    public int rootId;
    public int rootLevel;
    public int minLevel;
    public long gfnBits;
    public long endGfn;
    /** The GFN the walk is heading for; restarts resume here. */
    public long nextLastLevelGfn;
    /** {@link #nextLastLevelGfn} at the last (re)start: a yield needs forward progress past it. */
    public long yieldedGfn;

    public TdpIter(TablePool pool) {
        this.pool = pool;
    }

    /** Starts a walk of a root whose level is taken from its header. */
    public void start(int rootId, int minLevel, long startGfn, long endGfn, long gfnBits) {
        start(rootId, pool.level(rootId), minLevel, startGfn, endGfn, gfnBits);
    }

    /**
     * Positions the walk on the root-level entry that covers {@code startGfn}. Invalid when the root or levels
     * make no sense, or {@code startGfn} already has {@code gfnBits} set. As in the kernel, the end is checked after
     * every step ({@code iter.gfn < end}): an empty range still visits the entries above whose GFN is below its end.
     */
    public void start(int rootId, int rootLevel, int minLevel, long startGfn, long endGfn, long gfnBits) {
        if (rootId <= 0 || rootLevel < Spte.PG_LEVEL_4K || rootLevel > Spte.PT64_ROOT_MAX_LEVEL
                || minLevel < Spte.PG_LEVEL_4K || minLevel > rootLevel
                || startGfn < 0 || (gfnBits != 0 && startGfn >= gfnBits)) {
            valid = false;
            return;
        }
        this.rootId = rootId;
        this.rootLevel = rootLevel;
        this.minLevel = minLevel;
        this.gfnBits = gfnBits;
        this.endGfn = endGfn;
        this.nextLastLevelGfn = startGfn;
        ptPath[rootLevel] = rootId;
        restart();
        checkEnd();
    }

    /** Re-walks from the root toward {@link #nextLastLevelGfn}; used after the caller dropped its lock. */
    public void restart() {
        yielded = false;
        yieldedGfn = nextLastLevelGfn;
        level = rootLevel;
        gfn = Spte.gfnRoundForLevel(nextLastLevelGfn, level);
        refreshSptep();
        valid = true;
    }

    /** Notes that the caller yielded: the current entry was not handled and is visited again after restart. */
    public void markYielded() {
        yielded = true;
    }

    /** A yield is allowed only after the walk moved past where it last (re)started. */
    public boolean canYield() {
        return nextLastLevelGfn != yieldedGfn;
    }

    /** Re-reads the current SPTE. */
    public long refresh() {
        oldSpte = pool.get(sptep);
        return oldSpte;
    }

    /** Steps to the next entry in pre-order: down, else side, else up and side. */
    public void next() {
        if (yielded) {
            restart();
            checkEnd();
            return;
        }
        if (tryStepDown()) {
            // as the kernel's loop condition: only an empty range ([start, end) with end <= start) stops here
            checkEnd();
            return;
        }
        do {
            if (tryStepSide()) {
                checkEnd();
                return;
            }
        } while (tryStepUp());
        valid = false;
    }

    /**
     * At a 4K entry, the entries after it that the walk reaches by side steps alone: the rest of its table, up to
     * the end of the range; 0 elsewhere, or when the next step restarts the walk. Entry {@code k} of them is at
     * {@code sptep + k}, its GFN {@code gfn + k}: a per-SPTE loop handles a run of them with its position in locals
     * and then moves there with {@link #sideStep}, instead of a {@link #next} per entry.
     */
    public int sideStepsLeft() {
        if (level != Spte.PG_LEVEL_4K || yielded)
            return 0;
        long inTable = Spte.ENT_PER_PAGE - 1 - Spte.indexAt(gfn | gfnBits, level);
        return (int) Math.min(inTable, endGfn - gfn - 1);
    }

    /**
     * {@code k} side steps at once ({@code k <= }{@link #sideStepsLeft}), as {@code k} calls of {@link #next} would
     * make them; {@code spte} is the value the caller last read of (or wrote over at) that entry.
     */
    public void sideStep(int k, long spte) {
        oldSpte = spte;
        if (k == 0)
            return; // at an entry of any level: its position stays as the walk left it
        gfn += k;
        nextLastLevelGfn = gfn;
        sptep += k;
    }

    /**
     * Walks from the root to the deepest entry for {@code gfn} at or above {@code minLevel}: the leaf, the first
     * non-present entry, or the entry at {@code minLevel}. Returns {@link #valid}.
     */
    public boolean walkTo(int rootId, int rootLevel, long gfn, long gfnBits, int minLevel) {
        start(rootId, rootLevel, minLevel, gfn, gfn + 1, gfnBits);
        if (!valid)
            return false;
        // each entry is read once and the step down uses that value, as a hardware walk reads each level once: the
        // stepping iterator reads an entry again before it steps down (tryStepDown) because its caller may have
        // spent any time on it in between; here nothing comes between the read and the step
        long index = gfn | gfnBits;
        int l = level;
        long p = sptep, spte = oldSpte;
        int[] path = ptPath;
        while (l > minLevel) {
            int child = childTable(spte, l);
            if (child == 0)
                break;
            l--;
            path[l] = child;
            p = TablePool.sptep(child, Spte.indexAt(index, l));
            spte = pool.get(p);
        }
        level = l;
        sptep = p;
        oldSpte = spte;
        this.gfn = Spte.gfnRoundForLevel(gfn, l);
        return true;
    }

    /**
     * Reads the 4K entry for {@code gfn} in {@code table}, a 4K table the caller found for it without walking from
     * the root (the CPU's paging-structure cache): the walk is then at that entry, as {@link #walkTo} leaves it, with
     * no path above it. Returns {@link #oldSpte}.
     */
    public long readAt(int table, long gfn, long gfnBits) {
        this.gfnBits = gfnBits;
        level = Spte.PG_LEVEL_4K;
        ptPath[Spte.PG_LEVEL_4K] = table;
        this.gfn = gfn;
        sptep = TablePool.sptep(table, Spte.indexAt(gfn | gfnBits, Spte.PG_LEVEL_4K));
        oldSpte = pool.get(sptep);
        valid = true;
        return oldSpte;
    }

    /** Table id on the current path at {@code level} (≥ {@link #level}). */
    public int tableAt(int level) {
        return ptPath[level];
    }

    /** The sptep on the current path at {@code level} (≥ {@link #level}): the entry that covers {@link #gfn}. */
    public long sptepAt(int level) {
        return TablePool.sptep(ptPath[level], Spte.indexAt(gfn | gfnBits, level));
    }

    /** The child table a present non-leaf SPTE at {@code level} points to, or 0 ({@code spte_to_child_pt}). */
    public int childTable(long spte, int level) {
        if (!Spte.isShadowPresent(spte) || Spte.isLast(spte, level)) {
            return 0;
        }
        long pfn = Spte.pfn(spte);
        long generation = pool.freeGeneration(); // read after the SPTE: a table freed and replaced since shows
        long[] c = child;
        if (c[CHILD_PFN + level] == pfn && c[CHILD_GENERATION + level] == generation && c[CHILD_ID + level] != 0)
            return (int) c[CHILD_ID + level];
        int id = pool.idOfPfn(pfn);
        c[CHILD_PFN + level] = pfn;
        c[CHILD_GENERATION + level] = generation;
        c[CHILD_ID + level] = id;
        return id;
    }

    private void refreshSptep() {
        sptep = TablePool.sptep(ptPath[level], Spte.indexAt(gfn | gfnBits, level));
        oldSpte = pool.get(sptep);
    }

    private boolean tryStepDown() {
        if (level <= minLevel) {
            return false;
        }
        // The entry may have been zapped or replaced since it was read.
        oldSpte = pool.get(sptep);
        int child = childTable(oldSpte, level);
        if (child == 0) {
            return false;
        }
        level--;
        ptPath[level] = child;
        gfn = Spte.gfnRoundForLevel(nextLastLevelGfn, level);
        refreshSptep();
        return true;
    }

    private boolean tryStepSide() {
        if (Spte.indexAt(gfn | gfnBits, level) == Spte.ENT_PER_PAGE - 1) {
            return false;
        }
        gfn += Spte.pagesPerHpage(level);
        nextLastLevelGfn = gfn;
        sptep++;
        oldSpte = pool.get(sptep);
        return true;
    }

    private boolean tryStepUp() {
        if (level == rootLevel) {
            return false;
        }
        level++;
        gfn = Spte.gfnRoundForLevel(gfn, level);
        refreshSptep();
        return true;
    }

    private void checkEnd() {
        if (gfn >= endGfn) {
            valid = false;
        }
    }
}
