package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.Fixture.assertStatus;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.Fixture.rcx;
import static org.tdplab.backend.tdx.module.TdxStatus.*;

import org.junit.jupiter.api.Test;

/** TDR/TDCS lifecycle, the common checks of every TD-scoped leaf (in order), teardown and reclaim. */
class LifecycleTest {
    private static long op(long status, int operand) {
        return withOperand(status, operand);
    }

    @Test
    void buildGivesAnInitializedTdOwningItsControlPages() {
        Fixture f = new Fixture();
        assertEquals(TdxAbi.LC_KEYS_CONFIGURED, f.m.view().lifecycle());
        assertEquals(TdxAbi.OP_INITIALIZED, f.m.view().opState());
        assertEquals(Fixture.HKID, f.m.view().hkid());
        assertEquals(1, f.m.view().tdEpoch());
        assertEquals(TdxAbi.TDCS_PAGES + 2 * (1 + TdxAbi.VP_TDCX_PAGES), f.m.view().chldcnt());
        assertEquals(Pamt.PT_TDR, Pamt.type(f.m.view().pamtEntry(f.tdr >>> 12)));
        assertEquals(Pamt.PT_TDVPR, Pamt.type(f.m.view().pamtEntry(f.tdvpr.get(0) >>> 12)));
        assertEquals(Pamt.PT_TDCX, Pamt.type(f.m.view().pamtEntry(f.controlPages.get(0) >>> 12)));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void mngCreateChecksItsOperands() {
        Fixture f = new Fixture();
        TdxModule m = new TdxModule(TdxAbi.Version.V1_5, 1, f.frames, Contention.none(), Fixture.TDMR_LIMIT);
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhMngCreate(f.page() | 0x10, 1));
        assertStatus(op(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX), m.tdhMngCreate(Fixture.TDMR_LIMIT << 12, 1));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RDX), m.tdhMngCreate(f.page(), 0));
        long tdr = f.page();
        ok(m.tdhMngCreate(tdr, 7));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhMngCreate(tdr, 8));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, m.tdhMngCreate(f.page(), 8));
        assertEquals(TdxAbi.LC_HKID_ASSIGNED, m.view().lifecycle());
    }

    /** Each S-EPT leaf checks, in order: the TDR, fatal, keys configured, TDCS allocated, the OP_STATE. */
    @Test
    void commonChecksInOrder() {
        Fixture f = new Fixture();
        TdxModule m = new TdxModule(TdxAbi.Version.V1_5, 1, f.frames, Contention.none(), Fixture.TDMR_LIMIT);
        long tdr = f.page();
        long gpa = rcx(0, 3);
        // no TD yet: the handle names no TDR
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RDX), m.tdhMemSeptAdd(gpa, tdr, f.page(), null));
        ok(m.tdhMngCreate(tdr, 3));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RDX), m.tdhMemPageAug(gpa, tdr | 0x4, f.page(), null));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RDX), m.tdhMemPageAug(gpa, f.page(), f.page(), null));
        assertStatus(TDX_TD_KEYS_NOT_CONFIGURED, m.tdhMemSeptAdd(gpa, tdr, f.page(), null));
        ok(m.tdhMngKeyConfig(tdr));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, m.tdhMngKeyConfig(tdr));
        assertStatus(TDX_TDCS_NOT_ALLOCATED, m.tdhMemSeptAdd(gpa, tdr, f.page(), null));
        assertStatus(TDX_TDCS_NOT_ALLOCATED, m.tdhMngInit(tdr, 48, 0));
        for (int i = 0; i < TdxAbi.TDCS_PAGES; i++)
            ok(m.tdhMngAddcx(f.page(), tdr));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), m.tdhMngAddcx(f.page(), tdr));
        // UNINITIALIZED allows no S-EPT leaf
        assertStatus(TDX_OP_STATE_INCORRECT, m.tdhMemSeptAdd(gpa, tdr, f.page(), null));
        assertStatus(TDX_OP_STATE_INCORRECT, m.tdhMemTrack(tdr));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RDX), m.tdhMngInit(tdr, 50, 0));
        ok(m.tdhMngInit(tdr, 48, 0));
        assertStatus(TDX_OP_STATE_INCORRECT, m.tdhMngInit(tdr, 48, 0));
        ok(m.tdhMemSeptAdd(gpa, tdr, f.page(), null));
        // the TDR check comes before the fatal one
        m.markFatal();
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), m.tdhMemTrack(f.page()));
        assertStatus(TDX_TD_FATAL, m.tdhMemTrack(tdr));
        assertStatus(TDX_TD_FATAL, m.tdhMemRangeBlock(rcx(0, 3), tdr, null));
    }

    @Test
    void opStateDecidesWhichLeavesRun() {
        Fixture f = new Fixture();
        f.add(0, 1);
        f.finalizeTd();
        assertEquals(TdxAbi.OP_RUNNABLE, f.m.view().opState());
        assertStatus(TDX_OP_STATE_INCORRECT, f.m.tdhMemPageAdd(0x1000, f.tdr, f.page(), f.page(), null));
        assertStatus(TDX_OP_STATE_INCORRECT, f.m.tdhMrExtend(0, f.tdr, null));
        assertStatus(TDX_OP_STATE_INCORRECT, f.m.tdhMrFinalize(f.tdr));
        assertStatus(TDX_OP_STATE_INCORRECT, f.m.tdhVpCreate(f.page(), f.tdr));
        ok(f.m.tdhMemPageAug(0x1000, f.tdr, f.page(), null));
        ok(f.m.tdhMemTrack(f.tdr));
    }

    @Test
    void finalizeNeedsAVcpu() {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, 0, 0, Contention.none());
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), f.m.tdhMrFinalize(f.page()));
        assertStatus(TDX_NO_VCPUS, f.m.tdhMrFinalize(f.tdr));
        assertEquals(TdxAbi.OP_INITIALIZED, f.m.view().opState());
    }

    @Test
    void vcpuCreationChecks() {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, 0, 1, Contention.none());
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhVpCreate(f.page(), f.tdr)); // MAX_VCPUS is 1
        long vp = f.tdvpr.get(0);
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhVpAddcx(f.page(), vp));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RDX), f.m.tdhVpAddcx(f.page(), f.page()));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhVpInit(vp));
    }

    /** VP.FLUSH, VPFLUSHDONE, KEY.FREEID, then RECLAIM of every page, the TDR last, and its WBINVD. */
    @Test
    void teardownReleasesTheKeyThenReclaims() {
        Fixture f = new Fixture();
        long sept = f.page();
        ok(f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, sept, null));
        f.finalizeTd();
        assertEquals(TdxAbi.G_EPT_VIOLATION, f.m.guestTranslate(0, 0, false, true)); // enters, exits
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, f.m.tdhPhymemPageReclaim(sept, null));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, f.m.tdhMngKeyFreeid(f.tdr));
        for (long vp : f.tdvpr)
            ok(f.m.tdhVpFlush(vp));
        ok(f.m.tdhMngVpflushdone(f.tdr));
        assertEquals(TdxAbi.LC_BLOCKED, f.m.view().lifecycle());
        // no S-EPT leaf once the TD is blocked
        assertStatus(TDX_TD_KEYS_NOT_CONFIGURED, f.m.tdhMemRangeBlock(rcx(0, 3), f.tdr, null));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, f.m.tdhMngVpflushdone(f.tdr));
        ok(f.m.tdhPhymemCacheWb());
        ok(f.m.tdhMngKeyFreeid(f.tdr));
        assertEquals(TdxAbi.LC_TEARDOWN, f.m.view().lifecycle());
        assertEquals(0, f.m.view().hkid());
        assertStatus(TDX_TD_ASSOCIATED_PAGES_EXIST, f.m.tdhPhymemPageReclaim(f.tdr, null));
        ok(f.m.tdhPhymemPageReclaim(sept, f.regs));
        assertEquals(Pamt.PT_EPT, f.regs.rcx);
        assertEquals(f.tdr, f.regs.rdx);
        assertEquals(Pamt.SIZE_4K, f.regs.r8);
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), f.m.tdhPhymemPageReclaim(sept, null));
        for (long p : f.controlPages)
            ok(f.m.tdhPhymemPageReclaim(p, null));
        for (long vp : f.tdvpr)
            ok(f.m.tdhPhymemPageReclaim(vp, null));
        assertEquals(0, f.m.view().chldcnt());
        ok(f.m.tdhPhymemPageReclaim(f.tdr, f.regs));
        assertEquals(Pamt.PT_TDR, f.regs.rcx);
        assertEquals(TdxAbi.LC_NONE, f.m.view().lifecycle());
        // the module wrote the TDR with its global KeyID: that WBINVD empties the PAMT
        assertEquals(TdxAbi.GLOBAL_KEYID, f.m.view().dirtyKeyId(f.tdr >>> 12));
        assertFalse(f.m.view().pamtEmpty(), "the TDR's cache lines still wait for their WBINVD");
        ok(f.m.tdhPhymemPageWbinvd(f.tdr | ((long) TdxAbi.GLOBAL_KEYID << TdxAbi.KEYID_SHIFT)));
        assertTrue(f.m.view().pamtEmpty());
    }

    @Test
    void reclaimChecksItsOperand() {
        Fixture f = new Fixture();
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhPhymemPageReclaim(f.tdr | 0x800, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX),
                f.m.tdhPhymemPageReclaim(f.tdr | (1L << TdxAbi.KEYID_SHIFT), null));
        assertStatus(op(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX),
                f.m.tdhPhymemPageReclaim(Fixture.TDMR_LIMIT << 12, null));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), f.m.tdhPhymemPageReclaim(f.page(), null));
        assertStatus(TDX_LIFECYCLE_STATE_INCORRECT, f.m.tdhPhymemPageReclaim(f.controlPages.get(0), null));
    }

    @Test
    void vpFlushWaitsForTheVcpuToLeave() {
        Fixture f = new Fixture();
        f.add(0, 9);
        f.finalizeTd();
        f.enter(1, 0);
        assertStatus(op(TDX_OPERAND_BUSY, OPERAND_RCX), f.m.tdhVpFlush(f.tdvpr.get(1)));
        f.m.tdExit(1);
        ok(f.m.tdhVpFlush(f.tdvpr.get(1)));
    }
}
