package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.G1;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * Dirty logging where the kernel's edges decide: the page-modification log keeps a write whose leaf is zapped before
 * the log is read, a read-only slot is neither split nor protected, a prefetch without A/D bits is not logged, and a
 * huge leaf protected by an initially-set clear is write-tracked.
 */
class DirtyLogEdgesTest {
    private static final long K4 = 0x1000;

    private static boolean write(CoreVm vm, long gpa, long size) {
        return vm.access(0, Access.WRITE, gpa, size, Encoding.CURRENT, 7).completed();
    }

    @Test
    void theModificationLogKeepsAWriteWhoseLeafWasZappedBeforeTheLogWasRead() {
        CoreVm vm = TestVms.create(TestVms.ordinary().withDirtyLogByDirtyBit(true), 1);
        slot(vm, 0, G1, 16 * K4, PageSize.SIZE_4K);
        assertTrue(write(vm, G1, 2 * K4));
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        vm.getDirtyLog(0);
        assertEquals(0, vm.getDirtyLog(0)[0], "collected: nothing dirty");
        assertTrue(write(vm, G1, K4)); // a writable leaf with D clear: the CPU sets D and logs the page
        vm.zapGfnRange(G1, 2 * K4);
        assertEquals(1L, vm.getDirtyLog(0)[0], "the written page, not the one only zapped");
        assertClean(vm);
    }

    @Test
    void loggingOnAReadOnlySlotSplitsProtectsAndFlushesNothing() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, 2 * M2, PageSize.SIZE_2M, SlotFlag.READONLY);
        assertTrue(vm.access(0, Access.READ, G1, K4, Encoding.CURRENT, 0).completed());
        long flushes = vm.stats().get("remote_tlb_flush");
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        assertEquals(2, vm.lookup(G1, RootKind.DIRECT).orElseThrow().level());
        vm.setDirtyLogging(0, false, DirtyLogOptions.DEFAULT);
        assertEquals(flushes, vm.stats().get("remote_tlb_flush"));
        assertClean(vm);
    }

    @Test
    void aPrefetchWithoutAccessedDirtyBitsIsNotLoggedDirtyButAWriteIs() {
        CoreVm vm = TestVms.create(TestVms.ordinary().withAdDisabled(true), 1);
        slot(vm, 0, G1, 16 * K4, PageSize.SIZE_4K);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        vm.prefault(0, G1, 4 * K4);
        assertEquals(0, vm.getDirtyLog(0)[0]);
        assertFalse(vm.lookup(G1, RootKind.DIRECT).orElseThrow().writable());
        assertTrue(write(vm, G1 + K4, K4));
        assertEquals(1L << 1, vm.getDirtyLog(0)[0]);
        assertClean(vm);
    }

    @Test
    void anInitiallySetClearLeavesItsFourKLeavesMmuWritableForTheFastPath() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, 64 * K4, PageSize.SIZE_4K);
        assertTrue(write(vm, G1, 64 * K4));
        vm.setDirtyLogging(0, true, new DirtyLogOptions(false, true));
        vm.clearDirtyLog(0, G1, 64 * K4);
        long spte = vm.lookup(G1, RootKind.DIRECT).orElseThrow().spte();
        assertFalse(Spte.isWritable(spte));
        assertTrue(Spte.isMmuWritable(spte), "clear_dirty_pt_masked clears W only");
        assertTrue(write(vm, G1, K4));
        assertEquals(1, vm.stats().get("pf_fast"));
        assertClean(vm);
    }

    @Test
    void anInitiallySetClearWriteTracksTheHugeLeafItProtects() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_2M);
        assertTrue(write(vm, G1, M2));
        vm.setDirtyLogging(0, true, new DirtyLogOptions(false, true));
        vm.clearDirtyLog(0, G1, 64 * K4);
        long spte = vm.lookup(G1, RootKind.DIRECT).orElseThrow().spte();
        assertEquals(2, vm.lookup(G1, RootKind.DIRECT).orElseThrow().level());
        assertFalse(Spte.isWritable(spte));
        assertFalse(Spte.isMmuWritable(spte), "write_protect_gfn clears mmu-writable too");
        assertTrue(write(vm, G1 + 0x100000, K4));
        assertTrue(write(vm, G1 + 0x101000, K4));
        assertEquals(0, vm.stats().get("pf_fast"), "the split pieces are write-tracked: no fast path");
        assertClean(vm);
    }
}
