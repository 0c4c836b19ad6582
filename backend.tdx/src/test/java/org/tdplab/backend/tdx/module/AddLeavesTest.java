package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.Fixture.assertStatus;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.Fixture.rcx;
import static org.tdplab.backend.tdx.module.TdxStatus.*;

import org.junit.jupiter.api.Test;

/** TDH.MEM.SEPT.ADD, TDH.MEM.PAGE.ADD, TDH.MR.EXTEND, TDH.MR.FINALIZE, TDH.MEM.PAGE.AUG: success and each error in order. */
class AddLeavesTest {
    private static final long G1 = 1L << 30, M2 = 2L << 20;

    private static long op(long status, int operand) {
        return withOperand(status, operand);
    }

    /** A runnable TD with gpa 0 mapped and vCPU 0 inside it: locks can be contended. */
    private static Fixture running(Contention c) {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, TdxAbi.ATTR_SEPT_VE_DISABLE, 2, c);
        f.add(0, 1);
        f.finalizeTd();
        f.enter(0, 0);
        return f;
    }

    // ---- SEPT.ADD --------------------------------------------------------------------------------------------

    @Test
    void septAddLinksAFreePageTopDown() {
        Fixture f = new Fixture();
        long pdpt = f.page();
        ok(f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, pdpt, f.regs));
        assertEquals(SeptState.NL_MAPPED, f.state(0, 3));
        assertEquals(pdpt, TdxAbi.hpaOf(f.m.view().lookup(0, 3)));
        assertEquals(SeptState.FREE, f.state(0, 2), "the new page is all FREE");
        assertEquals(Pamt.PT_EPT, Pamt.type(f.m.view().pamtEntry(pdpt >>> 12)));
        long before = f.m.view().chldcnt();
        ok(f.m.tdhMemSeptAdd(rcx(G1, 2), f.tdr, f.page(), null));
        assertEquals(before + 1, f.m.view().chldcnt());
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void septAddOperandChecks() {
        Fixture f = new Fixture();
        long p = f.page();
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RDX), f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr | 0x2, p, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemSeptAdd(rcx(0, 0), f.tdr, p, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemSeptAdd(rcx(0, 4), f.tdr, p, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemSeptAdd(rcx(M2, 2), f.tdr, p, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemSeptAdd(rcx(0, 3) | 0x8, f.tdr, p, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemSeptAdd(rcx(1L << 47, 1), f.tdr, p, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemSeptAdd(rcx(0, 1) | (1L << 52), f.tdr, p, null));
        // the walk must reach the level: a PT page needs the PDPT and PD pages first
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemSeptAdd(rcx(0, 1), f.tdr, p, f.regs));
        assertEquals(3 | (SeptState.publicValue(SeptState.FREE) << 8), f.regs.rdx, "stopped at the free PML4E");
        assertEquals(1L << 63, f.regs.rcx, "a FREE entry reads as suppress-#VE only");
        assertEquals(Pamt.PT_NDA, Pamt.type(f.m.view().pamtEntry(p >>> 12)), "a failed SEAMCALL changes nothing");
    }

    @Test
    void septAddEntryMustBeFree() {
        Fixture f = new Fixture();
        ok(f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, f.page(), null));
        long p = f.page();
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, p, f.regs));
        assertEquals(3 | (0x84 << 8), f.regs.rdx);
        // allow_existing (RDX bit 0): success, the page is not used
        ok(f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr | 1, p, null));
        assertEquals(Pamt.PT_NDA, Pamt.type(f.m.view().pamtEntry(p >>> 12)));
        Fixture old = Fixture.v10();
        ok(old.m.tdhMemSeptAdd(rcx(0, 3), old.tdr, old.page(), null));
        assertStatus(op(TDX_EPT_ENTRY_NOT_FREE, OPERAND_RCX), old.m.tdhMemSeptAdd(rcx(0, 3), old.tdr, p, null));
    }

    @Test
    void septAddNewPageChecks() {
        Fixture f = new Fixture();
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_R8), f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, f.page() | 8, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_R8),
                f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, f.page() | (3L << TdxAbi.KEYID_SHIFT), null));
        assertStatus(op(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_R8),
                f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, Fixture.TDMR_LIMIT << 12, null));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_R8),
                f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, f.controlPages.get(0), null));
        assertEquals(SeptState.FREE, f.state(0, 3));
    }

    @Test
    void septAddBusyAtEachLockInOrder() {
        long[] expected = { op(TDX_OPERAND_BUSY, OPERAND_SEPT_TREE), op(TDX_OPERAND_BUSY, OPERAND_RCX),
                op(TDX_OPERAND_BUSY, OPERAND_R8) };
        for (int n = 1; n <= 3; n++) {
            Fixture f = running(Contention.failingAt(n));
            long p = f.page();
            assertStatus(expected[n - 1], f.m.tdhMemSeptAdd(rcx(G1, 2), f.tdr, p, null));
            assertEquals(SeptState.FREE, f.state(G1, 2));
            ok(f.m.tdhMemSeptAdd(rcx(G1, 2), f.tdr, p, null)); // the retry succeeds
        }
    }

    @Test
    void noContentionWithoutAVcpuInside() {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, 0, 1, new Contention(1.0, 0));
        ok(f.m.tdhMemSeptAdd(rcx(0, 3), f.tdr, f.page(), null));
        f.add(0, 1);
        f.finalizeTd();
        ok(f.m.tdhMemTrack(f.tdr));
        f.enter(0, 0);
        assertStatus(op(TDX_OPERAND_BUSY, OPERAND_TD_EPOCH), f.m.tdhMemTrack(f.tdr));
    }

    // ---- PAGE.ADD ---------------------------------------------------------------------------------------------

    @Test
    void pageAddCopiesTheSourceAndMeasures() {
        Fixture f = new Fixture();
        long mrtd = f.m.view().mrtd();
        long target = f.add(0x5000, 0xcafe);
        assertEquals(0xcafe, f.memory.get(target >>> 12));
        assertEquals(SeptState.MAPPED, f.state(0x5000, 0));
        assertEquals(Pamt.PT_REG, Pamt.type(f.m.view().pamtEntry(target >>> 12)));
        assertNotEquals(mrtd, f.m.view().mrtd());
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void pageAddChecksInOrder() {
        Fixture f = new Fixture();
        long src = f.page(), target = f.page();
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPageAdd(rcx(0, 1), f.tdr, target, src, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPageAdd(0x800, f.tdr, target, src, null));
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemPageAdd(0, f.tdr, target, src, f.regs));
        f.link(0, 0);
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_R9), f.m.tdhMemPageAdd(0, f.tdr, target, src | 4, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_R9),
                f.m.tdhMemPageAdd(0, f.tdr, target, src | (1L << TdxAbi.KEYID_SHIFT), null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_R8), f.m.tdhMemPageAdd(0, f.tdr, target | 1, src, null));
        assertStatus(op(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_R8),
                f.m.tdhMemPageAdd(0, f.tdr, Fixture.TDMR_LIMIT << 12, src, null));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_R8), f.m.tdhMemPageAdd(0, f.tdr, f.tdr, src, null));
        ok(f.m.tdhMemPageAdd(0, f.tdr, target, src, null));
        // an entry that is not FREE comes before the source and target checks
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX),
                f.m.tdhMemPageAdd(0, f.tdr, f.tdr, src | 4, null));
        Fixture old = Fixture.v10();
        old.add(0, 1);
        assertStatus(op(TDX_EPT_ENTRY_NOT_FREE, OPERAND_RCX), old.m.tdhMemPageAdd(0, old.tdr, old.page(), src, null));
    }

    // ---- MR.EXTEND / MR.FINALIZE --------------------------------------------------------------------------------

    @Test
    void mrExtendMeasuresMappedPagesOnly() {
        Fixture f = new Fixture();
        f.add(0x3000, 42);
        long before = f.m.view().mrtd();
        ok(f.m.tdhMrExtend(0x3100, f.tdr, null));
        assertNotEquals(before, f.m.view().mrtd());
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMrExtend(0x3080, f.tdr, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMrExtend(1L << 47, f.tdr, null));
        assertStatus(op(TDX_EPT_ENTRY_NOT_PRESENT, OPERAND_RCX), f.m.tdhMrExtend(0x4000, f.tdr, null));
        assertStatus(op(TDX_EPT_ENTRY_NOT_PRESENT, OPERAND_RCX), f.m.tdhMrExtend(G1, f.tdr, null));
        ok(f.m.tdhMemPageAug(rcx(0x4000, 0), f.tdr, f.page(), null)); // AUG is allowed before finalize
        assertStatus(TDX_EPT_ENTRY_NOT_PRESENT, f.m.tdhMrExtend(0x4000, f.tdr, null));
    }

    @Test
    void sameImageSameMeasurement() {
        Fixture a = new Fixture(), b = new Fixture();
        for (Fixture f : new Fixture[] { a, b }) {
            f.add(0x1000, 7);
            ok(f.m.tdhMrExtend(0x1000, f.tdr, null));
            f.finalizeTd();
        }
        assertEquals(a.m.view().mrtd(), b.m.view().mrtd());
        Fixture c = new Fixture();
        c.add(0x1000, 8);
        ok(c.m.tdhMrExtend(0x1000, c.tdr, null));
        c.finalizeTd();
        assertNotEquals(a.m.view().mrtd(), c.m.view().mrtd());
    }

    // ---- PAGE.AUG ----------------------------------------------------------------------------------------------

    @Test
    void augMakesAPendingPage() {
        Fixture f = running(Contention.none());
        long before = f.m.view().chldcnt();
        long hpa = f.aug(0x7000);
        assertEquals(SeptState.PENDING, f.state(0x7000, 0));
        assertEquals(Pamt.PT_REG, Pamt.type(f.m.view().pamtEntry(hpa >>> 12)));
        assertEquals(before + 1, f.m.view().chldcnt());
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void aug2MNeedsEveryFourKFree() {
        Fixture f = running(Contention.none());
        f.link(M2, 1);
        long big = f.page2m();
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_R8), f.m.tdhMemPageAug(rcx(M2, 1), f.tdr, big + 0x1000, null));
        // one 4K frame inside is owned already
        ok(f.m.tdhMemSeptAdd(rcx(4 * M2, 1), f.tdr, big + 0x5000, null));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_R8), f.m.tdhMemPageAug(rcx(M2, 1), f.tdr, big, null));
        long big2 = f.page2m();
        long before = f.m.view().chldcnt();
        ok(f.m.tdhMemPageAug(rcx(M2, 1), f.tdr, big2, null));
        assertEquals(before + 512, f.m.view().chldcnt());
        assertEquals(SeptState.PENDING, f.state(M2, 1));
        // a 4K AUG below a 2M leaf: the walk stops above
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemPageAug(rcx(M2 + 0x1000, 0), f.tdr, f.page(),
                f.regs));
        assertEquals(1 | (SeptState.publicValue(SeptState.PENDING) << 8), f.regs.rdx);
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void augChecksInOrder() {
        Fixture f = running(Contention.none());
        long p = f.page();
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPageAug(rcx(0, 2), f.tdr, p, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPageAug(rcx(0x1000, 1), f.tdr, p, null));
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemPageAug(rcx(G1, 0), f.tdr, p, null));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPageAug(rcx(0, 0), f.tdr, p, null));
        assertStatus(op(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_R8),
                f.m.tdhMemPageAug(rcx(0x1000, 0), f.tdr, Fixture.TDMR_LIMIT << 12, null));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_R8), f.m.tdhMemPageAug(rcx(0x1000, 0), f.tdr, f.tdr,
                null));
    }

    @Test
    void augBusyAtEachLockInOrder() {
        long[] expected = { op(TDX_OPERAND_BUSY, OPERAND_SEPT_TREE), op(TDX_OPERAND_BUSY, OPERAND_RCX),
                op(TDX_OPERAND_BUSY, OPERAND_R8) };
        for (int n = 1; n <= 3; n++) {
            Fixture f = running(Contention.failingAt(n));
            long p = f.page();
            assertStatus(expected[n - 1], f.m.tdhMemPageAug(rcx(0x1000, 0), f.tdr, p, null));
            assertEquals(SeptState.FREE, f.state(0x1000, 0));
            ok(f.m.tdhMemPageAug(rcx(0x1000, 0), f.tdr, p, null));
        }
    }
}
