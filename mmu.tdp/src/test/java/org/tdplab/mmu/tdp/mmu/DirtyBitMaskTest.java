package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * {@code kvm_tdp_mmu_clear_dirty_pt_masked} with a page-modification log: only the pages of the mask lose D, the
 * mask's bit i naming page {@code start + i}, across its 64-bit words; W stays and nothing is flushed.
 */
class DirtyBitMaskTest {
    private final MmuHarness h = new MmuHarness(
            VmCapabilities.ordinary("pml", 48).withDirtyLogByDirtyBit(true));
    private final TdpMmu mmu = h.mmu;

    private long dirty(int root, long gfn) {
        return h.last(root, gfn)[1] & Spte.DIRTY;
    }

    @Test
    void onlyThePagesOfTheMaskLoseTheirDirtyBit() {
        int root = h.root(false);
        long start = 0x1000;
        long[] pages = { start + 1, start + 64, start + 65, start + 130 };
        for (long gfn : pages)
            h.map(root, gfn, Spte.PG_LEVEL_4K, true);
        for (long gfn : pages)
            assertNotEquals(0, dirty(root, gfn), "a write fault maps the page dirty");
        long[] mask = new long[3];
        mask[1] |= 1L << (65 - 64); // page start + 65
        mask[2] |= 1L << (130 - 128); // page start + 130
        int flushes = h.flushes.size();
        mmu.dirtyLog.writeProtect(start, start + 192, mask, false);
        assertNotEquals(0, dirty(root, start + 1), "not in the mask");
        assertNotEquals(0, dirty(root, start + 64), "not in the mask (bit 0 of the second word is clear)");
        assertEquals(0, dirty(root, start + 65));
        assertEquals(0, dirty(root, start + 130));
        for (long gfn : pages)
            assertTrue(Spte.isWritable(h.last(root, gfn)[1]), "D-bit logging keeps W");
        assertEquals(flushes, h.flushes.size(), "clearing D needs no flush");
        h.assertQuiescent();
    }
}
