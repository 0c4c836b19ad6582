package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.SeptState.FREE;
import static org.tdplab.backend.tdx.module.SeptState.MAPPED;
import static org.tdplab.backend.tdx.module.SeptState.NL_MAPPED;
import static org.tdplab.backend.tdx.module.SeptState.PENDING;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RDX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_SEPT_TREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_WALK_FAILED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

import org.tdplab.backend.tdx.module.TdxModule.Regs;

/**
 * GPA|level operands and the walks of the TD's S-EPT: the host leaves' walk, the guest's, and the entry lookup every
 * S-EPT leaf starts with. A walk answers a position ({@link #pos}) packed in a long, so that it allocates nothing;
 * bit 63 set means the walk stopped early, at that position.
 */
final class SeptWalk {
    private static final long RCX_RESERVED = 0xFFF0_0000_0000_0FF8L;
    private static final long WALK_FAILED = Long.MIN_VALUE;

    private final TdxModule m;
    private final SeptTree sept;
    private final TdChecks checks;

    SeptWalk(TdxModule m, TdChecks checks) {
        this.m = m;
        this.sept = m.sept;
        this.checks = checks;
    }

    // ---- operands ------------------------------------------------------------------------------------------------

    static long levelPages(int level) {
        return 1L << (9 * level);
    }

    static int level(long rcx) {
        return (int) (rcx & 7);
    }

    static long gpa(long rcx) {
        return rcx & TdxAbi.HPA_MASK;
    }

    /** A private GPA the TD can map: the shared bit and everything above it clear. */
    boolean privateGpa(long gpa) {
        return (gpa >>> m.sharedBit) == 0;
    }

    /** RCX = GPA|level: reserved bits clear, level in range, GPA aligned to the level, private and valid. */
    boolean validGpaLevel(long rcx, int minLevel, int maxLevel) {
        if ((rcx & RCX_RESERVED) != 0)
            return false;
        int l = level(rcx);
        if (l < minLevel || l > maxLevel)
            return false;
        long g = gpa(rcx);
        return (g & ((levelPages(l) << 12) - 1)) == 0 && privateGpa(g);
    }

    // ---- positions -----------------------------------------------------------------------------------------------

    static long pos(int page, int index, int level) {
        return ((long) page << 20) | ((long) index << 4) | level;
    }

    static int posPage(long pos) {
        return (int) ((pos & ~WALK_FAILED) >>> 20);
    }

    static int posIndex(long pos) {
        return (int) ((pos >>> 4) & 511);
    }

    static int posLevel(long pos) {
        return (int) (pos & 15);
    }

    static boolean failed(long pos) {
        return pos < 0;
    }

    // ---- walks ---------------------------------------------------------------------------------------------------

    /**
     * WALK(level) of the host leaves: from the root down through non-leaf entries to the entry of {@code level}.
     * Fails (bit 63 set, position of the entry where it stopped) on a non-present entry or a leaf above it. The host
     * walk goes through NL_BLOCKED entries [U].
     */
    long walk(long gfn, int level) {
        if (level != 0)
            return walkFromRoot(gfn, level);
        int leafPage = sept.walkedLeafPage(gfn); // remembered while no link changes
        if (leafPage != 0)
            return pos(leafPage, SeptTree.index(gfn, 0), 0);
        long pos = walkFromRoot(gfn, 0);
        if (pos >= 0)
            sept.walkedTo(gfn, posPage(pos));
        return pos;
    }

    /** {@link #walk} from the root, whatever the walks remember. */
    long walkFromRoot(long gfn, int level) {
        int page = m.rootPage;
        for (int l = m.eptLevels - 1;; l--) {
            int idx = SeptTree.index(gfn, l);
            if (l == level)
                return pos(page, idx, l);
            int s = SeptTree.state(sept.get(page, idx));
            if (!SeptState.isNonLeaf(s))
                return WALK_FAILED | pos(page, idx, l);
            page = sept.child(page, idx);
        }
    }

    /** The guest's walk: only NL_MAPPED leads further down. Stops at the target level or where it cannot go on. */
    long guestWalk(long gfn, int level) {
        int page = m.rootPage;
        for (int l = m.eptLevels - 1;; l--) {
            int idx = SeptTree.index(gfn, l);
            if (l == level)
                return pos(page, idx, l);
            if (SeptTree.state(sept.get(page, idx)) != NL_MAPPED)
                return WALK_FAILED | pos(page, idx, l);
            page = sept.child(page, idx);
        }
    }

    /** The position of the leaf (or the non-present entry) mapping {@code gfn}: the walk down to any leaf. */
    long walkToLeaf(long gfn) {
        int page = m.rootPage;
        for (int l = m.eptLevels - 1;; l--) {
            int idx = SeptTree.index(gfn, l);
            int s = SeptTree.state(sept.get(page, idx));
            if (!SeptState.isNonLeaf(s) || l == 0)
                return SeptState.isLeaf(s) ? pos(page, idx, l) : WALK_FAILED | pos(page, idx, l);
            page = sept.child(page, idx);
        }
    }

    /** The entry at a position. */
    long entry(long pos) {
        return sept.get(posPage(pos), posIndex(pos));
    }

    // ---- extended error output -----------------------------------------------------------------------------------

    /** The architectural view of an entry (extended error output RCX); FREE is all-zero but suppress-#VE (bit 63). */
    private static long archView(long e, int level) {
        int s = SeptTree.state(e);
        if (s == FREE)
            return 1L << 63;
        boolean rwx = s == NL_MAPPED || s == MAPPED;
        long ps = SeptState.isLeaf(s) && level > 0 ? 1L << 7 : 0;
        return SeptTree.hpa(e) | (rwx ? 7 : 0) | ps | (s == PENDING ? 1L << 63 : 0);
    }

