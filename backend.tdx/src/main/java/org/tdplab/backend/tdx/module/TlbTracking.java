package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.SeptWalk.posIndex;
import static org.tdplab.backend.tdx.module.SeptWalk.posPage;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RDX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_SEPT_TREE;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_TD_EPOCH;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_GPA_RANGE_ALREADY_BLOCKED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_GPA_RANGE_NOT_BLOCKED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PREVIOUS_TLB_EPOCH_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TLB_TRACKING_NOT_DONE;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

import org.tdplab.backend.tdx.module.TdxModule.Regs;

/**
 * The TLB-tracking protocol (A.5): TDH.MEM.RANGE.BLOCK stamps an entry with the TD epoch, TDH.MEM.TRACK advances
 * the epoch, and an entry is retired once nobody runs in its blocking epoch any more. REMOVE, PROMOTE, DEMOTE and
 * UNBLOCK of a RUNNABLE TD ask here whether that happened.
 */
final class TlbTracking {
    private final TdxModule m;
    private final SeptTree sept;
    private final Pamt pamt;
    private final TdChecks checks;
    private final SeptWalk walk;

    TlbTracking(TdxModule m, TdChecks checks, SeptWalk walk) {
        this.m = m;
        this.sept = m.sept;
        this.pamt = m.pamt;
        this.checks = checks;
        this.walk = walk;
    }

    /** is_tracked(bepoch): the blocking epoch is retired (A.5). */
    private boolean isTracked(long bepoch) {
        return bepoch < m.tdEpoch - 1 || (bepoch == m.tdEpoch - 1 && m.lines.refcount((int) (bepoch & 1)) == 0);
    }

    /** Whether removing / changing an entry in this state needs BLOCK + TRACK now (RUNNABLE only, A.2). */
    private boolean trackingRequired(int state) {
        return m.opState == TdxAbi.OP_RUNNABLE && SeptState.tlbTrackingRequired(state);
    }

    /** The frame whose PAMT {@code bepoch} BLOCK stamps: the leaf's page, or the child S-EPT page of a non-leaf. */
    private static long blockedFrame(long e) {
        return SeptTree.hpa(e) >>> 12;
    }

    /**
     * The rows REMOVE, SEPT.REMOVE, PROMOTE and DEMOTE share: where tracking is required for the entry {@code e} (in
     * state {@code s}, at {@code pos}), it must be {@code blocked} in the leaf's sense and its blocking epoch tracked.
     */
    long checkBlockedAndTracked(long e, int s, boolean blocked, long pos, Regs out) {
        if (!trackingRequired(s))
            return TDX_SUCCESS;
        if (!blocked)
            return walk.entryError(pos, TDX_GPA_RANGE_NOT_BLOCKED, out);
        if (!isTracked(Pamt.bepoch(pamt.get(blockedFrame(e)))))
            return withOperand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX);
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.RANGE.BLOCK (leaf 7): RCX = GPA|level, RDX = TDR; SEPT tree exclusive. New walks no longer see the
     * entry; the page (or the child S-EPT page) is stamped with the current epoch. No TLB flush here.
     */
    long rangeBlock(long rcx, long rdx, Regs out) {
        long pos = walk.locateTdEntry(rdx, 0, Seamcall.TDH_MEM_RANGE_BLOCK, rcx, 0, m.eptLevels - 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (SeptState.anyBlocked(s))
            return TDX_GPA_RANGE_ALREADY_BLOCKED;
        if (!SeptState.allowed(SeptState.ALLOW_RANGE_BLOCK, s))
            return walk.entryError(pos, TDX_EPT_ENTRY_STATE_INCORRECT, out);
        sept.set(page, idx, SeptTree.withState(e, SeptState.blocked(s)));
        pamt.setBepoch(blockedFrame(e), m.tdEpoch);
        return TDX_SUCCESS;
    }

    /** TDH.MEM.RANGE.UNBLOCK (leaf 39): undoes BLOCK once the blocking epoch is tracked (RUNNABLE). */
    long rangeUnblock(long rcx, long rdx, Regs out) {
        long pos = walk.locateTdEntry(rdx, 0, Seamcall.TDH_MEM_RANGE_UNBLOCK, rcx, 0, m.eptLevels - 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_RANGE_UNBLOCK, s))
            return walk.entryError(pos, TDX_EPT_ENTRY_STATE_INCORRECT, out);
        if (trackingRequired(s) && !isTracked(Pamt.bepoch(pamt.get(blockedFrame(e)))))
            return withOperand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_SEPT_TREE);
        sept.set(page, idx, SeptTree.withState(e, SeptState.unblocked(s)));
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.TRACK (leaf 38): RCX = TDR. Needs nobody still running in the previous epoch; the TD epoch grows by
     * one. vCPUs already inside keep their epoch until they exit: the host must kick them.
     */
    long track(long rcx) {
        long st = checks.prologue(rcx, OPERAND_RCX, 0, Seamcall.TDH_MEM_TRACK);
        if (st != TDX_SUCCESS)
            return st;
        if (checks.busy())
            return withOperand(TDX_OPERAND_BUSY, OPERAND_TD_EPOCH);
        if (m.lines.refcount((int) ((m.tdEpoch - 1) & 1)) != 0)
            return TDX_PREVIOUS_TLB_EPOCH_BUSY;
        m.tdEpoch++;
        return TDX_SUCCESS;
    }
}
