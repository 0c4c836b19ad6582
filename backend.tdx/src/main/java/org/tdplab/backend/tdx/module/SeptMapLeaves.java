package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.SeptState.FREE;
import static org.tdplab.backend.tdx.module.SeptState.MAPPED;
import static org.tdplab.backend.tdx.module.SeptState.NL_BLOCKED;
import static org.tdplab.backend.tdx.module.SeptState.NL_MAPPED;
import static org.tdplab.backend.tdx.module.SeptState.PENDING;
import static org.tdplab.backend.tdx.module.SeptWalk.failed;
import static org.tdplab.backend.tdx.module.SeptWalk.gpa;
import static org.tdplab.backend.tdx.module.SeptWalk.level;
import static org.tdplab.backend.tdx.module.SeptWalk.levelPages;
import static org.tdplab.backend.tdx.module.SeptWalk.posIndex;
import static org.tdplab.backend.tdx.module.SeptWalk.posPage;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_R12;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_R13;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_R8;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_R9;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RDX;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_FREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_LEAF;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_NOT_FREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_NOT_LEAF;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_INVALID_PROMOTE_CONDITIONS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_PAGE_NOT_FREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

import org.tdplab.backend.tdx.module.TdxModule.Regs;
import org.tdplab.backend.tdx.module.TdxAbi.Version;
import org.tdplab.percpu.PercpuCounters;

/**
 * The leaves that change S-EPT mappings: TDH.MEM.SEPT.ADD / REMOVE for S-EPT pages, TDH.MEM.PAGE.ADD (build time) /
 * AUG / REMOVE for the TD's private pages, and TDH.MEM.PAGE.PROMOTE / DEMOTE, which change a mapping's page size in
 * place. Each is check-then-commit, rows in the spec's order; BLOCK and TRACK are {@link TlbTracking}'s.
 */
final class SeptMapLeaves {
    private final TdxModule m;
    private final SeptTree sept;
    private final Pamt pamt;
    private final TdChecks checks;
    private final SeptWalk walk;
    private final TlbTracking tracking;
    private final Measurement measurement;

    SeptMapLeaves(TdxModule m, TdChecks checks, SeptWalk walk, TlbTracking tracking, Measurement measurement) {
        this.m = m;
        this.sept = m.sept;
        this.pamt = m.pamt;
        this.checks = checks;
        this.walk = walk;
        this.tracking = tracking;
        this.measurement = measurement;
    }

    /**
     * TDH.MEM.SEPT.ADD (leaf 3): RCX = GPA|level (1 … levels−1), RDX = TD handle (bit 0 allow_existing), R8 = the
     * new S-EPT page. The entry at {@code level} becomes NL_MAPPED → the new page of level − 1, all FREE.
     */
    long septAdd(long rcx, long rdx, long r8, Regs out, PercpuCounters.Row held) {
        if ((rdx & ~TdxAbi.HPA_MASK & ~1L) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RDX);
        int lvl = level(rcx);
        long gfn = gpa(rcx) >>> 12;
        long pos = walk.locateAndLockTdEntry(rdx, 1, Seamcall.TDH_MEM_SEPT_ADD, rcx, 1, m.eptLevels - 1, out);
        if (pos < 0)
            return pos;
        return linkNewPage(posPage(pos), posIndex(pos), lvl, gfn, rdx, r8, pos, out, held);
    }