    /** Extended error output: RCX = the entry, RDX = level | public state << 8 (vm = 0). */
    private void details(Regs out, long pos) {
        long e = entry(pos);
        out.rcx = archView(e, posLevel(pos));
        out.rdx = posLevel(pos) | ((long) SeptState.publicValue(SeptTree.state(e)) << 8);
    }

    long walkFailed(long pos, Regs out) {
        return entryError(pos, TDX_EPT_WALK_FAILED, out);
    }

    /** A leaf's failure on the entry at {@code pos}: {@code status} for operand RCX, the entry as extended output. */
    long entryError(long pos, long status, Regs out) {
        details(out, pos);
        return withOperand(status, OPERAND_RCX);
    }

    // ---- the entry an S-EPT leaf works on ------------------------------------------------------------------------

    /**
     * The start of every S-EPT entry leaf: the TD checks on the handle in RDX ({@link TdChecks#prologue}), then
     * {@link #locateEntry}. Returns the entry's position, or the failing status (negative).
     */
    long locateTdEntry(long rdx, long allowedLowBits, Seamcall leaf, long rcx, int minLevel, int maxLevel, Regs out) {
        long st = checks.prologue(rdx, OPERAND_RDX, allowedLowBits, leaf);
        return st != TDX_SUCCESS ? st : locateEntry(rcx, minLevel, maxLevel, out, false);
    }

    /**
     * {@link #locateTdEntry} for a leaf that holds the tree lock shared: the entry's lock is taken for real
     * ({@link SeptTree#tryLock}), and the leaf releases it.
     */
    long locateAndLockTdEntry(long rdx, long allowedLowBits, Seamcall leaf, long rcx, int minLevel, int maxLevel,
            Regs out) {
        long st = checks.prologue(rdx, OPERAND_RDX, allowedLowBits, leaf);
        return st != TDX_SUCCESS ? st : locateEntry(rcx, minLevel, maxLevel, out, true);
    }

    /**
     * {@link #locateAndLockTdEntry} for a leaf that changes its entry by one compare-and-set of the value it read
     * (TDH.MEM.PAGE.AUG, {@link SeptTree#commit}): the same checks in the same order, the same contention draws, and
     * the entry's lock looked at rather than taken — an entry another leaf holds is busy, as the try-lock would have
     * found it, and sets the host-priority bit. Returns the entry's position, or the failing status (negative).
     */
    long locateUnlockedTdEntry(long rdx, long allowedLowBits, Seamcall leaf, long rcx, int minLevel, int maxLevel,
            Regs out) {
        long st = checks.prologue(rdx, OPERAND_RDX, allowedLowBits, leaf);
        if (st != TDX_SUCCESS)
            return st;
        long pos = walkToEntry(rcx, minLevel, maxLevel, out);
        if (pos < 0)
            return pos;
        if (checks.busy() || (sept.get(posPage(pos), posIndex(pos)) & SeptTree.LOCKED) != 0)
            return entryBusy(pos, out);
        return pos;
    }

    /** A host leaf found the entry at {@code pos} held: it sets the host-priority bit and answers busy. */
    long entryBusy(long pos, Regs out) {
        sept.setHostPriority(posPage(pos), posIndex(pos));
        return entryError(pos, TDX_OPERAND_BUSY, out);
    }

    /**
     * What every S-EPT entry leaf does after its TD checks, in the spec's order: the GPA|level operand in
     * {@code [minLevel, maxLevel]}, the S-EPT tree lock, the host walk to the entry, the entry's own lock. Returns
     * the entry's position, or the failing status (error statuses have bit 63 set: negative).
     */
    long locateEntry(long rcx, int minLevel, int maxLevel, Regs out) {
        return locateEntry(rcx, minLevel, maxLevel, out, false);
    }

    private long locateEntry(long rcx, int minLevel, int maxLevel, Regs out, boolean shared) {
        long pos = walkToEntry(rcx, minLevel, maxLevel, out);
        if (pos < 0)
            return pos;
        long st = lockEntry(pos, out, shared);
        return st != TDX_SUCCESS ? st : pos;
    }

    /**
     * The GPA|level operand in {@code [minLevel, maxLevel]}, the S-EPT tree lock and the host walk to the entry:
     * its position, or the failing status (negative).
     */
    private long walkToEntry(long rcx, int minLevel, int maxLevel, Regs out) {
        if (!validGpaLevel(rcx, minLevel, maxLevel))
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        if (checks.busy())
            return withOperand(TDX_OPERAND_BUSY, OPERAND_SEPT_TREE);
        long pos = walk(gpa(rcx) >>> 12, level(rcx));
        return failed(pos) ? walkFailed(pos, out) : pos;
    }

    /**
     * Host try-lock of an entry: a failure sets the host-priority bit, a success clears it. Under the exclusive lock
     * no other leaf can hold the entry, so only the simulated contender can make it fail; under the shared lock the
     * entry's lock bit is taken too.
     */
    private long lockEntry(long pos, Regs out, boolean shared) {
        int page = posPage(pos), idx = posIndex(pos);
        if (shared) {
            if (checks.busy() || sept.tryLock(page, idx, true) < 0)
                return entryBusy(pos, out);
            return TDX_SUCCESS;
        }
        long e = sept.get(page, idx);
        if (checks.busy()) {
            sept.set(page, idx, e | SeptTree.HOST_PRIORITY);
            return entryError(pos, TDX_OPERAND_BUSY, out);
        }
        sept.set(page, idx, e & ~SeptTree.HOST_PRIORITY);
        return TDX_SUCCESS;
    }
}
