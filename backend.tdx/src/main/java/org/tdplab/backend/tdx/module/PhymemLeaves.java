package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.TdxAbi.KEYID_SHIFT;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_R8;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RDX;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_HPA_RANGE_NOT_FREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_LIFECYCLE_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_NO_PAMT_PAGE_PAIR;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_ADDR_RANGE_ERROR;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_METADATA_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAMT_PAGE_NOT_EMPTY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_ASSOCIATED_PAGES_EXIST;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

import org.tdplab.backend.tdx.module.TdxModule.Regs;

/**
 * The physical-page leaves, which take an HPA rather than a TD: TDH.PHYMEM.CACHE.WB, TDH.PHYMEM.PAGE.WBINVD and
 * TDH.PHYMEM.PAGE.RECLAIM, between which a TD's pages go back to the host with no stale lines of the TD's key; and
 * Dynamic PAMT's TDH.PHYMEM.PAMT.ADD and TDH.PHYMEM.PAMT.REMOVE (intel/tdx-module {@code tdh_phymem_pamt_*.c}).
 */
final class PhymemLeaves {
    private final TdxModule m;
    private final Pamt pamt;
    private final TdChecks checks;

    PhymemLeaves(TdxModule m, TdChecks checks) {
        this.m = m;
        this.pamt = m.pamt;
        this.checks = checks;
    }

    /**
     * TDH.PHYMEM.CACHE.WB: writes back and invalidates the package's caches (one package modelled), which lets a
     * blocked TD's KEY.FREEID go on. Host interrupts (INTERRUPTED_RESUMABLE) are not modelled.
     */
    long cacheWb() {
        pamt.flushAll();
        m.wbPending = false;
        return TDX_SUCCESS;
    }

    /**
     * TDH.PHYMEM.PAGE.WBINVD (leaf 41): RCX = HPA with the KeyID bits set. Writes back and invalidates the page's
     * lines of that KeyID. The page must be free in the PAMT.
     */
    long pageWbinvd(long rcx) {
        if ((rcx & 0xFFF) != 0 || (rcx >>> 52) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long pfn = (rcx & ((1L << KEYID_SHIFT) - 1)) >>> 12;
        int keyId = (int) (rcx >>> KEYID_SHIFT);
        if (pfn >= m.tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX);
        if (pamt.typeOf(pfn) != Pamt.PT_NDA)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        pamt.flush(pfn, keyId);
        return TDX_SUCCESS;
    }

    /**
     * TDH.PHYMEM.PAGE.RECLAIM (leaf 28): RCX = HPA (no KeyID). Takes a TD page back after the TD's HKID was
     * released (owner in TEARDOWN); the TDR last, once nothing else is owned. Outputs RCX = old page type, RDX =
     * owner TDR, R8 = page size.
     */
    long pageReclaim(long rcx, Regs out) {
        if ((rcx & 0xFFF) != 0 || (rcx >>> KEYID_SHIFT) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long pfn = rcx >>> 12;
        if (pfn >= m.tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX);
        long e = pamt.get(pfn);
        int type = Pamt.type(e);
        if (type == Pamt.PT_NDA || type == Pamt.PT_RSVD)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        int size = Pamt.size(e);
        if ((pfn & (Pamt.pages(size) - 1)) != 0) // [U: exact status for a misaligned large page]
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        if (m.lifecycle != TdxAbi.LC_TEARDOWN)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        if (type == Pamt.PT_TDR && m.chldcnt.sum() != 0)
            return TDX_TD_ASSOCIATED_PAGES_EXIST;
        out.rcx = type;
        out.rdx = m.tdrPfn << 12;
        out.r8 = size;
        if (type == Pamt.PT_TDR) {
            // the module used the TDR with its global KeyID: a WBINVD with that KeyID precedes its reuse
            pamt.free(pfn, Pamt.SIZE_4K, TdxAbi.GLOBAL_KEYID);
            m.tdrPfn = -1;
            m.lifecycle = TdxAbi.LC_NONE;
            return TDX_SUCCESS;
        }
        pamt.free(pfn, size, -1);
        m.chldcnt.add(-Pamt.pages(size));
        if (type == Pamt.PT_EPT) {
            int page = m.sept.pageAt(pfn);
            if (page != 0)
                m.sept.free(page);
        } else if (type == Pamt.PT_TDCX && m.rootPage != 0 && m.sept.framePfn(m.rootPage) == pfn) {
            m.sept.free(m.rootPage);
            m.rootPage = 0;
        }
        return TDX_SUCCESS;
    }

    /**
     * TDH.PHYMEM.PAMT.ADD (leaf 58): RCX = 2M-aligned HPA | level 1, RDX and R8 = two free 4K pages that become the
     * range's 4K PAMT entries (the 2M entry's type becomes PAMT).
     */
    long pamtAdd(long rcx, long rdx, long r8) {
        if (!pamt.dynamic())
            return TDX_OPERAND_INVALID; // operand RAX: the leaf does not exist without Dynamic PAMT
        long pfn = (rcx & ~0xFFFL) >>> 12;
        if ((rcx & 0xFFF) != Pamt.SIZE_2M || (rcx >>> KEYID_SHIFT) != 0 || (pfn & 511) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long st = checks.checkPairOperands(rdx, OPERAND_RDX, r8, OPERAND_R8);
        if (st != TDX_SUCCESS)
            return st;
        if (pfn >= m.tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX);
        if (pamt.pair(pfn) != null || Pamt.size(pamt.get(pfn)) > Pamt.SIZE_4K && pamt.typeOf(pfn) != Pamt.PT_NDA)
            return withOperand(TDX_HPA_RANGE_NOT_FREE, OPERAND_RCX);
        st = checks.checkPairFree(rdx, OPERAND_RDX, r8, OPERAND_R8);
        if (st != TDX_SUCCESS)
            return st;
        pamt.addPair(pfn, rdx >>> 12, r8 >>> 12);
        return TDX_SUCCESS;
    }

    /**
     * TDH.PHYMEM.PAMT.REMOVE (leaf 59): RCX = 2M-aligned HPA | level 1. Every 4K entry of the range must be NDA; the
     * pair goes back to the host in RDX and R8.
     */
    long pamtRemove(long rcx, Regs out) {
        if (!pamt.dynamic())
            return TDX_OPERAND_INVALID;
        long pfn = (rcx & ~0xFFFL) >>> 12;
        if ((rcx & 0xFFF) != Pamt.SIZE_2M || (rcx >>> KEYID_SHIFT) != 0 || (pfn & 511) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        if (pfn >= m.tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX);
        long[] pair = pamt.pair(pfn);
        if (pair == null)
            return withOperand(TDX_NO_PAMT_PAGE_PAIR, OPERAND_RCX);
        for (int i = 0; i < 512; i++)
            if (pamt.typeOf(pfn + i) != Pamt.PT_NDA)
                return withOperand(TDX_PAMT_PAGE_NOT_EMPTY, i / 256); // the operand is the pair's page, 0 or 1
        pamt.removePair(pfn);
        out.rdx = pair[0] << 12;
        out.r8 = pair[1] << 12;
        return TDX_SUCCESS;
    }
}
