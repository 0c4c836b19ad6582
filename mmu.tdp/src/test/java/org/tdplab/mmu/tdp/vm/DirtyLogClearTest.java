package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.G1;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SpteInfo;

/**
 * {@code KVM_CLEAR_DIRTY_LOG} with manual protection and the log initially set
 * ({@code KVM_DIRTY_LOG_INITIALLY_SET}): enabling protects nothing; each clear splits the huge pages of its range
 * (eager splitting) and write-protects what it cleared; a clear that reaches the end of the slot may end in a
 * partial word.
 */
class DirtyLogClearTest {
    private static final long K4 = 0x1000, PAGES = 712; // 2M and 200 pages: 11 whole words and one of 8 pages

    private static SpteInfo leaf(CoreVm vm, long gpa) {
        return vm.lookup(gpa, RootKind.DIRECT).orElseThrow();
    }

    @Test
    void eachClearSplitsAndProtectsItsRangeOnly() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, PAGES * K4, PageSize.SIZE_2M);
        assertTrue(vm.access(0, Access.WRITE, G1, PAGES * K4, Encoding.CURRENT, 5).completed());
        assertEquals(2, leaf(vm, G1).level(), "mapped huge before logging");
        vm.setDirtyLogging(0, true, new DirtyLogOptions(true, true));
        assertEquals(2, leaf(vm, G1).level(), "initially set: nothing split or protected yet");
        assertTrue(leaf(vm, G1).writable());
        long[] log = vm.getDirtyLog(0);
        assertEquals(12, log.length);
        for (int w = 0; w < 11; w++)
            assertEquals(-1L, log[w]);
        assertEquals(0xffL, log[11]);

        vm.clearDirtyLog(0, G1, M2);
        assertEquals(1, leaf(vm, G1).level(), "the cleared range's huge page was split");
        assertFalse(leaf(vm, G1 + 0x1000).writable(), "and write-protected");
        assertTrue(leaf(vm, G1 + M2).writable(), "outside the cleared range nothing changed");
        log = vm.getDirtyLog(0);
        for (int w = 0; w < 8; w++)
            assertEquals(0, log[w], "word " + w);
        assertEquals(-1L, log[8]);

        assertTrue(vm.access(0, Access.WRITE, G1 + 0x3000, K4, Encoding.CURRENT, 6).completed());
        assertEquals(1L << 3, vm.getDirtyLog(0)[0], "a write after the clear is logged again");

        vm.clearDirtyLog(0, G1 + M2, (PAGES - 512) * K4); // 200 pages: reaches the end, ends in a partial word
        log = vm.getDirtyLog(0);
        for (int w = 8; w < 12; w++)
            assertEquals(0, log[w], "word " + w);
        assertFalse(leaf(vm, G1 + (PAGES - 1) * K4).writable());

        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.clearDirtyLog(0, G1 + M2, (PAGES - 512 + 64) * K4)).errno(), "past the slot's end");
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.clearDirtyLog(0, G1 - 64 * K4, 64 * K4)).errno(), "before the slot");
        assertEquals(Errno.ENOENT, assertThrows(MmuException.class,
                () -> vm.clearDirtyLog(1, G1, 64 * K4)).errno(), "no such slot");
        assertClean(vm);
        vm.destroy();
    }

    /** The 64-page words count from the slot's first page, wherever the slot starts. */
    @Test
    void wordsCountFromTheSlotsFirstPage() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0x10000, 128 * K4, PageSize.SIZE_4K); // gfn 0x10: not a multiple of 64
        assertTrue(vm.access(0, Access.WRITE, 0x10000, 128 * K4, Encoding.CURRENT, 5).completed());
        vm.setDirtyLogging(0, true, new DirtyLogOptions(false, true));
        vm.clearDirtyLog(0, 0x10000, 64 * K4);
        long[] log = vm.getDirtyLog(0);
        assertEquals(0, log[0], "the slot's first word");
        assertEquals(-1L, log[1]);
        assertFalse(leaf(vm, 0x10000 + 63 * K4).writable());
        assertTrue(leaf(vm, 0x10000 + 64 * K4).writable());
        assertClean(vm);
        vm.destroy();
    }

    /**
     * {@code kvm_arch_sync_dirty_log} first: a page whose dirtiness is still in the page-modification log (here: its
     * D bit) is cleared and protected with the rest, not left to show up in the next {@code GET}.
     */
    @Test
    void aClearHarvestsTheLogFirst() {
        CoreVm vm = TestVms.create(TestVms.ordinary().withDirtyLogByDirtyBit(true), 1);
        slot(vm, 0, 0, 64 * K4, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0, 64 * K4, Encoding.CURRENT, 5).completed());
        vm.setDirtyLogging(0, true, new DirtyLogOptions(false, true));
        vm.clearDirtyLog(0, 0, 64 * K4);
        assertTrue(vm.access(0, Access.WRITE, 3 * K4, K4, Encoding.CURRENT, 6).completed());
        assertEquals(1L << 3, vm.getDirtyLog(0)[0], "the write after the clear, harvested by GET");
        vm.clearDirtyLog(0, 0, 64 * K4);
        assertTrue(vm.access(0, Access.WRITE, 5 * K4, K4, Encoding.CURRENT, 7).completed());
        vm.clearDirtyLog(0, 0, 64 * K4);
        assertEquals(0, vm.getDirtyLog(0)[0], "page 5's D bit was harvested by the clear and cleared with it");
        assertClean(vm);
        vm.destroy();
    }
}
