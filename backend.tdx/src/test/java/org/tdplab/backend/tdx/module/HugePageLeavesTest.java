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
 * The module's side of 2M private pages as KVM's huge page series drives it: TDH.MEM.PAGE.AUG at 2M, the guest's
 * 2M and 4K ACCEPT on a 2M leaf (the ACCEPT exit that carries the requested level), TDH.MEM.RANGE.BLOCK / TRACK /
 * PAGE.REMOVE of a 2M leaf and the per-4K WBINVD after it, and TDH.MEM.PAGE.DEMOTE (BLOCK, TRACK, kick, DEMOTE; no
 * UNBLOCK) with its rows in the source's order and the PAMT entries it splits.
 */
class HugePageLeavesTest {
    private static final long M2 = 2L << 20, PAGE = 0x1000;

    private static long op(long status, int operand) {
        return withOperand(status, operand);
    }

    /** A runnable TD (gpa 0 added at build time) with the 2M range at gpa 2M linked down to its PDE. */
    private static Fixture runnable(Contention c) {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, TdxAbi.ATTR_SEPT_VE_DISABLE, 2, c);
        f.add(0, 1);
        f.finalizeTd();
        f.link(M2, 1);
        return f;
    }

    /** A PENDING 2M leaf at gpa 2M; returns its HPA. */
    private static long aug2m(Fixture f) {
        long big = f.page2m();
        ok(f.m.tdhMemPageAug(rcx(M2, 1), f.tdr, big, null));
        return big;
    }

    /** BLOCK at 2M and TRACK, with no vCPU inside: the blocking epoch is retired at once. */
    private static void blockAndTrack(Fixture f, long gpa, int level) {
        ok(f.m.tdhMemRangeBlock(rcx(gpa, level), f.tdr, null));
        ok(f.m.tdhMemTrack(f.tdr));
    }

    @Test
    void aug2MIsOnePendingLeafOwningEveryFourKPamtEntry() {
        Fixture f = runnable(Contention.none());
        long before = f.m.view().chldcnt();
        long big = aug2m(f);
        assertEquals(SeptState.PENDING, f.state(M2, 1));
        assertEquals(before + 512, f.m.view().chldcnt());
        for (long i : new long[] { 0, 1, 255, 511 }) {
            long e = f.m.view().pamtEntry((big >>> 12) + i);
            assertEquals(Pamt.PT_REG, Pamt.type(e));
            assertEquals(Pamt.SIZE_2M, Pamt.size(e));
        }
        // the 4K AUG of a page inside it cannot reach level 0: the walk stops at the 2M leaf
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemPageAug(rcx(M2 + PAGE, 0), f.tdr, f.page(),
                null));
        // nor may a second 2M page go there
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPageAug(rcx(M2, 1), f.tdr,
                f.page2m(), null));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void aug2MWhereAPageTableSitsIsRefused() {
        Fixture f = runnable(Contention.none());
        f.link(2 * M2, 0); // a PT page under the PDE of 4M
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPageAug(rcx(2 * M2, 1), f.tdr,
                f.page2m(), null));
        assertEquals(SeptState.NL_MAPPED, f.state(2 * M2, 1));
    }

    @Test
    void theGuestAcceptsA2MLeafWhole() {
        Fixture f = runnable(Contention.none());
        long big = aug2m(f);
        f.memory.put((big >>> 12) + 300, 9L); // stale contents: ACCEPT clears them with the TD key
        ok(f.m.tdgMemPageAccept(0, rcx(M2, 1), true));
        assertEquals(SeptState.MAPPED, f.state(M2, 1));
        assertEquals(0L, f.memory.get((big >>> 12) + 300));
        long r = f.m.guestTranslate(0, (M2 >>> 12) + 300, true, true);
        assertEquals((big >>> 12) + 300, r & ((1L << 56) - 1));
        assertEquals(2, r >>> 56, "the CPU reaches the page through a 2M leaf");
        // a later 4K accept inside it finds an accessible leaf above: already accepted, at level 1
        assertStatus(op(TDX_PAGE_ALREADY_ACCEPTED, 1), f.m.tdgMemPageAccept(0, rcx(M2 + 7 * PAGE, 0), true));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void acceptExitsCarryTheRequestedLevel() {
        Fixture f = runnable(Contention.none());
        // nothing mapped at 4M: a 2M accept exits with type ACCEPT, level 1
        assertStatus(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(1, rcx(2 * M2, 1), true));
        long eeq = f.m.extExitQualification(1);
        assertEquals(TdxAbi.EEQ_ACCEPT, TdxAbi.eeqType(eeq));
        assertEquals(1, TdxAbi.eeqAcceptLevel(eeq));
        // a 4K accept inside a PENDING 2M leaf: the module does not answer SIZE_MISMATCH but exits to the host
        aug2m(f);
        assertStatus(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(M2 + 5 * PAGE, 0), true));
        eeq = f.m.extExitQualification(0);
        assertEquals(TdxAbi.EEQ_ACCEPT, TdxAbi.eeqType(eeq));
        assertEquals(0, TdxAbi.eeqAcceptLevel(eeq));
        assertFalse(f.m.view().inGuest(0));
        assertEquals(SeptState.PENDING, f.state(M2, 1), "an exit changes nothing");
        // a plain access to the PENDING page is a PENDING_EPT_VIOLATION exit, and a plain miss has no type
        assertEquals(TdxAbi.G_PENDING_EXIT, f.m.guestTranslate(0, (M2 >>> 12) + 5, false, true));
        assertEquals(TdxAbi.EEQ_PENDING_EPT_VIOLATION, TdxAbi.eeqType(f.m.extExitQualification(0)));
        assertEquals(TdxAbi.G_EPT_VIOLATION, f.m.guestTranslate(0, (3 * M2) >>> 12, false, true));
        assertEquals(TdxAbi.EEQ_NONE, f.m.extExitQualification(0));
    }

    @Test
    void remove2MNeedsBlockAndTrackAndLeavesEveryFourKDirty() {
        Fixture f = runnable(Contention.none());
        long big = aug2m(f);
        ok(f.m.tdgMemPageAccept(0, rcx(M2, 1), true));
        f.m.tdExit(0);
        assertStatus(op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(M2, 1), f.tdr, null));
        ok(f.m.tdhMemRangeBlock(rcx(M2, 1), f.tdr, null));
        assertEquals(SeptState.BLOCKED, f.state(M2, 1));
        assertEquals(f.m.view().tdEpoch(), Pamt.bepoch(f.m.view().pamtEntry(big >>> 12)),
                "BLOCK stamps the 2M page's entry");
        assertEquals(TdxAbi.G_EPT_VIOLATION, f.m.guestTranslate(0, (M2 >>> 12) + 3, false, true));
        assertStatus(op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX), f.m.tdhMemPageRemove(rcx(M2, 1), f.tdr, null));
        ok(f.m.tdhMemTrack(f.tdr));
        long before = f.m.view().chldcnt();
        ok(f.m.tdhMemPageRemove(rcx(M2, 1), f.tdr, f.regs));
        assertEquals(big, f.regs.rcx);
        assertEquals(SeptState.FREE, f.state(M2, 1));
        assertEquals(before - 512, f.m.view().chldcnt());
        // every 4K frame of it is NDA with the TD's dirty lines until a WBINVD of that 4K page with the HKID
        for (long i = 0; i < 512; i++)
            assertEquals(Fixture.HKID, f.m.view().dirtyKeyId((big >>> 12) + i));
        long keyed = (long) Fixture.HKID << TdxAbi.KEYID_SHIFT;
        ok(f.m.tdhPhymemPageWbinvd(big | keyed));
        assertEquals(-1, f.m.view().dirtyKeyId(big >>> 12));
        assertEquals(Fixture.HKID, f.m.view().dirtyKeyId((big >>> 12) + 1), "WBINVD covers one 4K page");
        for (long i = 1; i < 512; i++)
            ok(f.m.tdhPhymemPageWbinvd((big + i * PAGE) | keyed));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void demoteSplitsAnAcceptedLeafInPlaceWithItsData() {
        Fixture f = runnable(Contention.none());
        long big = aug2m(f);
        ok(f.m.tdgMemPageAccept(0, rcx(M2, 1), true));
        for (long i = 0; i < 512; i++)
            f.memory.put((big >>> 12) + i, 0x100 + i);
        f.m.tdExit(0);
        blockAndTrack(f, M2, 1);
        long sept = f.page(), before = f.m.view().chldcnt();
        ok(f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, sept, null));
        assertEquals(SeptState.NL_MAPPED, f.state(M2, 1));
        assertEquals(sept, TdxAbi.hpaOf(f.m.view().lookup(M2 >>> 12, 1)));
        assertEquals(before + 1, f.m.view().chldcnt(), "the new S-EPT page is the TD's; the 512 pages stay counted");
        assertEquals(Pamt.PT_EPT, Pamt.type(f.m.view().pamtEntry(sept >>> 12)));
        for (long i = 0; i < 512; i++) {
            long gpa = M2 + i * PAGE;
            assertEquals(SeptState.MAPPED, f.state(gpa, 0), "no UNBLOCK: the pieces are MAPPED already");
            assertEquals(big + i * PAGE, TdxAbi.hpaOf(f.m.view().lookup(gpa >>> 12, 0)));
            long e = f.m.view().pamtEntry((big >>> 12) + i);
            assertEquals(Pamt.PT_REG, Pamt.type(e));
            assertEquals(Pamt.SIZE_4K, Pamt.size(e));
            assertEquals(0, Pamt.bepoch(e));
            assertEquals(0x100 + i, f.memory.get((big >>> 12) + i), "DEMOTE keeps the contents");
        }
        long r = f.m.guestTranslate(1, (M2 >>> 12) + 17, false, true);
        assertEquals((big >>> 12) + 17, r & ((1L << 56) - 1));
        assertEquals(1, r >>> 56);
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void aFourKPieceOfADemotedLeafIsRemovedAlone() {
        Fixture f = runnable(Contention.none());
        long big = aug2m(f);
        blockAndTrack(f, M2, 1);
        ok(f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, f.page(), null));
        assertEquals(SeptState.PENDING, f.state(M2 + 9 * PAGE, 0), "a PENDING_BLOCKED leaf splits into PENDING ones");
        blockAndTrack(f, M2 + 9 * PAGE, 0);
        long before = f.m.view().chldcnt();
        ok(f.m.tdhMemPageRemove(rcx(M2 + 9 * PAGE, 0), f.tdr, null));
        assertEquals(before - 1, f.m.view().chldcnt());
        assertEquals(SeptState.FREE, f.state(M2 + 9 * PAGE, 0));
        assertEquals(SeptState.PENDING, f.state(M2 + 10 * PAGE, 0));
        assertEquals(Fixture.HKID, f.m.view().dirtyKeyId((big >>> 12) + 9));
        assertEquals(Pamt.PT_REG, Pamt.type(f.m.view().pamtEntry((big >>> 12) + 10)));
        // the guest accepts the rest at 4K; a 2M accept meets the page table: size mismatch
        assertStatus(op(TDX_PAGE_SIZE_MISMATCH, 1), f.m.tdgMemPageAccept(0, rcx(M2, 1), true));
        ok(f.m.tdgMemPageAccept(0, rcx(M2 + 10 * PAGE, 0), true));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void demoteChecksInOrderAndAFailureChangesNothing() {
        Fixture f = runnable(Contention.none());
        long big = aug2m(f);
        long sept = f.page(), chld = f.m.view().chldcnt();
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2, 0), f.tdr, sept, null));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2 + PAGE, 1), f.tdr, sept,
                null));
        assertStatus(op(TDX_EPT_WALK_FAILED, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(1L << 30, 1), f.tdr, sept,
                null));
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(2 * M2, 1), f.tdr,
                sept, null)); // FREE
        assertStatus(op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, sept,
                f.regs));
        assertEquals(1 | (SeptState.publicValue(SeptState.PENDING) << 8), f.regs.rdx);
        ok(f.m.tdhMemRangeBlock(rcx(M2, 1), f.tdr, null));
        assertStatus(op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, sept,
                null));
        ok(f.m.tdhMemTrack(f.tdr));
        assertStatus(op(TDX_OPERAND_INVALID, OPERAND_R8), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, sept + 8, null));
        assertStatus(op(TDX_PAGE_METADATA_INCORRECT, OPERAND_R8), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, big,
                null)); // a page the TD owns
        assertEquals(SeptState.PENDING_BLOCKED, f.state(M2, 1));
        assertEquals(chld, f.m.view().chldcnt());
        assertEquals(Pamt.SIZE_2M, Pamt.size(f.m.view().pamtEntry((big >>> 12) + 3)));
        assertEquals(Pamt.PT_NDA, Pamt.type(f.m.view().pamtEntry(sept >>> 12)));
        ok(f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, sept, null));
        // a 4K leaf cannot be demoted (the operand), and neither can the non-leaf the 2M entry is now
        assertStatus(op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX), f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr,
                f.page(), null));
    }

    @Test
    void demoteBusyAtEachLockInOrder() {
        long[] expected = { op(TDX_OPERAND_BUSY, OPERAND_SEPT_TREE), op(TDX_OPERAND_BUSY, OPERAND_RCX),
                op(TDX_OPERAND_BUSY, OPERAND_R8), op(TDX_OPERAND_BUSY, OPERAND_RCX) };
        for (int n = 1; n <= expected.length; n++) {
            Fixture f = runnable(Contention.failingAt(n));
            long big = aug2m(f);
            blockAndTrack(f, M2, 1);
            f.enter(0, 0); // a vCPU inside, in the new epoch: contention is possible, tracking stays done
            long sept = f.page();
            assertStatus(expected[n - 1], f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, sept, null));
            assertEquals(SeptState.PENDING_BLOCKED, f.state(M2, 1));
            assertEquals(Pamt.SIZE_2M, Pamt.size(f.m.view().pamtEntry(big >>> 12)));
            ok(f.m.tdhMemPageDemote(rcx(M2, 1), f.tdr, sept, null)); // KVM's retry
            assertEquals(SeptState.NL_MAPPED, f.state(M2, 1));
        }
    }

    @Test
    void theModuleStateWithTwoMegabyteLeavesSurvivesASaveAndLoad() {
        Fixture f = runnable(Contention.none());
        long big = aug2m(f);
        ok(f.m.tdgMemPageAccept(0, rcx(M2, 1), true));
        // through the plain data a bundle swap carries, as the next backend decodes it
        java.util.Map<String, Object> plain = org.tdplab.mmu.api.backend.SnapshotCodec.encode(1, f.m.saveState());
        ModuleState decoded = org.tdplab.mmu.api.backend.SnapshotCodec.decode(plain, 1, ModuleState.class);
        TdxModule copy = TdxModule.loadState(decoded, f.frames, Contention.none());
        assertEquals(SeptState.MAPPED, TdxAbi.stateOf(copy.view().lookup(M2 >>> 12, 1)));
        java.util.List<String> problems = new java.util.ArrayList<>();
        copy.view().check(problems);
        assertEquals(java.util.List.of(), problems);
        assertEquals(Pamt.SIZE_2M, Pamt.size(copy.view().pamtEntry((big >>> 12) + 100)));
        assertEquals(f.m.view().chldcnt(), copy.view().chldcnt());
        for (int v = 0; v < 2; v++) { // each vCPU's TDVPS fields, kept per vCPU line
            assertEquals(f.m.extExitQualification(v), copy.extExitQualification(v));
            assertEquals(f.m.acceptedHpa(v), copy.acceptedHpa(v));
            assertEquals(f.m.view().inGuest(v), copy.view().inGuest(v));
            assertEquals(f.m.view().vcpuEpoch(v), copy.view().vcpuEpoch(v));
        }
        assertTrue(f.m.view().vpEnters() > 0);
        assertEquals(f.m.view().vpEnters(), copy.view().vpEnters());
        assertEquals(f.m.view().eptFlushes(), copy.view().eptFlushes());
        assertEquals(f.m.saveState().sept().pages().size(), copy.saveState().sept().pages().size());
    }

    @Test
    void aModuleStateThatDoesNotFitIsRefusedNamingTheField() {
        Fixture f = runnable(Contention.none());
        ModuleState s = f.m.saveState();
        ModuleState.Vcpus v = s.vcpus();
        ModuleState fewer = new ModuleState(s.version(), s.tdmrLimitPfn(), s.td(), new ModuleState.Vcpus(v.numVcpus(),
                v.tdvprPfn(), v.tdcxAdded(), v.initialized(), v.flushed(), v.inGuest(), v.epoch(),
                new long[0], v.acceptedHpa(), v.extExitQual()), s.sept(), s.pamt());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> TdxModule.loadState(fewer, f.frames, Contention.none()));
        assertEquals("TDX module state vcpus.enterSeq has 0 elements where this module has " + v.epoch().length,
                e.getMessage());
        ModuleState future = new ModuleState("2.0", s.tdmrLimitPfn(), s.td(), v, s.sept(), s.pamt());
        e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> TdxModule.loadState(future, f.frames, Contention.none()));
        assertEquals("TDX module version 2.0 is not 1.0 or 1.5", e.getMessage());
    }
}
