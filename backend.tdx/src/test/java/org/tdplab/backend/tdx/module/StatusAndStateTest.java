package org.tdplab.backend.tdx.module;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Status codes as Linux compares and prints them; the S-EPT state table; busy injection. */
class StatusAndStateTest {
    @Test
    void statusClassesAndNames() {
        long busy = TdxStatus.withOperand(TdxStatus.TDX_OPERAND_BUSY, TdxStatus.OPERAND_SEPT_TREE);
        assertEquals(0x8000_0200_0000_0092L, busy);
        assertTrue(TdxStatus.operandBusy(busy));
        assertFalse(TdxStatus.operandBusy(TdxStatus.TDX_OPERAND_BUSY_HOST_PRIORITY));
        assertFalse(TdxStatus.operandBusy(TdxStatus.TDX_PREVIOUS_TLB_EPOCH_BUSY));
        assertEquals("TDX_OPERAND_BUSY|SEPT_TREE", TdxStatus.name(busy));
        assertEquals("TDX_EPT_WALK_FAILED|RCX",
                TdxStatus.name(TdxStatus.withOperand(TdxStatus.TDX_EPT_WALK_FAILED, TdxStatus.OPERAND_RCX)));
        assertEquals("TDX_PAGE_SIZE_MISMATCH|level 1",
                TdxStatus.name(TdxStatus.withOperand(TdxStatus.TDX_PAGE_SIZE_MISMATCH, 1)));
        assertEquals("TDX_SUCCESS", TdxStatus.name(TdxStatus.TDX_SUCCESS));
        assertSame(TdxStatus.name(TdxStatus.TDX_SUCCESS), TdxStatus.name(0), "the guest path builds no strings");
        assertFalse(TdxStatus.isError(TdxStatus.TDX_PAGE_ALREADY_ACCEPTED));
        assertTrue(TdxStatus.isError(TdxStatus.TDX_TD_FATAL));
        assertEquals(0xC0000B0D00000000L, TdxStatus.classOf(
                TdxStatus.withOperand(TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT, TdxStatus.OPERAND_RCX)));
    }

    @Test
    void stateTable() {
        assertEquals(0x84, SeptState.publicValue(SeptState.NL_MAPPED));
        assertEquals(3, SeptState.publicValue(SeptState.PENDING_BLOCKED));
        assertEquals(SeptState.BLOCKED, SeptState.blocked(SeptState.MAPPED));
        assertEquals(SeptState.PENDING, SeptState.unblocked(SeptState.PENDING_BLOCKED));
        assertTrue(SeptState.allowed(SeptState.ALLOW_PAGE_AUG, SeptState.REMOVED));
        assertFalse(SeptState.allowed(SeptState.ALLOW_PAGE_REMOVE, SeptState.NL_MAPPED));
        assertTrue(SeptState.allowed(SeptState.ALLOW_RANGE_BLOCK, SeptState.PENDING));
        assertFalse(SeptState.allowed(SeptState.ALLOW_RANGE_BLOCK, SeptState.FREE));
        assertTrue(SeptState.isGuestAccessibleLeaf(SeptState.BLOCKEDW));
        assertFalse(SeptState.isGuestAccessibleLeaf(SeptState.PENDING));
        assertFalse(SeptState.tlbTrackingRequired(SeptState.FREE));
        assertEquals("PENDING_BLOCKED", SeptState.name(SeptState.PENDING_BLOCKED));
    }

    @Test
    void contentionIsSeededAndNeedsContenders() {
        Contention a = new Contention(0.5, 42), b = new Contention(0.5, 42);
        for (int i = 0; i < 100; i++)
            assertEquals(a.busy(true), b.busy(true));
        assertTrue(a.injected() > 10 && a.injected() < 90);
        assertFalse(new Contention(1, 0).busy(false));
        Contention third = Contention.failingAt(3);
        assertFalse(third.busy(true));
        assertFalse(third.busy(false)); // not counted: nobody contends
        assertFalse(third.busy(true));
        assertTrue(third.busy(true));
        assertFalse(third.busy(true));
        assertThrows(IllegalArgumentException.class, () -> new Contention(2, 0));
    }

    @Test
    void pamtPacksTypeSizeOwnerEpoch() {
        long e = Pamt.entry(Pamt.PT_REG, Pamt.SIZE_2M, 1, 12345);
        assertEquals(Pamt.PT_REG, Pamt.type(e));
        assertEquals(Pamt.SIZE_2M, Pamt.size(e));
        assertEquals(1, Pamt.owner(e));
        assertEquals(12345, Pamt.bepoch(e));
        Pamt p = new Pamt();
        p.set(512, Pamt.SIZE_2M, e);
        assertEquals(Pamt.PT_REG, p.typeOf(1023));
        p.free(512, Pamt.SIZE_2M, 4);
        assertEquals(Pamt.PT_NDA, p.typeOf(600));
        assertEquals(4, p.dirtyKeyId(600));
        p.flushAll();
        assertTrue(p.isEmpty());
    }
}