    /**
     * SEPT.ADD's work on the entry it holds locked, which it releases: the new page is allocated and filled in, then
     * linked by the entry's release store, so that another vCPU's walk that reads the link finds the page
     * ({@link SeptTree}).
     */
    private long linkNewPage(int page, int idx, int lvl, long gfn, long rdx, long r8, long pos, Regs out,
            PercpuCounters.Row held) {
        int s = SeptTree.state(sept.get(page, idx));
        long st = s == NL_MAPPED && (rdx & 1) != 0 ? TDX_SUCCESS // allow_existing: the new page stays unused
                : !SeptState.allowed(SeptState.ALLOW_SEPT_ADD, s) ? notFree(pos, out)
                : checks.checkNewPage(r8, OPERAND_R8, Pamt.SIZE_4K, true);
        if (st != TDX_SUCCESS || s == NL_MAPPED) {
            sept.unlock(page, idx);
            return st;
        }
        long newPfn = r8 >>> 12;
        sept.setChild(page, idx, sept.alloc(lvl - 1, gfn & -levelPages(lvl), newPfn));
        pamt.setShared(newPfn, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_EPT, Pamt.SIZE_4K, TdxAbi.TD_ID, 0));
        m.chldcnt.add(held, 1);
        sept.setUnlocked(page, idx, SeptTree.entry(NL_MAPPED, r8));
        return TDX_SUCCESS;
    }

    /** SEPT.ADD's and PAGE.ADD's answer for an entry in use, which 1.0 and 1.5 name differently. */
    private long notFree(long pos, Regs out) {
        return walk.entryError(pos, m.version == Version.V1_0 ? TDX_EPT_ENTRY_NOT_FREE : TDX_EPT_ENTRY_STATE_INCORRECT,
                out);
    }

    /**
     * TDH.MEM.PAGE.ADD (leaf 2), build time only: RCX = GPA (level 0), RDX = TDR (locked exclusively), R8 = the
     * target page, R9 = the source page (shared memory). Copies the source with the TD key, MAPPED, extends MRTD.
     */
    long pageAdd(long rcx, long rdx, long r8, long r9, Regs out) {
        long st = checks.prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MEM_PAGE_ADD);
        if (st != TDX_SUCCESS)
            return st;
        if (!walk.validGpaLevel(rcx, 0, 0))
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long gfn = gpa(rcx) >>> 12;
        long pos = walk.walk(gfn, 0);
        if (failed(pos))
            return walk.walkFailed(pos, out);
        int page = posPage(pos), idx = posIndex(pos);
        int s = SeptTree.state(sept.get(page, idx));
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_ADD, s))
            return notFree(pos, out);
        if ((r9 & 0xFFF) != 0 || (r9 >>> TdxAbi.KEYID_SHIFT) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_R9);
        st = checks.checkNewPage(r8, OPERAND_R8, Pamt.SIZE_4K, true);
        if (st != TDX_SUCCESS)
            return st;
        long target = r8 >>> 12;
        m.frames.write(target, m.frames.read(r9 >>> 12));
        sept.set(page, idx, SeptTree.entry(MAPPED, r8));
        measurement.measure(Seamcall.TDH_MEM_PAGE_ADD.leaf(), gpa(rcx));
        m.chldcnt.add(1);
        pamt.set(target, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_REG, Pamt.SIZE_4K, TdxAbi.TD_ID, 0));
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.AUG (leaf 6): RCX = GPA|level (0 or 1), RDX = TDR, R8 = the page (aligned to the level). The
     * entry becomes PENDING; the page is not zeroed until the guest accepts it.
     */
    long pageAug(long rcx, long rdx, long r8, Regs out, PercpuCounters.Row held) {
        int lvl = level(rcx);
        long pos = walk.locateUnlockedTdEntry(rdx, 0, Seamcall.TDH_MEM_PAGE_AUG, rcx, 0, 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long pending = SeptTree.entry(PENDING, r8);
        // The entry's lock held from the walk to the PENDING store, as the module holds it, excludes the leaves that
        // share the tree lock on this entry: the guest's ACCEPT (which reads it FREE and exits, or backs off) and
        // another host leaf. Taking it and letting it go are two atomics per fault; the checks below read nothing the
        // entry's lock guards but the entry, so the AUG reads the entry once, checks, and stores PENDING only if the
        // entry is still what it read (SeptTree#commit): the same answers, as if the lock had been held throughout.
        boolean checked = false;
        for (long e = sept.get(page, idx);; e = sept.get(page, idx)) {
            if ((e & SeptTree.LOCKED) != 0) // another leaf took it after the walk looked
                return walk.entryBusy(pos, out);
            long st = !SeptState.allowed(SeptState.ALLOW_PAGE_AUG, SeptTree.state(e))
                    ? walk.entryError(pos, TDX_EPT_ENTRY_STATE_INCORRECT, out)
                    : checked ? TDX_SUCCESS : checks.checkNewPage(r8, OPERAND_R8, lvl, true);
            if (st != TDX_SUCCESS) {
                // the host that got the entry's lock cleared its host-priority bit, and letting it go kept that
                if ((e & SeptTree.HOST_PRIORITY) != 0)
                    sept.commit(page, idx, e, e & ~SeptTree.HOST_PRIORITY);
                return st;
            }
            checked = true;
            if (sept.commit(page, idx, e, pending))
                break;
        }
        // the page's PAMT entry and the TD's count after the entry: no leaf that reads them runs until the tree lock
        // is let go (they hold it exclusively), and other AUGs run at once (the tree lock is shared)
        m.chldcnt.add(held, levelPages(lvl));
        pamt.setShared(r8 >>> 12, lvl, Pamt.entry(Pamt.PT_REG, lvl, TdxAbi.TD_ID, 0));
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.REMOVE (leaf 29): RCX = GPA|level (0 … 2), RDX = TDR; SEPT tree shared. While RUNNABLE the
     * leaf must be blocked and its blocking epoch tracked. The entry becomes FREE; the page goes back to the host
     * still encrypted with the TD key (it needs a WBINVD with the HKID and a clear before reuse). RCX = its HPA.
     */
    long pageRemove(long rcx, long rdx, Regs out) {
        int lvl = level(rcx);
        long pos = walk.locateTdEntry(rdx, 0, Seamcall.TDH_MEM_PAGE_REMOVE, rcx, 0, 2, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_REMOVE, s)) // TDX 1.0 names the case ([U] for FREE)
            return walk.entryError(pos, m.version == Version.V1_5 ? TDX_EPT_ENTRY_STATE_INCORRECT
                    : SeptState.isNonLeaf(s) ? TDX_EPT_ENTRY_NOT_LEAF : TDX_EPT_ENTRY_FREE, out);
        if (checks.busy()) // the removed page's PAMT entry, exclusive
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX);
        long pfn = SeptTree.hpa(e) >>> 12;
        long st = tracking.checkBlockedAndTracked(e, s, SeptState.anyBlocked(s), pos, out);
        if (st != TDX_SUCCESS)
            return st;
        sept.set(page, idx, SeptTree.entry(FREE, 0));
        m.chldcnt.add(-levelPages(lvl));
        pamt.free(pfn, lvl, m.hkid);
        out.rcx = SeptTree.hpa(e);
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.SEPT.REMOVE (leaf 30): RCX = GPA|level (1 … levels−1) of the entry that links an S-EPT page; SEPT tree
     * exclusive. Every child entry must be FREE, which forces leaf-first teardown. RCX = the freed page's HPA.
     */
    long septRemove(long rcx, long rdx, Regs out) {
        long pos = walk.locateTdEntry(rdx, 0, Seamcall.TDH_MEM_SEPT_REMOVE, rcx, 1, m.eptLevels - 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_SEPT_REMOVE, s)) // 1.0's names [U]
            return walk.entryError(pos, m.version == Version.V1_5 ? TDX_EPT_ENTRY_STATE_INCORRECT
                    : SeptState.isLeaf(s) ? TDX_EPT_ENTRY_LEAF : TDX_EPT_ENTRY_FREE, out);
        if (checks.busy()) // the child page's PAMT entry
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX);
        long st = tracking.checkBlockedAndTracked(e, s, s == NL_BLOCKED, pos, out);
        if (st != TDX_SUCCESS)
            return st;
        int child = sept.child(page, idx);
        if (!sept.allFree(child))
            return withOperand(m.version == Version.V1_5 ? TDX_EPT_PAGE_NOT_FREE : TDX_EPT_ENTRY_NOT_FREE,
                    OPERAND_RCX);
        out.rcx = replaceLink(page, idx, e, SeptTree.entry(FREE, 0));
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.PROMOTE (leaf 23): RCX = GPA|level (1 → 2M leaf, 2 → 1G leaf). The 512 children must be uniform
     * MAPPED or PENDING leaves of one aligned contiguous page; they become one leaf and the child S-EPT page is freed
     * (RCX = its HPA). Host interrupts (INTERRUPTED_RESTARTABLE) and PAMT merge failures are not modelled.
     */
    long promote(long rcx, long rdx, Regs out) {
        int lvl = level(rcx);
        long pos = walk.locateTdEntry(rdx, 0, Seamcall.TDH_MEM_PAGE_PROMOTE, rcx, 1, Math.min(2, m.eptLevels - 1), out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_PROMOTE, s))
            return walk.entryError(pos, TDX_EPT_ENTRY_STATE_INCORRECT, out);
        long st = tracking.checkBlockedAndTracked(e, s, s == NL_BLOCKED, pos, out);
        if (st != TDX_SUCCESS)
            return st;
        if (checks.busy()) // host locks of the 512 child entries
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX);
        int child = sept.child(page, idx);
        long c0 = sept.get(child, 0);
        int s0 = SeptTree.state(c0);
        long base = SeptTree.hpa(c0);
        long childBytes = levelPages(lvl - 1) << 12;
        boolean ok = (s0 == MAPPED || s0 == PENDING) && (base & ((levelPages(lvl) << 12) - 1)) == 0;
        for (int i = 1; ok && i < 512; i++) {
            long c = sept.get(child, i);
            ok = SeptTree.state(c) == s0 && SeptTree.hpa(c) == base + i * childBytes;
        }
        if (!ok)
            return withOperand(TDX_EPT_INVALID_PROMOTE_CONDITIONS, OPERAND_RCX);
        long childHpa = replaceLink(page, idx, e, SeptTree.entry(s0, base));
        pamt.set(base >>> 12, lvl, Pamt.entry(Pamt.PT_REG, lvl, TdxAbi.TD_ID, 0));
        out.rcx = childHpa;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.DEMOTE (leaf 15; {@code tdh_mem_page_demote.c} of the 1.5 module): RCX = GPA|level (1 or 2) of a
     * large leaf, R8 = a new S-EPT page. Rows in the source's order: the TD handle, the operand, the SEPT tree
     * (shared), the walk, the entry lock, the state (MAPPED, BLOCKED, PENDING, PENDING_BLOCKED), blocked and tracked
     * while RUNNABLE, the new page (4K, NDA, its PAMT lock: errors name R8), then the PAMT split of the large page
     * ({@code pamt_demote}: its PAMT entry's exclusive lock, BUSY naming RCX). The leaf becomes NL_MAPPED → the new
     * page, holding 512 smaller leaves in the unblocked form of its state — no UNBLOCK follows — with strided HPAs;
     * the 512 PAMT entries take the large page's type and owner at the smaller size, their {@code bepoch} 0; the new
     * page is PT_EPT and {@code chldcnt} grows by one. Not modelled: TDX_INTERRUPTED_RESTARTABLE (KVM's huge page
     * series requires a module with ENHANCED_DEMOTE_INTERRUPTIBILITY, which never returns it for a TD without L2
     * VMs), the L2 alias pages of R9–R11, and the accept counter of a partly accepted PENDING 2M page.
     *
     * <p>With Dynamic PAMT a 2M page's DEMOTE also does PAMT.ADD's part for the page's own 2M range: R12 and R13 are
     * the pair its 512 new 4K PAMT entries live in (checked after the new page, as PAMT.ADD checks its pair). A 1G
     * page's DEMOTE makes 2M entries and takes no pair.
     */
    long demote(long rcx, long rdx, long r8, long r12, long r13, Regs out) {
        if ((rdx & ~TdxAbi.HPA_MASK & ~1L) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RDX);
        int lvl = level(rcx);
        long gfn = gpa(rcx) >>> 12;
        long pos = walk.locateTdEntry(rdx, 1, Seamcall.TDH_MEM_PAGE_DEMOTE, rcx, 1, Math.min(2, m.eptLevels - 1), out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_DEMOTE, s))
            return walk.entryError(pos, m.version == Version.V1_0 && !SeptState.isLeaf(s) ? TDX_EPT_ENTRY_NOT_LEAF
                    : TDX_EPT_ENTRY_STATE_INCORRECT, out);
        long base = SeptTree.hpa(e);
        long st = tracking.checkBlockedAndTracked(e, s, SeptState.anyBlocked(s), pos, out);
        if (st != TDX_SUCCESS)
            return st;
        st = checks.checkNewPage(r8, OPERAND_R8, Pamt.SIZE_4K, true);
        if (st != TDX_SUCCESS)
            return st;
        boolean pair = pamt.dynamic() && lvl == 1;
        if (pair && (st = demotePair(r12, r13)) != TDX_SUCCESS)
            return st;
        if (checks.busy()) // pamt_demote: the large page's PAMT entry, exclusive
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX);
        if (pair)
            pamt.addPair(base >>> 12, r12 >>> 12, r13 >>> 12);
        int small = SeptState.unblocked(s);
        long childPages = levelPages(lvl - 1);
        int child = sept.alloc(lvl - 1, gfn & -levelPages(lvl), r8 >>> 12);
        for (int i = 0; i < 512; i++) {
            sept.set(child, i, SeptTree.entry(small, base + ((i * childPages) << 12)));
            pamt.set((base >>> 12) + i * childPages, lvl - 1, Pamt.entry(Pamt.PT_REG, lvl - 1, TdxAbi.TD_ID, 0));
        }
        sept.set(page, idx, SeptTree.entry(NL_MAPPED, r8));
        sept.setChild(page, idx, child);
        pamt.set(r8 >>> 12, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_EPT, Pamt.SIZE_4K, TdxAbi.TD_ID, 0));
        m.chldcnt.add(1);
        return TDX_SUCCESS;
    }

    /**
     * The pair a 2M page's DEMOTE takes with Dynamic PAMT, checked as PAMT.ADD checks its own. PAMT.ADD's check of
     * the range has no counterpart: a 2M page's range cannot have a pair (its AUG needs none there, and PAMT.ADD
     * refuses a range whose 2M entry is in use).
     */
    private long demotePair(long r12, long r13) {
        long st = checks.checkPairOperands(r12, OPERAND_R12, r13, OPERAND_R13);
        return st != TDX_SUCCESS ? st : checks.checkPairFree(r12, OPERAND_R12, r13, OPERAND_R13);
    }

    /**
     * How SEPT.REMOVE and PROMOTE end: the non-leaf entry {@code e} at {@code page, idx} becomes {@code replacement}
     * and the S-EPT page it linked goes back to the host (its PAMT entry waits for a WBINVD with the HKID). Returns
     * that page's HPA.
     */
    private long replaceLink(int page, int idx, long e, long replacement) {
        long childPfn = SeptTree.hpa(e) >>> 12;
        int child = sept.child(page, idx);
        sept.set(page, idx, replacement);
        sept.setChild(page, idx, 0);
        sept.free(child);
        m.chldcnt.add(-1);
        pamt.free(childPfn, Pamt.SIZE_4K, m.hkid);
        return childPfn << 12;
    }
}
