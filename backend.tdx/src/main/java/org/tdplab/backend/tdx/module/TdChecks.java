package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_MISSING_PAMT_PAGE_PAIR;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_ADDR_RANGE_ERROR;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OP_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_METADATA_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_NOT_FREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TDCS_NOT_ALLOCATED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_FATAL;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_KEYS_NOT_CONFIGURED;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

/** The checks many leaves share: the TD handle prologue (A.2), a page the host hands over, and lock contention. */
final class TdChecks {
    private final TdxModule m;
    private final Pamt pamt;

    TdChecks(TdxModule m) {
        this.m = m;
        this.pamt = m.pamt;
    }

    /** Some vCPU is inside the TD: the only source of lock contention KVM has to handle (see {@link Contention}). */
    boolean busy() {
        if (!m.contention.injects())
            return false; // the common case: no scan of the vCPUs' lines on every try-lock
        boolean anyIn = false;
        for (int v = 0; v < m.vcpus.count && !anyIn; v++)
            anyIn = m.lines.inGuest(v);
        return m.contention.busy(anyIn);
    }

    /**
     * The common checks of every TD-scoped leaf (A.2): the TD handle names this TD's TDR (reserved bits clear, PAMT
     * type TDR), not fatal, keys configured, TDCS allocated, the leaf allowed in the OP_STATE.
     */
    long prologue(long tdHandle, int operand, long allowedLowBits, Seamcall leaf) {
        if ((tdHandle & ~TdxAbi.HPA_MASK & ~allowedLowBits) != 0)
            return withOperand(TDX_OPERAND_INVALID, operand);
        long pfn = (tdHandle & TdxAbi.HPA_MASK) >>> 12;
        if (m.tdrPfn < 0 || pfn != m.tdrPfn || pamt.typeOf(pfn) != Pamt.PT_TDR)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, operand);
        if (m.fatal)
            return TDX_TD_FATAL;
        if (m.lifecycle != TdxAbi.LC_KEYS_CONFIGURED)
            return TDX_TD_KEYS_NOT_CONFIGURED;
        if (m.tdcsAdded < TdxAbi.TDCS_PAGES)
            return TDX_TDCS_NOT_ALLOCATED;
        if (!leaf.allowedIn(m.opState))
            return TDX_OP_STATE_INCORRECT;
        return TDX_SUCCESS;
    }

    /**
     * A page the host hands over (new S-EPT page, PAGE.ADD / AUG target, control page): aligned with no KeyID bits,
     * inside a TDMR, PAMT NDA for every 4K page of it, and its PAMT entry lockable.
     */
    long checkNewPage(long hpa, int operand, int size, boolean injectBusy) {
        if ((hpa & ((Pamt.pages(size) << 12) - 1)) != 0 || (hpa >>> TdxAbi.KEYID_SHIFT) != 0)
            return withOperand(TDX_OPERAND_INVALID, operand);
        long pfn = hpa >>> 12;
        if (pfn + Pamt.pages(size) > m.tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, operand);
        if (pamt.dynamic()) {
            // the PAMT walk stops at a 2M entry without a pair; a huge page's 2M entries must be NDA, not PAMT
            if (size == Pamt.SIZE_4K && !pamt.has4kEntries(pfn))
                return withOperand(TDX_MISSING_PAMT_PAGE_PAIR, operand);
            for (long i = 0; size > Pamt.SIZE_4K && i < Pamt.pages(size); i += 512)
                if (pamt.pair(pfn + i) != null)
                    return withOperand(TDX_PAGE_METADATA_INCORRECT, operand);
            if (size == Pamt.SIZE_4K && pamt.isPairPage(pfn))
                return withOperand(TDX_PAGE_METADATA_INCORRECT, operand);
        }
        for (long i = 0; i < Pamt.pages(size); i++)
            if (pamt.typeOf(pfn + i) != Pamt.PT_NDA)
                return withOperand(TDX_PAGE_METADATA_INCORRECT, operand);
        if (injectBusy && busy())
            return withOperand(TDX_OPERAND_BUSY, operand);
        return TDX_SUCCESS;
    }

    /**
     * The operands of the pair Dynamic PAMT takes for a 2M range (TDH.PHYMEM.PAMT.ADD's RDX and R8, DEMOTE's R12 and
     * R13): each page 4K-aligned with no KeyID bits and inside a TDMR. Errors name the operand.
     */
    long checkPairOperands(long hpa0, int op0, long hpa1, int op1) {
        long st = pairPage(hpa0, op0);
        return st != TDX_SUCCESS ? st : pairPage(hpa1, op1);
    }

    /**
     * The pair's pages are free: NDA, not another range's pair page, and two distinct pages (a page of the range
     * itself has no 4K entry to be in use: the range has no pair yet). Errors name the operand.
     */
    long checkPairFree(long hpa0, int op0, long hpa1, int op1) {
        if (pamt.isPairPage(hpa0 >>> 12) || pamt.typeOf(hpa0 >>> 12) != Pamt.PT_NDA)
            return withOperand(TDX_PAGE_NOT_FREE, op0);
        if (hpa1 == hpa0 || pamt.isPairPage(hpa1 >>> 12) || pamt.typeOf(hpa1 >>> 12) != Pamt.PT_NDA)
            return withOperand(TDX_PAGE_NOT_FREE, op1);
        return TDX_SUCCESS;
    }

    /** A pair's page: 4K-aligned, no KeyID bits, inside a TDMR. */
    private long pairPage(long hpa, int operand) {
        if ((hpa & 0xFFF) != 0 || (hpa >>> TdxAbi.KEYID_SHIFT) != 0)
            return withOperand(TDX_OPERAND_INVALID, operand);
        if ((hpa >>> 12) >= m.tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, operand);
        return TDX_SUCCESS;
    }
}
