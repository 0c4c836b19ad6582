package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.SeptState.FREE;
import static org.tdplab.backend.tdx.module.SeptState.MAPPED;
import static org.tdplab.backend.tdx.module.SeptState.PENDING;
import static org.tdplab.backend.tdx.module.SeptWalk.failed;
import static org.tdplab.backend.tdx.module.SeptWalk.gpa;
import static org.tdplab.backend.tdx.module.SeptWalk.level;
import static org.tdplab.backend.tdx.module.SeptWalk.levelPages;
import static org.tdplab.backend.tdx.module.SeptWalk.posIndex;
import static org.tdplab.backend.tdx.module.SeptWalk.posLevel;
import static org.tdplab.backend.tdx.module.SeptWalk.posPage;
import static org.tdplab.backend.tdx.module.TdxAbi.G_EPT_VIOLATION;
import static org.tdplab.backend.tdx.module.TdxAbi.G_NOT_ENTERED;
import static org.tdplab.backend.tdx.module.TdxAbi.G_PENDING_EXIT;
import static org.tdplab.backend.tdx.module.TdxAbi.G_VE;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY_HOST_PRIORITY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_ALREADY_ACCEPTED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_SIZE_MISMATCH;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

/**
 * The guest side of the TD: vCPUs entering and leaving it (the epoch refcounts TDH.MEM.TRACK waits on), the
 * hardware's S-EPT walk for guest accesses, and TDG.MEM.PAGE.ACCEPT.
 */
final class GuestSide {
    private final TdxModule m;
    private final SeptTree sept;
    private final SeptWalk walk;

    GuestSide(TdxModule m, SeptWalk walk) {
        this.m = m;
        this.sept = m.sept;
        this.walk = walk;
    }

    /** TDH.VP.ENTER's epoch part (A.5): counted in the current epoch; a stale vCPU epoch flushes the TD's EPT TLB. */
    private boolean enter(int v, boolean mayEnter) {
        if (m.lines.inGuest(v))
            return true;
        if (!mayEnter || m.opState != TdxAbi.OP_RUNNABLE || m.lifecycle != TdxAbi.LC_KEYS_CONFIGURED
                || !m.vcpus.initialized[v])
            return false;
        m.lines.addRef(v, (int) (m.tdEpoch & 1), 1);
        boolean stale = m.lines.epoch(v) != m.tdEpoch;
        if (stale)
            m.lines.setEpoch(v, m.tdEpoch);
        m.lines.setInGuest(v, true);
        m.lines.entered(v);
        m.lines.counted(v, stale);
        return true;
    }

    /** A TD exit to the host as an EPT violation, with its extended exit qualification. */
    private void exitWith(int v, long eeq) {
        m.lines.setExtExitQual(v, eeq);
        exit(v);
    }

    /**
     * {@code tdaccept_ept_violation_exit}: an ACCEPT the host must act on exits with type ACCEPT, the requested
     * level and the level where the walk stopped.
     */
    private void acceptExit(int v, int requested, long pos) {
        exitWith(v, TdxAbi.EEQ_ACCEPT | ((long) requested << 32) | ((long) posLevel(pos) << 35));
    }

    /** A TD exit of vCPU {@code v} (any reason): it no longer counts in its epoch. */
    void exit(int v) {
        if (!m.lines.inGuest(v))
            return;
        m.lines.addRef(v, (int) (m.lines.epoch(v) & 1), -1);
        m.lines.setInGuest(v, false);
    }

    /** See {@link TdxModule#guestTranslate}. Allocation-free. */
    long translate(int v, long gfn, boolean write, boolean mayEnter) {
        if (!enter(v, mayEnter))
            return G_NOT_ENTERED;
        long r = SeptCpuWalk.walk(m, gfn, write);
        if (r >= 0)
            return r;
        if (SeptCpuWalk.stoppedAt(r) == PENDING) {
            if ((m.attributes & TdxAbi.ATTR_SEPT_VE_DISABLE) == 0)
                return G_VE;
            exitWith(v, TdxAbi.EEQ_PENDING_EPT_VIOLATION);
            return G_PENDING_EXIT;
        }
        exitWith(v, TdxAbi.EEQ_NONE); // FREE, NL_BLOCKED, BLOCKED, PENDING_BLOCKED …: an EPT violation
        return G_EPT_VIOLATION;
    }

