package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.Fixture.assertStatus;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.Fixture.rcx;
import static org.tdplab.backend.tdx.module.TdxStatus.*;

import org.junit.jupiter.api.Test;

/** TDH.MEM.PAGE.PROMOTE (used by no KVM flow) and TDH.MEM.PAGE.DEMOTE (KVM's huge page series; see HugePageLeavesTest). */
class PromoteDemoteTest {
    private static final long M2 = 2L << 20;

    private static long op(long status, int operand) {
        return withOperand(status, operand);
    }

    /** 512 PAGE.ADDs of one aligned contiguous 2M frame at gpa 2M. Returns its HPA. */
    private static long addContiguous(Fixture f) {
        f.link(M2, 0);
        long base = f.page2m();
        for (int i = 0; i < 512; i++) {
            long src = f.page();
            f.memory.put(src >>> 12, (long) i);
            ok(f.m.tdhMemPageAdd(M2 + i * 0x1000L, f.tdr, base + i * 0x1000L, src, null));
        }
        return base;
    }

    @Test
    void promoteMergesUniformChildren() {
        Fixture f = new Fixture();
        long base = addContiguous(f);
        long pt = TdxAbi.hpaOf(f.m.view().lookup(M2 >>> 12, 1));
        long before = f.m.view().chldcnt();
        ok(f.m.tdhMemPagePromote(rcx(M2, 1), f.tdr, f.regs));
        assertEquals(pt, f.regs.rcx);
        assertEquals(SeptState.MAPPED, f.state(M2, 1));
        assertEquals(base, TdxAbi.hpaOf(f.m.view().lookup(M2 >>> 12, 1)));
        assertEquals(before - 1, f.m.view().chldcnt());
        long pamt = f.m.view().pamtEntry(base >>> 12);
        assertEquals(Pamt.PT_REG, Pamt.type(pamt));
        assertEquals(Pamt.SIZE_2M, Pamt.size(pamt));
        assertEquals(Pamt.PT_NDA, Pamt.type(f.m.view().pamtEntry(pt >>> 12)));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
        // the guest reaches 4K pieces of the 2M leaf
        f.finalizeTd();
        long r = f.m.guestTranslate(0, (M2 >>> 12) + 7, false, true);
        assertEquals((base >>> 12) + 7, r & ((1L << 56) - 1));
        assertEquals(2, r >>> 56);
    }

    @Test
    void promoteRefusesMixedChildren() {
        Fixture f = new Fixture();
        f.link(M2, 0);
        for (int i = 0; i < 512; i++)
            f.add(M2 + i * 0x1000L, i); // not contiguous: each target is a fresh frame after a source frame
        assertStatus(op(TDX_EPT_INVALID_PROMOTE_CONDITIONS, OPERAND_RCX), f.m.tdhMemPagePromote(rcx(M2, 1), f.tdr,
                null));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPagePromote(rcx(4 * M2, 1), f.tdr,
                null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPagePromote(rcx(M2, 0), f.tdr, null));
        assertEquals(SeptState.NL_MAPPED, f.state(M2, 1));
    }

    @Test
    void promoteWhileRunningNeedsBlockAndTrack() {
        Fixture f = new Fixture();
        addContiguous(f);
        f.finalizeTd();
        assertStatus(op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX), f.m.tdhMemPagePromote(rcx(M2, 1), f.tdr, null));
        ok(f.m.tdhMemRangeBlock(rcx(M2, 1), f.tdr, null));
        assertStatus(op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX), f.m.tdhMemPagePromote(rcx(M2, 1), f.tdr, null));
        ok(f.m.tdhMemTrack(f.tdr));
        ok(f.m.tdhMemPagePromote(rcx(M2, 1), f.tdr, null));
        assertEquals(SeptState.MAPPED, f.state(M2, 1), "the merged leaf is unblocked");
    }

    @Test
    void demoteSplitsALargeLeaf() {
        Fixture f = new Fixture();
        f.add(0, 1);
        f.finalizeTd();
        f.link(M2, 1);
        long big = f.page2m();
        ok(f.m.tdhMemPageAug(rcx(M2, 1), f.tdr, big, null));
        long page = f.page();
        assertStatus(op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, page, null));
        ok(f.m.tdhMemRangeBlock(rcx(M2, 1), f.tdr, null));
        assertStatus(op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, page, null));
        ok(f.m.tdhMemTrack(f.tdr));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_R8), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, f.tdr,
                null));
        long before = f.m.view().chldcnt();
        ok(f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, page, null));
        assertEquals(SeptState.NL_MAPPED, f.state(M2, 1));
        assertEquals(SeptState.PENDING, f.state(M2 + 0x5000, 0), "the pieces are unblocked PENDING leaves");
        assertEquals(big + 0x5000, TdxAbi.hpaOf(f.m.view().lookup((M2 + 0x5000) >>> 12, 0)));
        assertEquals(before + 1, f.m.view().chldcnt());
        assertEquals(Pamt.SIZE_4K, Pamt.size(f.m.view().pamtEntry((big >>> 12) + 5)));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
        // a 4K leaf cannot be demoted, nor a non-leaf
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2, 0), f.tdr, f.page(), null));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr,
                f.page(), null));
        Fixture old = Fixture.v10();
        old.add(0, 1);
        assertStatus(op(TDX_EPT_ENTRY_NOT_LEAF, OPERAND_RCX), old.m.tdhMemPageDemote(rcx(0, 1), old.tdr, old.page(),
                null));
    }
}
