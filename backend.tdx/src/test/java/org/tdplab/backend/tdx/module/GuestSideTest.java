package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.Fixture.assertStatus;
import static org.tdplab.backend.tdx.module.Fixture.ok;
import static org.tdplab.backend.tdx.module.Fixture.rcx;
import static org.tdplab.backend.tdx.module.TdxStatus.*;

import org.junit.jupiter.api.Test;

/** The hardware's S-EPT walk for guest accesses, TDG.MEM.PAGE.ACCEPT, and the vCPUs' epoch bookkeeping. */
class GuestSideTest {
    private static final long M2 = 2L << 20, PAGE = 0x1000;

    private static Fixture running(long attributes) {
        Fixture f = new Fixture(TdxAbi.Version.V1_5, 48, attributes, 2, Contention.none());
        f.add(0, 0x11);
        f.finalizeTd();
        return f;
    }

    @Test
    void guestWalkTranslatesMappedPages() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        long hpa = TdxAbi.hpaOf(f.m.view().lookup(0, 0));
        long r = f.m.guestTranslate(0, 0, true, true);
        assertEquals(hpa >>> 12, r & ((1L << 56) - 1));
        assertEquals(1, r >>> 56);
        assertTrue(f.m.view().inGuest(0));
        assertEquals(1, f.m.view().vpEnters());
        f.m.guestTranslate(0, 0, false, true);
        assertEquals(1, f.m.view().vpEnters(), "a vCPU inside does not enter again");
    }

    @Test
    void missingOrBlockedIsAnEptViolationExit() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        assertEquals(TdxAbi.G_EPT_VIOLATION, f.m.guestTranslate(0, PAGE >>> 12, false, true));
        assertFalse(f.m.view().inGuest(0));
        assertEquals(0, f.m.view().refcount(1));
        ok(f.m.tdhMemRangeBlock(rcx(0, 0), f.tdr, null));
        assertEquals(TdxAbi.G_EPT_VIOLATION, f.m.guestTranslate(0, 0, false, true));
    }

    @Test
    void pendingPageIsAnExitWithSeptVeDisableElseAVe() {
        Fixture on = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        on.aug(PAGE);
        assertEquals(TdxAbi.G_PENDING_EXIT, on.m.guestTranslate(0, PAGE >>> 12, false, true));
        assertFalse(on.m.view().inGuest(0));
        Fixture off = running(0);
        off.aug(PAGE);
        assertEquals(TdxAbi.G_VE, off.m.guestTranslate(0, PAGE >>> 12, false, true));
        assertTrue(off.m.view().inGuest(0), "a #VE is delivered inside the TD");
    }

    @Test
    void noEntryBeforeFinalizeOrWhenHeldOut() {
        Fixture f = new Fixture();
        f.add(0, 1);
        assertEquals(TdxAbi.G_NOT_ENTERED, f.m.guestTranslate(0, 0, false, true));
        assertStatus(MODEL_NOT_ENTERED, f.m.tdgMemPageAccept(0, rcx(0, 0), true));
        f.finalizeTd();
        assertEquals(TdxAbi.G_NOT_ENTERED, f.m.guestTranslate(0, 0, false, false));
        assertTrue(f.m.guestTranslate(0, 0, false, true) >= 0);
    }

    @Test
    void acceptZeroesAPendingPage() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        long hpa = f.aug(PAGE);
        f.memory.put(hpa >>> 12, 0xdeadL); // what the host left there
        ok(f.m.tdgMemPageAccept(1, rcx(PAGE, 0), true));
        assertEquals(0L, f.memory.get(hpa >>> 12));
        assertEquals(hpa, f.m.acceptedHpa(1));
        assertEquals(SeptState.MAPPED, f.state(PAGE, 0));
        assertStatus(withOperand(TDX_PAGE_ALREADY_ACCEPTED, 0), f.m.tdgMemPageAccept(1, rcx(PAGE, 0), true));
        assertStatus(withOperand(TDX_PAGE_ALREADY_ACCEPTED, 0), f.m.tdgMemPageAccept(1, rcx(0, 0), true));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    @Test
    void acceptExitsWhereThePageIsMissing() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        assertStatus(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(PAGE, 0), true)); // FREE
        assertFalse(f.m.view().inGuest(0));
        assertStatus(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(1L << 30, 0), true)); // no PD
        assertStatus(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(M2, 1), true)); // FREE PDE
        ok(f.m.tdhMemRangeBlock(rcx(0, 0), f.tdr, null));
        assertStatus(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(0, 0), true)); // BLOCKED
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdgMemPageAccept(0, rcx(0, 2), true));
        assertStatus(withOperand(TDX_OPERAND_INVALID, OPERAND_RCX), f.m.tdgMemPageAccept(0, rcx(1L << 47, 0), true));
    }

    @Test
    void accept2MOnAFourKMappingIsASizeMismatch() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        assertStatus(withOperand(TDX_PAGE_SIZE_MISMATCH, 1), f.m.tdgMemPageAccept(0, rcx(0, 1), true));
        // a 2M PENDING leaf is accepted whole, and then a 4K accept inside it is already done
        f.link(M2, 1);
        long big = f.page2m();
        ok(f.m.tdhMemPageAug(rcx(M2, 1), f.tdr, big, null));
        assertStatus(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(M2 + PAGE, 0), true));
        f.memory.put((big >>> 12) + 511, 5L);
        ok(f.m.tdgMemPageAccept(0, rcx(M2, 1), true));
        assertEquals(0L, f.memory.get((big >>> 12) + 511));
        assertStatus(withOperand(TDX_PAGE_ALREADY_ACCEPTED, 1), f.m.tdgMemPageAccept(0, rcx(M2 + PAGE, 0), true));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    /**
     * An ACCEPT starts its 4K walk where the vCPU's last one reached only while no link changed: after the host
     * blocks the 2M link above a PENDING page, the next ACCEPT there stops at the blocked link and exits (at level 1),
     * as a walk from the root does, instead of accepting through the page it remembered; unblocked, it accepts.
     */
    @Test
    void anAcceptWalksAgainFromTheRootOnceALinkAboveItChanged() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        f.aug(M2);
        f.aug(M2 + PAGE);
        ok(f.m.tdgMemPageAccept(0, rcx(M2, 0), true)); // the walk through the region's links, remembered
        assertEquals(SeptState.MAPPED, f.state(M2, 0));
        ok(f.m.tdhMemRangeBlock(rcx(M2, 1), f.tdr, null));
        assertEquals(TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(M2 + PAGE, 0), true));
        assertEquals(1, (int) ((f.m.extExitQualification(0) >>> 35) & 7), "the walk stopped at the 2M link");
        assertEquals(SeptState.PENDING, f.state(M2 + PAGE, 0));
        ok(f.m.tdhMemTrack(f.tdr));
        ok(f.m.tdhMemRangeUnblock(rcx(M2, 1), f.tdr, null));
        ok(f.m.tdgMemPageAccept(0, rcx(M2 + PAGE, 0), true));
        ok(f.m.tdgMemPageAccept(1, rcx(M2 + 2 * PAGE, 0), true) == TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION
                ? TdxStatus.TDX_SUCCESS : -1); // a FREE page: the TD exits for its AUG
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    /**
     * An ACCEPT that walks from the root to a FREE entry (and exits for its AUG) leaves its page in this thread's
     * host walk memory, so the AUG that follows on the same thread starts there; a blocked link above it clears the
     * memory, and the next ACCEPT's walk, stopped at the link, writes none.
     */
    @Test
    void anAcceptExitTellsTheAugWhereTheRegionsPageIs() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        f.link(M2, 0); // the region's page of 4K entries, linked by an NL_MAPPED entry
        assertEquals(0, f.m.sept.walkedLeafPage((M2 + PAGE) >>> 12));
        assertEquals(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(M2 + PAGE, 0), true));
        int page = SeptWalk.posPage(new SeptWalk(f.m, new TdChecks(f.m)).walkFromRoot((M2 + PAGE) >>> 12, 0));
        assertEquals(page, f.m.sept.walkedLeafPage((M2 + PAGE) >>> 12));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
        ok(f.m.tdhMemRangeBlock(rcx(M2, 1), f.tdr, null));
        assertEquals(0, f.m.sept.walkedLeafPage((M2 + PAGE) >>> 12));
        assertEquals(MODEL_TD_EXIT_EPT_VIOLATION, f.m.tdgMemPageAccept(0, rcx(M2 + 2 * PAGE, 0), true));
        assertEquals(0, f.m.sept.walkedLeafPage((M2 + 2 * PAGE) >>> 12));
        ok(f.m.tdhMemTrack(f.tdr));
        ok(f.m.tdhMemRangeUnblock(rcx(M2, 1), f.tdr, null));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
    }

    /**
     * The checker walks from the root wherever the walks' memory names a page: one remembered wrongly (a page the
     * walk does not reach there) is reported, for the host's walks and for a vCPU's ACCEPTs.
     */
    @Test
    void theCheckerFindsAWalkMemoryThatDoesNotHold() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        f.aug(M2);
        ok(f.m.tdgMemPageAccept(0, rcx(M2, 0), true)); // both memories name the region's page of 4K entries
        assertTrue(f.violations().isEmpty(), f.violations().toString());
        f.m.sept.walkedTo(M2 >>> 12, f.m.rootPage); // this thread's slot: the AUG's walk ran here
        f.m.lines.walked(0, M2 >>> 12, f.m.rootPage, f.m.sept.linkGeneration());
        java.util.List<String> found = f.violations();
        assertEquals(2, found.size(), found.toString());
        assertTrue(found.get(0).startsWith("tdx walk memory: the host's walks go to S-EPT page " + f.m.rootPage
                + " for GPA 0x200000, a walk from the root reaches page "), found.get(0));
        assertTrue(found.get(1).startsWith("tdx walk memory: vCPU 0's ACCEPTs go to S-EPT page "), found.get(1));
    }

    /** A vCPU in guest mode holds one refcount in its epoch's slot; a kick snapshot exits only those inside before. */
    @Test
    void epochBookkeepingAcrossKicks() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        f.enter(0, 0);
        f.enter(1, 0);
        assertEquals(2, f.m.view().refcount(1));
        long[] snap = new long[2];
        assertTrue(f.m.snapshotEntries(snap), "two vCPUs inside");
        f.m.tdExit(1);
        f.enter(1, 0); // entered again after the snapshot: still inside after the kick
        f.m.exitedSince(snap);
        assertFalse(f.m.view().inGuest(0));
        assertTrue(f.m.view().inGuest(1));
        assertEquals(1, f.m.view().refcount(1));
        assertTrue(f.violations().isEmpty(), f.violations().toString());
        f.m.exitAll();
        assertEquals(0, f.m.view().refcount(0) + f.m.view().refcount(1));
        assertFalse(f.m.snapshotEntries(snap), "nobody inside: the kick has nothing to count");
        assertArrayEquals(new long[] { -1, -1 }, snap);
    }

    /**
     * The epoch refcounts survive a save and load with vCPUs inside (counted per vCPU, a restored count is all in
     * vCPU 0's share): an exit of another vCPU after the load takes its count back, and TRACK sees the epoch drain.
     */
    @Test
    void epochRefcountsSurviveASaveAndLoadAndExitsAfterItTakeThemBack() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        f.enter(0, 0);
        f.enter(1, 0);
        TdxModule copy = TdxModule.loadState(f.m.saveState(), f.frames, Contention.none());
        assertEquals(2, copy.view().refcount(1));
        copy.tdExit(1);
        assertEquals(1, copy.view().refcount(1));
        java.util.List<String> problems = new java.util.ArrayList<>();
        copy.view().check(problems);
        assertEquals(java.util.List.of(), problems);
        ok(copy.tdhMemTrack(f.tdr)); // the previous epoch (parity 0) is empty
        assertEquals(TdxStatus.TDX_PREVIOUS_TLB_EPOCH_BUSY, copy.tdhMemTrack(f.tdr)); // vCPU 0 is still in epoch 1
        copy.tdExit(0);
        assertEquals(0, copy.view().refcount(0) + copy.view().refcount(1));
        ok(copy.tdhMemTrack(f.tdr));
    }

    @Test
    void checkerSeesBrokenAccounting() {
        Fixture f = running(TdxAbi.ATTR_SEPT_VE_DISABLE);
        f.aug(PAGE);
        assertTrue(f.violations().isEmpty(), f.violations().toString());
        ok(f.m.tdhMemRangeBlock(rcx(PAGE, 0), f.tdr, null));
        assertTrue(f.violations().stream().anyMatch(v -> v.contains("PENDING_BLOCKED outside a removal")),
                f.violations().toString());
    }
}
