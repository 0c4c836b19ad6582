package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.TdxAbi.LC_BLOCKED;
import static org.tdplab.backend.tdx.module.TdxAbi.LC_HKID_ASSIGNED;
import static org.tdplab.backend.tdx.module.TdxAbi.LC_KEYS_CONFIGURED;
import static org.tdplab.backend.tdx.module.TdxAbi.LC_NONE;
import static org.tdplab.backend.tdx.module.TdxAbi.LC_TEARDOWN;
import static org.tdplab.backend.tdx.module.TdxAbi.TDCS_PAGES;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RDX;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_FLUSHVP_NOT_DONE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_LIFECYCLE_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OP_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_METADATA_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TDCS_NOT_ALLOCATED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_FATAL;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_KEYS_NOT_CONFIGURED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_WBCACHE_NOT_COMPLETE;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

/**
 * The leaves that build and tear down the TD and its vCPUs: TDH.MNG.CREATE / KEY.CONFIG / ADDCX / INIT /
 * VPFLUSHDONE / KEY.FREEID and TDH.VP.CREATE / ADDCX / INIT / FLUSH. They walk the TDR lifecycle
 * NONE → HKID_ASSIGNED → KEYS_CONFIGURED → BLOCKED → TEARDOWN; TDH.PHYMEM.PAGE.RECLAIM ends it.
 */
final class LifecycleLeaves {
    private final TdxModule m;
    private final Pamt pamt;
    private final TdChecks checks;

    LifecycleLeaves(TdxModule m, TdChecks checks) {
        this.m = m;
        this.pamt = m.pamt;
        this.checks = checks;
    }

