package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.G1;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;

/** {@code fast_page_fault}: the lockless fix of write-protected and access-tracked leaves, and A/D-disabled aging. */
class FastPageFaultTest {
    private static AccessResult write(Vm vm, long gpa, long size, long value) {
        return vm.access(0, Access.WRITE, gpa, size, Encoding.CURRENT, value);
    }

    private static AccessResult read(Vm vm, long gpa, long size) {
        return vm.access(0, Access.READ, gpa, size, Encoding.CURRENT, 0);
    }

    private static long dirtyCount(long[] log) {
        return Arrays.stream(log).map(Long::bitCount).sum();
    }

    @Test
    void aDirtyLogWriteFaultIsFixedByTheFastPathAndLogged() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_4K);
        write(vm, G1, 16 * 0x1000L, 1);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        assertFalse(vm.lookup(G1, RootKind.DIRECT).orElseThrow().writable());
        long fixed = vm.stats().get("pf_fixed");
        write(vm, G1, 4 * 0x1000L, 2);
        assertEquals(4, vm.stats().get("pf_fast"), "each write-protected page fixed locklessly");
        assertEquals(fixed + 4, vm.stats().get("pf_fixed"));
        assertTrue(vm.lookup(G1, RootKind.DIRECT).orElseThrow().writable());
        assertClean(vm);
        assertEquals(4, dirtyCount(vm.getDirtyLog(0)), "the fast path marks the page dirty");
        write(vm, G1 + 0x1000, 0x1000, 3);
        assertEquals(5, vm.stats().get("pf_fast"));
        assertEquals(1, dirtyCount(vm.getDirtyLog(0)));
        assertClean(vm);
    }

    /** A write to a write-protected huge leaf of a dirty-logged slot is the slow path's: it maps the page at 4K. */
    @Test
    void aDirtyLogWriteToAHugeLeafIsLeftToTheSlowPath() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_2M);
        write(vm, G1, M2, 1);
        vm.setDirtyLogging(0, true, new DirtyLogOptions(false, false)); // no eager split: the 2M leaf stays
        assertEquals(2, vm.lookup(G1, RootKind.DIRECT).orElseThrow().level());
        assertFalse(vm.lookup(G1, RootKind.DIRECT).orElseThrow().writable());
        write(vm, G1 + 0x3000, 0x1000, 2);
        assertEquals(0, vm.stats().getOrDefault("pf_fast", 0L), "not fixed locklessly");
        assertEquals(1, vm.lookup(G1 + 0x3000, RootKind.DIRECT).orElseThrow().level(), "mapped at 4K instead");
        assertTrue(vm.lookup(G1 + 0x3000, RootKind.DIRECT).orElseThrow().writable());
        assertEquals(1, dirtyCount(vm.getDirtyLog(0)));
        assertClean(vm);
    }

    @Test
    void aReadOfAWriteProtectedPageIsNotAFault() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_4K);
        write(vm, G1, 0x1000, 1);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        long taken = vm.stats().get("pf_taken");
        assertEquals(1, read(vm, G1, 0x1000).value());
        assertEquals(taken, vm.stats().get("pf_taken"));
        assertEquals(0, vm.stats().get("pf_fast"));
    }

    @Test
    void aFaultOnAnEmptyEntryTakesTheSlowPath() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_4K);
        write(vm, G1, 0x1000, 1);
        assertEquals(0, vm.stats().get("pf_fast"));
        assertEquals(1, vm.stats().get("pf_fixed"));
    }

    @Test
    void withAdDisabledAgingAccessTracksAndTheFastPathRestores() {
        CoreVm vm = TestVms.create(TestVms.ordinary().withAdDisabled(true), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        slot(vm, 1, 2 * G1, M2, PageSize.SIZE_4K);
        write(vm, G1, 4 * M2, 7);
        write(vm, 2 * G1, 8 * 0x1000L, 8);
        long taken = vm.stats().get("pf_taken");
        long flushes = vm.stats().get("remote_tlb_flush");
        assertEquals(4 * 512 + 8, vm.testAge(G1, 4 * M2) + vm.testAge(2 * G1, 8 * 0x1000L));
        assertEquals(4 * 512, vm.age(G1, 4 * M2));
        assertEquals(8, vm.age(2 * G1, 8 * 0x1000L));
        assertEquals(0, vm.testAge(G1, 4 * M2), "aged pages are old");
        assertEquals(0, vm.testAge(2 * G1, 8 * 0x1000L));
        assertEquals(0, vm.age(G1, 4 * M2), "aging twice finds nothing young");
        assertEquals(flushes, vm.stats().get("remote_tlb_flush"), "aging never flushes");
        assertEquals(4, vm.stats().get("pages_2m"), "aging never unmaps");
        assertEquals(8, vm.stats().get("pages_4k"));
        assertTrue(vm.lookup(G1, RootKind.DIRECT).orElseThrow().present());
        assertClean(vm);
        // a fresh vCPU TLB (another vCPU would do too): run through vCPU 0 after its TLB entries are gone
        vm.mmu.flushRemoteTlbs(0, 1L << 36);
        assertEquals(7, read(vm, G1, 4 * M2).value());
        assertEquals(8, read(vm, 2 * G1, 8 * 0x1000L).value());
        assertEquals(4 + 8, vm.stats().get("pf_fast"), "each access-tracked leaf restored locklessly");
        assertEquals(taken + 12, vm.stats().get("pf_taken"));
        assertEquals(4 * 512 + 8, vm.testAge(G1, 4 * M2) + vm.testAge(2 * G1, 8 * 0x1000L));
        write(vm, 2 * G1, 0x1000, 9);
        assertEquals(9, read(vm, 2 * G1, 0x1000).value());
        assertClean(vm);
    }

    @Test
    void withAdDisabledDirtyLoggingStillSeesEveryWrite() {
        CoreVm vm = TestVms.create(TestVms.ordinary().withAdDisabled(true), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_4K);
        write(vm, G1, 8 * 0x1000L, 1);
        vm.age(G1, M2); // access-tracked; vCPU 0 may still cache the pages writable
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        assertClean(vm);
        write(vm, G1, 8 * 0x1000L, 2);
        assertEquals(8, dirtyCount(vm.getDirtyLog(0)), "no false negatives");
        assertClean(vm);
    }

    @Test
    void dirtyBitLoggingReportsWritesWithoutFaults() {
        CoreVm vm = TestVms.create(TestVms.ordinary().withDirtyLogByDirtyBit(true), 2);
        slot(vm, 0, G1, M2, PageSize.SIZE_4K);
        write(vm, G1, 32 * 0x1000L, 1);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        assertTrue(vm.lookup(G1, RootKind.DIRECT).orElseThrow().writable(), "D cleared, W kept");
        long taken = vm.stats().get("pf_taken");
        write(vm, G1 + 0x3000, 2 * 0x1000L, 2);
        assertEquals(taken, vm.stats().get("pf_taken"));
        assertClean(vm);
        assertEquals(2, dirtyCount(vm.getDirtyLog(0)));
        assertEquals(0, dirtyCount(vm.getDirtyLog(0)));
        write(vm, G1 + 0x3000, 0x1000, 3);
        assertEquals(1, dirtyCount(vm.getDirtyLog(0)), "D cleared and flushed: the next write is logged again");
        assertClean(vm);
    }

    @Test
    void dirtyBitLoggingNeedsAdBits() {
        assertEquals(org.tdplab.mmu.api.Errno.EINVAL, org.junit.jupiter.api.Assertions.assertThrows(
                org.tdplab.mmu.api.MmuException.class,
                () -> TestVms.ordinary().withAdDisabled(true).withDirtyLogByDirtyBit(true)).errno());
    }
}
