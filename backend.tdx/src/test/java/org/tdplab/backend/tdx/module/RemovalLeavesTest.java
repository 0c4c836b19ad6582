package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.Fixture.assertStatus;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.Fixture.rcx;
import static org.tdplab.backend.tdx.module.TdxStatus.*;

import org.junit.jupiter.api.Test;

/**
 * TDH.MEM.RANGE.BLOCK / UNBLOCK, TDH.MEM.TRACK, TDH.MEM.PAGE.REMOVE, TDH.MEM.SEPT.REMOVE and
 * TDH.PHYMEM.PAGE.WBINVD, and the epoch rules that order them (hardware spec A.5).
 */
class RemovalLeavesTest {
    private static final long PAGE = 0x1000;

    private static long op(long status, int operand) {
        return withOperand(status, operand);
    }

    /** Runnable, image page at 0 (MAPPED), vCPU 0 inside the TD. */
    private static Fixture running(Contention c) {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, TdxAbi.ATTR_SEPT_VE_DISABLE, 2, c);
        f.add(0, 1);
        f.finalizeTd();
        f.enter(0, 0);
        return f;
    }

    @Test
    void blockStampsTheEpochAndHidesTheEntry() {
        Fixture f = running(Contention.none());
        long hpa = TdxAbi.hpaOf(f.m.view().lookup(0, 0));
        ok(f.m.tdhMemRangeBlock(rcx(0, 0), f.tdr, null));
        assertEquals(SeptState.BLOCKED, f.state(0, 0));
        assertEquals(f.m.view().tdEpoch(), Pamt.bepoch(f.m.view().pamtEntry(hpa >>> 12)));
        assertEquals(TdxAbi.G_EPT_VIOLATION, f.m.guestTranslate(1, 0, false, true), "new walks miss it");
        assertStatus(TDX_GPA_RANGE_ALREADY_BLOCKED, f.m.tdhMemRangeBlock(rcx(0, 0), f.tdr, null));
        assertFalse(TdxStatus.isError(TDX_GPA_RANGE_ALREADY_BLOCKED));
        f.aug(PAGE);
        ok(f.m.tdhMemRangeBlock(rcx(PAGE, 0), f.tdr, null));
        assertEquals(SeptState.PENDING_BLOCKED, f.state(PAGE, 0));
        ok(f.m.tdhMemRangeBlock(rcx(0, 1), f.tdr, null));
        assertEquals(SeptState.NL_BLOCKED, f.state(0, 1));
        assertTrue(f.violations().stream().anyMatch(v -> v.contains("outside a removal")));
    }

    @Test
    void blockChecksInOrder() {
        Fixture f = running(Contention.none());
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemRangeBlock(rcx(0, 4), f.tdr, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemRangeBlock(rcx(PAGE, 1), f.tdr, null));
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemRangeBlock(rcx(1L << 30, 0), f.tdr, null));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemRangeBlock(rcx(PAGE, 0), f.tdr,
                f.regs));
        assertEquals(0, f.regs.rdx, "a FREE 4K entry: level 0, public state 0");
        for (int n = 1; n <= 2; n++) {
            Fixture g = running(Contention.failingAt(n));
            assertStatus(n == 1 ? op(TDX_OPERAND_BUSY, OPERAND_SEPT_TREE) : op(TDX_OPERAND_BUSY, OPERAND_RCX),
                    g.m.tdhMemRangeBlock(rcx(0, 0), g.tdr, null));
            assertEquals(SeptState.MAPPED, g.state(0, 0));
        }
    }

    @Test
    void trackNeedsThePreviousEpochDrained() {
        Fixture f = running(Contention.none()); // vCPU 0 runs in epoch 1
        assertEquals(1, f.m.view().tdEpoch());
        assertEquals(1, f.m.view().refcount(1));
        ok(f.m.tdhMemTrack(f.tdr)); // needs refcount[0] == 0
        assertEquals(2, f.m.view().tdEpoch());
        assertStatus(TDX_PREVIOUS_TLB_EPOCH_BUSY, f.m.tdhMemTrack(f.tdr)); // vCPU 0 still in epoch 1
        f.m.tdExit(0);
        ok(f.m.tdhMemTrack(f.tdr));
        assertEquals(3, f.m.view().tdEpoch());
        // re-entering finds a stale epoch: the TD's EPT TLB contexts are flushed
        long flushes = f.m.view().eptFlushes();
        f.enter(0, 0);
        assertEquals(3, f.m.view().vcpuEpoch(0));
        assertEquals(flushes + 1, f.m.view().eptFlushes());
        assertTrue(f.violations().isEmpty(), f.violations().toString());
        Fixture g = running(Contention.failingAt(1));
        assertStatus(op(TDX_OPERAND_BUSY, OPERAND_TD_EPOCH), g.m.tdhMemTrack(g.tdr));
        assertEquals(1, g.m.view().tdEpoch());
    }

    /** BLOCK → TRACK → every vCPU out → REMOVE: each step missing gives the spec's status. */
    @Test
    void removeWhileRunningNeedsBlockAndTracking() {
        Fixture f = running(Contention.none());
        long hpa = TdxAbi.hpaOf(f.m.view().lookup(0, 0));
        assertStatus(op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(0, 0), f.tdr, f.regs));
        assertEquals(SeptState.publicValue(SeptState.MAPPED), (int) (f.regs.rdx >>> 8));
        ok(f.m.tdhMemRangeBlock(rcx(0, 0), f.tdr, null));
        assertStatus(op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(0, 0), f.tdr, null));
        ok(f.m.tdhMemTrack(f.tdr));
        // vCPU 0 may still hold the translation: it runs in the blocking epoch
        assertStatus(op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(0, 0), f.tdr, null));
        f.m.tdExit(0);
        long before = f.m.view().chldcnt();
        ok(f.m.tdhMemPageRemove(rcx(0, 0), f.tdr, f.regs));
        assertEquals(hpa, f.regs.rcx);
        assertEquals(SeptState.FREE, f.state(0, 0));
        assertEquals(before - 1, f.m.view().chldcnt());
        assertEquals(Pamt.PT_NDA, Pamt.type(f.m.view().pamtEntry(hpa >>> 12)));
        // the page still holds the TD's dirty lines: only a WBINVD with the HKID clears them
        assertEquals(Fixture.HKID, f.m.view().dirtyKeyId(hpa >>> 12));
        ok(f.m.tdhPhymemPageWbinvd(hpa | (6L << TdxAbi.KEYID_SHIFT)));
        assertEquals(Fixture.HKID, f.m.view().dirtyKeyId(hpa >>> 12), "another KeyID flushes nothing");
        ok(f.m.tdhPhymemPageWbinvd(hpa | ((long) Fixture.HKID << TdxAbi.KEYID_SHIFT)));
        assertEquals(-1, f.m.view().dirtyKeyId(hpa >>> 12));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void trackedLongAgoIsTracked() {
        Fixture f = running(Contention.none());
        f.aug(PAGE);
        ok(f.m.tdhMemRangeBlock(rcx(PAGE, 0), f.tdr, null)); // bepoch 1
        ok(f.m.tdhMemTrack(f.tdr));
        f.m.tdExit(0);
        ok(f.m.tdhMemTrack(f.tdr)); // epoch 3: bepoch < td_epoch - 1
        f.enter(0, 0);
        ok(f.m.tdhMemPageRemove(rcx(PAGE, 0), f.tdr, null));
    }

    @Test
    void removeBeforeFinalizeNeedsNoBlock() {
        Fixture f = new Fixture();
        f.add(0, 1);
        ok(f.m.tdhMemPageRemove(rcx(0, 0), f.tdr, null));
        assertEquals(SeptState.FREE, f.state(0, 0));
    }

    @Test
    void removeChecksInOrder() {
        Fixture f = running(Contention.none());
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(0, 3), f.tdr, null));
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(1L << 30, 0), f.tdr, null));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(PAGE, 0), f.tdr,
                null));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(0, 1), f.tdr, null));
        Fixture old = Fixture.v10();
        old.add(0, 1);
        assertStatus(op(TDX_EPT_ENTRY_NOT_LEAF, OPERAND_RCX), old.m.tdhMemPageRemove(rcx(0, 1), old.tdr, null));
        assertStatus(op(TDX_EPT_ENTRY_FREE, OPERAND_RCX), old.m.tdhMemPageRemove(rcx(PAGE, 0), old.tdr, null));
        // busy: the SEPT tree, the entry, then the page's PAMT entry
        long[] expected = { op(TDX_OPERAND_BUSY, OPERAND_SEPT_TREE), op(TDX_OPERAND_BUSY, OPERAND_RCX),
                op(TDX_OPERAND_BUSY, OPERAND_RCX) };
        for (int n = 1; n <= 3; n++) {
            Fixture g = running(Contention.failingAt(n + 2)); // BLOCK takes two locks first
            ok(g.m.tdhMemRangeBlock(rcx(0, 0), g.tdr, null));
            assertStatus(expected[n - 1], g.m.tdhMemPageRemove(rcx(0, 0), g.tdr, null));
            assertEquals(SeptState.BLOCKED, g.state(0, 0));
        }
    }

    @Test
    void hostPriorityBitStaysUntilTheHostGetsTheLock() {
        Fixture f = running(Contention.failingAt(2)); // AUG: the SEPT tree lock, then the entry lock fails
        long aug = f.page();
        assertStatus(op(TDX_OPERAND_BUSY, OPERAND_RCX), f.m.tdhMemPageAug(rcx(PAGE, 0), f.tdr, aug, null));
        // the guest's lock attempt sees the host-priority bit and backs off
        assertStatus(op(TDX_OPERAND_BUSY_HOST_PRIORITY, OPERAND_RCX),
                f.m.tdgMemPageAccept(0, rcx(PAGE, 0), true));
        ok(f.m.tdhMemPageAug(rcx(PAGE, 0), f.tdr, aug, null));
        ok(f.m.tdgMemPageAccept(0, rcx(PAGE, 0), true));
    }

    @Test
    void unblockRestoresOnceTracked() {
        Fixture f = new Fixture();
        f.add(0, 1);
        ok(f.m.tdhMemRangeBlock(rcx(0, 0), f.tdr, null));
        ok(f.m.tdhMemRangeUnblock(rcx(0, 0), f.tdr, null)); // no tracking before finalize
        assertEquals(SeptState.MAPPED, f.state(0, 0));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemRangeUnblock(rcx(0, 0), f.tdr, null));
        f.finalizeTd();
        ok(f.m.tdhMemRangeBlock(rcx(0, 0), f.tdr, null));
        assertStatus(op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_SEPT_TREE), f.m.tdhMemRangeUnblock(rcx(0, 0), f.tdr,
                null));
        ok(f.m.tdhMemTrack(f.tdr));
        ok(f.m.tdhMemRangeUnblock(rcx(0, 0), f.tdr, null));
        assertEquals(SeptState.MAPPED, f.state(0, 0));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemRangeUnblock(rcx(0, 5), f.tdr, null));
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemRangeUnblock(rcx(1L << 30, 0), f.tdr, null));
    }

    @Test
    void septRemoveNeedsAnEmptyBlockedTrackedPage() {
        Fixture f = new Fixture();
        f.add(0, 1);
        long pt = TdxAbi.hpaOf(f.m.view().lookup(0, 1));
        assertStatus(op(TDX_EPT_PAGE_NOT_FREE, OPERAND_RCX), f.m.tdhMemSeptRemove(rcx(0, 1), f.tdr, null));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemSeptRemove(rcx(0x200000, 1), f.tdr,
                null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemSeptRemove(rcx(0, 0), f.tdr, null));
        ok(f.m.tdhMemPageRemove(rcx(0, 0), f.tdr, null));
        long before = f.m.view().chldcnt();
        ok(f.m.tdhMemSeptRemove(rcx(0, 1), f.tdr, f.regs)); // INITIALIZED: no block needed
        assertEquals(pt, f.regs.rcx);
        assertEquals(before - 1, f.m.view().chldcnt());
        assertEquals(SeptState.FREE, f.state(0, 1));
        assertEquals(Pamt.PT_NDA, Pamt.type(f.m.view().pamtEntry(pt >>> 12)));
        // while running: NL_BLOCKED and tracked
        f.add(0, 1);
        ok(f.m.tdhMemPageRemove(rcx(0, 0), f.tdr, null));
        f.finalizeTd();
        assertStatus(op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX), f.m.tdhMemSeptRemove(rcx(0, 1), f.tdr, null));
        ok(f.m.tdhMemRangeBlock(rcx(0, 1), f.tdr, null));
        assertStatus(op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX), f.m.tdhMemSeptRemove(rcx(0, 1), f.tdr, null));
        ok(f.m.tdhMemTrack(f.tdr));
        ok(f.m.tdhMemSeptRemove(rcx(0, 1), f.tdr, null));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
        Fixture old = Fixture.v10();
        old.add(0, 1);
        assertStatus(op(TDX_EPT_ENTRY_NOT_FREE, OPERAND_RCX), old.m.tdhMemSeptRemove(rcx(0, 1), old.tdr, null));
    }

    /**
     * The host walk remembers a region's page of 4K entries only until a link changes: once SEPT.REMOVE took the
     * region's page away (its id going to another region's new page), a PAGE.ADD in the region, linked anew, lands
     * in the region's new page, not in the page the walk remembered.
     */
    @Test
    void aRemovedSeptPageIsNotWalkedToAgain() {
        long m2 = 2L << 20, page = 0x1000;
        Fixture f = new Fixture();
        f.add(0, 1); // the walk to region 0's page of 4K entries, remembered
        ok(f.m.tdhMemPageRemove(rcx(0, 0), f.tdr, null));
        ok(f.m.tdhMemSeptRemove(rcx(0, 1), f.tdr, null)); // INITIALIZED: no block needed
        f.link(m2, 0); // the freed page's id, reused for region 1
        f.add(page, 2);
        assertEquals(SeptState.MAPPED, f.state(page, 0));
        assertEquals(SeptState.FREE, f.state(m2 + page, 0));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void wbinvdChecks() {
        Fixture f = new Fixture();
        long hpa = f.add(0, 1);
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhPhymemPageWbinvd(hpa | 0x40));
        assertStatus(op(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX), f.m.tdhPhymemPageWbinvd(Fixture.TDMR_LIMIT << 12));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX), f.m.tdhPhymemPageWbinvd(hpa));
        ok(f.m.tdhPhymemPageWbinvd(f.page()));
    }
}