    /** TDH.MNG.CREATE: RCX = the new TDR page, RDX = the HKID. Lifecycle → HKID_ASSIGNED. */
    long mngCreate(long tdrPa, int newHkid) {
        long st = checks.checkNewPage(tdrPa, OPERAND_RCX, Pamt.SIZE_4K, false);
        if (st != TDX_SUCCESS)
            return st;
        if (newHkid <= TdxAbi.GLOBAL_KEYID || newHkid > TdxAbi.MAX_HKID)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RDX);
        if (m.lifecycle != LC_NONE) // one TD per module instance (see TdxModule)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        m.tdrPfn = tdrPa >>> 12;
        pamt.set(m.tdrPfn, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_TDR, Pamt.SIZE_4K, TdxAbi.TD_ID, 0));
        m.hkid = newHkid;
        m.lifecycle = LC_HKID_ASSIGNED;
        return TDX_SUCCESS;
    }

    /** The TDR operand of the leaves that run before (or without) the full TD prologue. */
    private long tdrOnly(long tdr, int operand) {
        if ((tdr & ~TdxAbi.HPA_MASK) != 0)
            return withOperand(TDX_OPERAND_INVALID, operand);
        if (m.tdrPfn < 0 || (tdr >>> 12) != m.tdrPfn || pamt.typeOf(m.tdrPfn) != Pamt.PT_TDR)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, operand);
        return TDX_SUCCESS;
    }

    /** A lifecycle step of a leaf that takes only the TDR in RCX: {@code from} → {@code to}. */
    private long step(long tdr, int from, int to) {
        long st = tdrOnly(tdr, OPERAND_RCX);
        if (st != TDX_SUCCESS)
            return st;
        if (m.lifecycle != from)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        m.lifecycle = to;
        return TDX_SUCCESS;
    }

    /** TDH.MNG.KEY.CONFIG: programs the HKID's key (one package modelled). HKID_ASSIGNED → KEYS_CONFIGURED. */
    long mngKeyConfig(long tdr) {
        return step(tdr, LC_HKID_ASSIGNED, LC_KEYS_CONFIGURED);
    }

    /** TDH.MNG.ADDCX: RCX = a TDCS page, RDX = TDR. */
    long mngAddcx(long page, long tdr) {
        long st = tdrOnly(tdr, OPERAND_RDX);
        if (st != TDX_SUCCESS)
            return st;
        if (m.lifecycle != LC_KEYS_CONFIGURED)
            return TDX_TD_KEYS_NOT_CONFIGURED;
        if (m.tdcsAdded >= TDCS_PAGES) // every TDCS page is in already [U: exact status]
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        st = checks.checkNewPage(page, OPERAND_RCX, Pamt.SIZE_4K, false);
        if (st != TDX_SUCCESS)
            return st;
        m.tdcsPfns[m.tdcsAdded++] = page >>> 12;
        addControlPage(page, Pamt.PT_TDCX);
        return TDX_SUCCESS;
    }

    /** A TDCS, TDVPR or TDCX page becomes the TD's: PAMT owned, counted in CHLDCNT. */
    private void addControlPage(long page, int type) {
        pamt.set(page >>> 12, Pamt.SIZE_4K, Pamt.entry(type, Pamt.SIZE_4K, TdxAbi.TD_ID, 0));
        m.chldcnt.add(1);
    }

    /**
     * TDH.MNG.INIT: RCX = TDR; the TD_PARAMS the model takes: GPAW (52 → 5-level S-EPT, shared bit 51; else
     * 4-level, bit 47) and ATTRIBUTES. OP_STATE UNINITIALIZED → INITIALIZED; TD epoch 1; the S-EPT root is held in
     * the last TDCS page [U].
     */
    long mngInit(long tdr, int gpaw, long tdAttributes) {
        long st = tdrOnly(tdr, OPERAND_RCX);
        if (st != TDX_SUCCESS)
            return st;
        if (m.fatal)
            return TDX_TD_FATAL;
        if (m.lifecycle != LC_KEYS_CONFIGURED)
            return TDX_TD_KEYS_NOT_CONFIGURED;
        if (m.tdcsAdded < TDCS_PAGES)
            return TDX_TDCS_NOT_ALLOCATED;
        if (m.opState != TdxAbi.OP_UNINITIALIZED)
            return TDX_OP_STATE_INCORRECT;
        if (gpaw != 48 && gpaw != 52)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RDX);
        m.eptLevels = gpaw == 52 ? 5 : 4;
        m.sharedBit = gpaw - 1;
        m.attributes = tdAttributes;
        m.tdEpoch = 1;
        m.rootPage = m.sept.alloc(m.eptLevels - 1, 0, m.tdcsPfns[TDCS_PAGES - 1]);
        m.opState = TdxAbi.OP_INITIALIZED;
        return TDX_SUCCESS;
    }

    /** TDH.VP.CREATE: RCX = the TDVPR page, RDX = TDR. Returns the status; the vCPU's index is its creation order. */
    long vpCreate(long tdvpr, long tdr) {
        long st = checks.prologue(tdr, OPERAND_RDX, 0, Seamcall.TDH_VP_CREATE);
        if (st != TDX_SUCCESS)
            return st;
        if (m.vcpus.full()) // MAX_VCPUS reached [U: exact status]
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        st = checks.checkNewPage(tdvpr, OPERAND_RCX, Pamt.SIZE_4K, false);
        if (st != TDX_SUCCESS)
            return st;
        m.vcpus.create(tdvpr >>> 12);
        addControlPage(tdvpr, Pamt.PT_TDVPR);
        return TDX_SUCCESS;
    }

    /** The vCPU whose TDVPR is {@code tdvpr}, or -1 (also for an operand with bits outside the HPA). */
    private int vcpuOf(long tdvpr) {
        if ((tdvpr & ~TdxAbi.HPA_MASK) != 0)
            return -1;
        for (int v = 0; v < m.vcpus.count; v++)
            if (m.vcpus.tdvprPfn[v] == (tdvpr >>> 12) && pamt.typeOf(m.vcpus.tdvprPfn[v]) == Pamt.PT_TDVPR)
                return v;
        return -1;
    }

    /** TDH.VP.ADDCX: RCX = a TDCX page, RDX = the TDVPR. */
    long vpAddcx(long page, long tdvpr) {
        int v = vcpuOf(tdvpr);
        if (v < 0)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RDX);
        if (m.vcpus.tdcxAdded[v] >= TdxAbi.VP_TDCX_PAGES)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long st = checks.checkNewPage(page, OPERAND_RCX, Pamt.SIZE_4K, false);
        if (st != TDX_SUCCESS)
            return st;
        m.vcpus.tdcxAdded[v]++;
        addControlPage(page, Pamt.PT_TDCX);
        return TDX_SUCCESS;
    }

    /** TDH.VP.INIT: RCX = the TDVPR; needs every TDCX page. */
    long vpInit(long tdvpr) {
        int v = vcpuOf(tdvpr);
        if (v < 0)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        if (m.vcpus.tdcxAdded[v] < TdxAbi.VP_TDCX_PAGES || m.vcpus.initialized[v])
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX); // [U: exact status]
        m.vcpus.initialized[v] = true;
        return TDX_SUCCESS;
    }

    /** TDH.VP.FLUSH: RCX = the TDVPR; the vCPU's TLB and cache state on its LP is flushed. It must not be running. */
    long vpFlush(long tdvpr) {
        int v = vcpuOf(tdvpr);
        if (v < 0)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        if (m.lines.inGuest(v))
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX); // running on another LP [U]
        m.vcpus.flushed[v] = true;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MNG.VPFLUSHDONE: RCX = TDR. KEYS_CONFIGURED → BLOCKED: no TD entry nor S-EPT SEAMCALL from now on. Refused
     * with {@code TDX_FLUSHVP_NOT_DONE} while a vCPU has not been TDH.VP.FLUSHed; from now on KEY.FREEID waits for a
     * TDH.PHYMEM.CACHE.WB.
     */
    long mngVpflushdone(long tdr) {
        long st = tdrOnly(tdr, OPERAND_RCX);
        if (st != TDX_SUCCESS)
            return st;
        if (m.lifecycle != LC_KEYS_CONFIGURED)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        for (int v = 0; v < m.vcpus.count; v++)
            if (!m.vcpus.flushed[v])
                return TDX_FLUSHVP_NOT_DONE;
        m.lifecycle = LC_BLOCKED;
        m.wbPending = true;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MNG.KEY.FREEID: RCX = TDR. BLOCKED → TEARDOWN; the HKID goes back to the platform. Refused with
     * {@code TDX_WBCACHE_NOT_COMPLETE} until a TDH.PHYMEM.CACHE.WB completed after VPFLUSHDONE.
     */
    long mngKeyFreeid(long tdr) {
        long st = tdrOnly(tdr, OPERAND_RCX);
        if (st != TDX_SUCCESS)
            return st;
        if (m.lifecycle != LC_BLOCKED)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        if (m.wbPending)
            return TDX_WBCACHE_NOT_COMPLETE;
        m.lifecycle = LC_TEARDOWN;
        m.hkid = 0;
        return TDX_SUCCESS;
    }
}
