package org.tdplab.backend.tdx.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.tdx.module.TdxStatus.name;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The platform's private HKIDs ({@code tdx_guest_keyid_alloc}/{@code _free}) and the SEAMCALL statuses as Linux
 * prints them in its messages ({@code TDX_OPERAND_BUSY|SEPT_TREE}).
 */
class HkidsAndStatusNamesTest {
    @Test
    void hkidsRunFrom1ToTheLastPrivateKeyId() {
        HkidPool pool = new HkidPool(3);
        assertEquals(1, pool.alloc());
        assertEquals(2, pool.alloc());
        assertEquals(3, pool.alloc());
        MmuException e = assertThrows(MmuException.class, pool::alloc);
        assertEquals(Errno.ENOSPC, e.errno());
        assertEquals("every one of the 3 private HKIDs is in use by a TD", e.reason());
        assertEquals(3, pool.inUse());
        pool.free(2);
        assertEquals(2, pool.inUse());
        assertEquals(2, pool.alloc(), "a freed HKID is reused at once");
        assertEquals(0, new HkidPool().inUse());
        HkidPool all = new HkidPool();
        for (int i = 1; i <= TdxAbi.MAX_HKID; i++)
            assertEquals(i, all.alloc());
        assertEquals(Errno.ENOSPC, assertThrows(MmuException.class, all::alloc).errno());
    }

    @Test
    void aRestoredTdReservesItsHkid() {
        HkidPool pool = new HkidPool(3);
        assertEquals(Errno.EBUSY, assertThrows(MmuException.class, () -> pool.reserve(0)).errno());
        assertEquals(Errno.EBUSY, assertThrows(MmuException.class, () -> pool.reserve(4)).errno());
        pool.reserve(3);
        pool.reserve(1);
        MmuException e = assertThrows(MmuException.class, () -> pool.reserve(3));
        assertEquals("HKID 3 is not free", e.reason());
        assertEquals(2, pool.alloc());
        assertEquals(3, pool.inUse());
    }

    @Test
    void statusesAreNamedWithTheirOperandOrLevel() {
        assertEquals("TDX_SUCCESS", name(TdxStatus.TDX_SUCCESS));
        assertEquals("TDX_OPERAND_BUSY|SEPT_TREE", name(withOperand(TdxStatus.TDX_OPERAND_BUSY,
                TdxStatus.OPERAND_SEPT_TREE)));
        assertEquals("TDX_OPERAND_INVALID|RCX", name(withOperand(TdxStatus.TDX_OPERAND_INVALID, 1)));
        assertEquals("TDX_OPERAND_INVALID|RDX", name(withOperand(TdxStatus.TDX_OPERAND_INVALID, 2)));
        assertEquals("TDX_OPERAND_INVALID|R8", name(withOperand(TdxStatus.TDX_OPERAND_INVALID, 8)));
        assertEquals("TDX_OPERAND_INVALID|R9", name(withOperand(TdxStatus.TDX_OPERAND_INVALID, 9)));
        assertEquals("TDX_OPERAND_INVALID|0xf", name(withOperand(TdxStatus.TDX_OPERAND_INVALID, 15)));
        assertEquals("TDX_OPERAND_INVALID|0x10", name(withOperand(TdxStatus.TDX_OPERAND_INVALID, 16)));
        assertEquals("TDX_OPERAND_BUSY|TDR", name(withOperand(TdxStatus.TDX_OPERAND_BUSY, TdxStatus.OPERAND_TDR)));
        assertEquals("TDX_OPERAND_BUSY|TD_EPOCH", name(withOperand(TdxStatus.TDX_OPERAND_BUSY,
                TdxStatus.OPERAND_TD_EPOCH)));
        assertEquals("TDX_OP_STATE_INCORRECT|OP_STATE", name(withOperand(TdxStatus.TDX_OP_STATE_INCORRECT,
                TdxStatus.OPERAND_OP_STATE)));
        assertEquals("TDX_PAGE_SIZE_MISMATCH|level 1", name(withOperand(TdxStatus.TDX_PAGE_SIZE_MISMATCH, 1)));
        assertEquals("TDX_PAGE_ALREADY_ACCEPTED|level 0", name(TdxStatus.TDX_PAGE_ALREADY_ACCEPTED));
        assertEquals("TDX_EPT_PAGE_NOT_FREE", name(TdxStatus.TDX_EPT_PAGE_NOT_FREE));
        assertEquals("NOT_ENTERED", name(TdxStatus.MODEL_NOT_ENTERED));
        assertEquals("TD_EXIT(EPT_VIOLATION)", name(TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION));
        assertEquals("0xc0000fff00000000", name(0xC000_0FFF_0000_0000L));
        assertTrue(TdxStatus.operandBusy(withOperand(TdxStatus.TDX_OPERAND_BUSY, TdxStatus.OPERAND_SEPT_TREE)));
        assertFalse(TdxStatus.operandBusy(TdxStatus.TDX_OPERAND_BUSY_HOST_PRIORITY), "KVM retries only BUSY");
        assertTrue(TdxStatus.isError(TdxStatus.TDX_OPERAND_INVALID));
        assertFalse(TdxStatus.isError(TdxStatus.TDX_PAGE_ALREADY_ACCEPTED), "a warning, not an error");
        assertEquals(TdxStatus.OPERAND_SEPT_TREE, TdxStatus.operand(withOperand(TdxStatus.TDX_OPERAND_BUSY,
                TdxStatus.OPERAND_SEPT_TREE)));
    }
}