    /**
     * TDG.MEM.PAGE.ACCEPT (TDCALL 6) on vCPU {@code v}: RCX = GPA|level (0 or 1). On success the page is zeroed with
     * the TD key and MAPPED (its HPA is then {@link TdxModule#acceptedHpa(int)}). Where the page is missing or not
     * acceptable the TD exits to the host ({@link TdxStatus#MODEL_TD_EXIT_EPT_VIOLATION}); the guest re-executes.
     * A 2M accept is done in one go (guest interrupts, and so the accept counter, are not modelled).
     */
    long accept(int v, long rcx, boolean mayEnter) {
        if (!enter(v, mayEnter))
            return TdxStatus.MODEL_NOT_ENTERED;
        if (!walk.validGpaLevel(rcx, 0, 1))
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        int lvl = level(rcx);
        long pos = lvl == 0 ? walk4k(v, gpa(rcx) >>> 12) : walk.guestWalk(gpa(rcx) >>> 12, lvl);
        long e = walk.entry(pos);
        int s = SeptTree.state(e);
        if (failed(pos)) {
            // stopped above the requested level
            if (SeptState.isGuestAccessibleLeaf(s))
                return withOperand(TDX_PAGE_ALREADY_ACCEPTED, posLevel(pos));
            acceptExit(v, lvl, pos); // a missing table, or a larger leaf not (yet) accessible: PENDING, BLOCKED
            return TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION;
        }
        if ((e & (SeptTree.LOCKED | SeptTree.HOST_PRIORITY)) == 0 && !SeptState.allowed(SeptState.ALLOW_ACCEPT, s))
            return refusal(v, lvl, pos, s); // decided on the one read: the entry stays as it is (see refusal)
        int page = posPage(pos), idx = posIndex(pos);
        e = sept.tryLock(page, idx, false); // the guest's lock of the entry; AUGs of other entries run meanwhile
        if (e < 0) // a host SEAMCALL waits for this entry, or holds it: back off
            return withOperand((sept.get(page, idx) & SeptTree.HOST_PRIORITY) != 0 ? TDX_OPERAND_BUSY_HOST_PRIORITY
                    : TDX_OPERAND_BUSY, OPERAND_RCX);
        long st = acceptLocked(v, lvl, pos, e, gpa(rcx) >>> 12);
        if (st != TDX_SUCCESS)
            sept.unlock(page, idx);
        return st;
    }

    /**
     * {@link SeptWalk#guestWalk} to the 4K entry of {@code gfn}, from the page of 4K entries vCPU {@code v}'s last
     * walk reached there while no link changed since ({@link SeptTree#linkGeneration}): that walk went through
     * NL_MAPPED links only, and they still are, so the walk would end at that page again. An ACCEPT that exits for
     * its page's AUG and the ACCEPT that follows it walk the upper levels once. The real module walks each time; the
     * position is the same.
     *
     * <p>A walk from the root here also tells the host walks' memory of this thread ({@link SeptTree#walkedTo}): the
     * guest's walk went through NL_MAPPED links only, and the host's walk, which goes through any non-leaf entry,
     * reaches the same page. The vCPU's thread is the one that then runs the fault and its TDH.MEM.PAGE.AUG, so the
     * AUG of a page in another 2M region than the last (nearly every fault in random order) walks from the root no
     * more: one walk for the exit, the AUG and the ACCEPT after it, where there were two.
     */
    private long walk4k(int v, long gfn) {
        long generation = sept.linkGeneration();
        int page = m.lines.walkedPage(v, gfn, generation);
        if (page != 0)
            return SeptWalk.pos(page, SeptTree.index(gfn, 0), 0);
        long pos = walk.guestWalk(gfn, 0);
        if (!failed(pos)) {
            m.lines.walked(v, gfn, posPage(pos), generation);
            sept.walkedTo(gfn, posPage(pos));
        }
        return pos;
    }

    /**
     * The rest of an ACCEPT of the page at {@code gfn}, holding the entry {@code e}'s lock; a success stores the MAPPED
     * entry, releasing it.
     */
    private long acceptLocked(int v, int lvl, long pos, long e, long gfn) {
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_ACCEPT, s))
            return refusal(v, lvl, pos, s);
        long pfn = SeptTree.hpa(e) >>> 12;
        for (long i = 0; i < levelPages(lvl); i++) {
            if (m.frames.read(pfn + i) != 0) // a page that reads zero already needs no store
                m.frames.write(pfn + i, 0);
            m.frames.zeroedForGuest(gfn + i);
        }
        m.lines.setAcceptedHpa(v, SeptTree.hpa(e));
        sept.setUnlocked(posPage(pos), posIndex(pos), SeptTree.withState(e, MAPPED));
        return TDX_SUCCESS;
    }

    /**
     * The answer of an ACCEPT to an entry in state {@code s} it does not accept (not PENDING): a non-leaf is a size
     * mismatch, a guest-accessible leaf is accepted already, anything else (FREE, blocked, …) makes the TD exit for the
     * host to act. None of them changes the entry, so an ACCEPT that reads it neither locked nor wanted by a host (the
     * lock bit and the host-priority bit clear) answers from that one read, without taking and releasing the entry's
     * lock: the module would have taken it at that read, decided the same, and let it go, no other leaf between (the
     * guest's entry lock has no simulated contention). The first ACCEPT of every fault meets a FREE entry.
     */
    private long refusal(int v, int lvl, long pos, int s) {
        if (s != FREE && SeptState.isNonLeaf(s))
            return withOperand(TDX_PAGE_SIZE_MISMATCH, lvl);
        if (SeptState.isGuestAccessibleLeaf(s))
            return withOperand(TDX_PAGE_ALREADY_ACCEPTED, lvl);
        acceptExit(v, lvl, pos);
        return TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION;
    }

    /** For the host's kick: each vCPU's entry count if it is inside the TD, else -1; whether any vCPU is inside. */
    boolean snapshotEntries(long[] snapshot) {
        boolean anyInside = false;
        for (int v = 0; v < m.vcpus.count; v++) {
            boolean inside = m.lines.inGuest(v);
            snapshot[v] = inside ? m.lines.enterSeq(v) : -1;
            anyInside |= inside;
        }
        return anyInside;
    }

    /** See {@link TdxModule#exitedSince}. */
    void exitedSince(long[] snapshot) {
        for (int v = 0; v < m.vcpus.count; v++)
            if (m.lines.inGuest(v) && snapshot[v] == m.lines.enterSeq(v))
                exit(v);
    }

    /** Every vCPU leaves the TD (teardown). */
    void exitAll() {
        for (int v = 0; v < m.vcpus.count; v++)
            exit(v);
    }
}
