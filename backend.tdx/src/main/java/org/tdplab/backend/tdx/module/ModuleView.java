package org.tdplab.backend.tdx.module;

import java.util.List;

/**
 * The read-only views of one {@link TdxModule} ({@link TdxModule#view()}), for KVM's checks, the inspection commands
 * and the tests: the TD's fields as a leaf leaves them, the PAMT, S-EPT lookups without a SEAMCALL and the module's
 * own invariants. Each view holds the module's lock exclusively, as a leaf would, except a frame's PAMT word, which
 * is one acquire load as AUG reads it. None changes state but the epoch high-water mark of the invariant check.
 */
public final class ModuleView {
    private final TdxModule m;
    private final ModuleLock lock;
    private final Inspection inspection;
    /** {@link #lookup}'s leaf, made once: a check looks up every mirror leaf, and a lambda per call adds up. */
    private final java.util.function.LongBinaryOperator lookup;

    ModuleView(TdxModule m, Inspection inspection) {
        this.m = m;
        this.lock = m.lock;
        this.inspection = inspection;
        this.lookup = (gfn, level) -> inspection.lookup(gfn, (int) level);
    }

    // the TD's fields as a leaf leaves them: read holding the lock exclusively, one line each
    public int opState() { return (int) lock.exclusive(() -> m.opState); }
    public int lifecycle() { return (int) lock.exclusive(() -> m.lifecycle); }
    public int hkid() { return (int) lock.exclusive(() -> m.hkid); }
    public long tdEpoch() { return lock.exclusive(() -> m.tdEpoch); }
    public long chldcnt() { return lock.exclusive(m.chldcnt::sum); }
    public long mrtd() { return lock.exclusive(() -> m.mrtd); }
    public boolean inGuest(int v) { return lock.exclusive(() -> m.lines.inGuest(v) ? 1 : 0) != 0; }
    public long vcpuEpoch(int v) { return lock.exclusive(() -> m.lines.epoch(v)); }
    public int refcount(int parity) { return (int) lock.exclusive(() -> m.lines.refcount(parity)); }
    // how many times vCPUs entered the TD; how many entries found a stale vCPU epoch and flushed its EPT TLB contexts
    public long vpEnters() { return lock.exclusive(() -> m.lines.total(false)); }
    public long eptFlushes() { return lock.exclusive(() -> m.lines.total(true)); }

    /** The PAMT entry of a frame (for checks and tests). */
    public long pamtEntry(long pfn) {
        return Pamt.entryOf(pamtWord(pfn));
    }

    /** A frame's PAMT word ({@link Pamt#word}): entry and dirty KeyID in one acquire load, lock-free as AUG's reads. */
    public long pamtWord(long pfn) {
        return m.pamt.word(pfn);
    }

    /** The KeyID a freed frame's cache lines may still be dirty with, or -1 (see {@link Pamt}). */
    public int dirtyKeyId(long pfn) {
        return Pamt.dirtyKeyIdOf(pamtWord(pfn));
    }

    /** Whether the module holds nothing any more: no owned page, no page waiting for its WBINVD. */
    /** Whether the module runs with Dynamic PAMT. */
    public boolean dynamicPamt() {
        return m.pamt.dynamic();
    }

    /** Dynamic PAMT: the pair of the 2M range of {@code pfn} ({@code {pfn0, pfn1}}), or null. */
    public long[] pamtPair(long pfn) {
        return lock.exclusiveGet(() -> m.pamt.pair(pfn));
    }

    /** Visits every page the module holds at 4K (a 4K PAMT entry of any type but NDA). */
    public void forEachOwned4k(java.util.function.LongConsumer visitor) {
        lock.exclusiveRun(() -> m.pamt.forEachAssigned(pfn -> {
            if (Pamt.size(m.pamt.get(pfn)) == Pamt.SIZE_4K)
                visitor.accept(pfn);
        }));
    }

    public boolean pamtEmpty() {
        return lock.exclusive(() -> m.pamt.isEmpty() ? 1 : 0) != 0;
    }

    /** SEPT.RD's view without the SEAMCALL: the entry of {@code level} for {@code gfn} as {@code state|hpa}, or -1. */
    public long lookup(long gfn, int level) {
        return lock.exclusive(gfn, level, lookup); // once per mirror leaf in a check: no lambda per call
    }

    /** Whether the S-EPT page in that frame still has a present entry (leaf-before-table checks). */
    public boolean septPageInUse(long framePfn) {
        return lock.exclusive(() -> inspection.septPageInUse(framePfn) ? 1 : 0) != 0;
    }

    /** A visitor of present S-EPT entries: GFN, TDX level, state, HPA. */
    @FunctionalInterface
    public interface EntryVisitor {
        void visit(long gfn, int level, int state, long hpa);
    }

    /** Visits every present entry of the live tree, top-down. */
    public void forEachPresent(EntryVisitor visitor) {
        lock.exclusiveRun(() -> inspection.forEachPresent(visitor));
    }

    /**
     * The module's own invariants (hardware spec A.9 and the epoch rules), one line per violation: I1/I2 tree shape,
     * I3 every leaf's page REG owned at the leaf's size and no aliasing, I2 every S-EPT page EPT-owned, I4
     * {@code chldcnt}, no blocked entry outside a removal in progress, I6 epochs.
     */
    public void check(List<String> out) {
        check(out, (gfn, septLevel) -> false);
    }

    /**
     * The same, but a BLOCKED entry that {@code abandoned} names is no violation: KVM left it so when a removal or a
     * split failed after its TDH.MEM.RANGE.BLOCK and bugged the VM (mainline 6.19 goes on after a failed TRACK).
     */
    public void check(List<String> out, Abandoned abandoned) {
        lock.exclusiveRun(() -> inspection.check(out, abandoned));
    }

    /** Names the S-EPT entries KVM abandoned BLOCKED, by their GFN and S-EPT level (0 = 4K). */
    @FunctionalInterface
    public interface Abandoned {
        boolean blocked(long gfn, int septLevel);
    }
}
