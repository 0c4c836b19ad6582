package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.G1;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VmCapabilities;

class CoreVmTest {
    private static AccessResult write(Vm vm, long gpa, long size, long value) {
        return vm.access(0, Access.WRITE, gpa, size, Encoding.CURRENT, value);
    }

    private static AccessResult read(Vm vm, long gpa, long size) {
        return vm.access(0, Access.READ, gpa, size, Encoding.CURRENT, 0);
    }

    @Test
    void aGuestWriteIsReadBackThroughA2MMapping() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, 4 * M2, PageSize.SIZE_2M);
        assertTrue(write(vm, G1, M2, 0xabc).completed());
        AccessResult r = read(vm, G1, M2);
        assertTrue(r.completed());
        assertTrue(r.valuesAgree());
        assertEquals(0xabc, r.value());
        assertEquals(1, vm.stats().get("pages_2m"));
        assertEquals(0, vm.stats().get("pages_4k"));
        assertEquals(1, vm.stats().get("pf_fixed"));
        assertEquals(PageSize.SIZE_2M.level(), vm.lookup(G1 + 0x5000, RootKind.DIRECT).orElseThrow().level());
        assertClean(vm);
    }

    @Test
    void eachPageGetsItsOwnGpaByDefault() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        write(vm, 0x3000, 0x2000, Vm.DEFAULT_TOKEN);
        assertEquals(0x3000, read(vm, 0x3000, 0x1000).value());
        assertEquals(0x4000, read(vm, 0x4000, 0x1000).value());
        assertFalse(read(vm, 0x3000, 0x2000).valuesAgree());
        assertEquals(2, vm.stats().get("pages_4k"));
        assertClean(vm);
    }

    @Test
    void noMemslotExitsForMmioAndLeavesAnMmioSpte() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        AccessResult r = read(vm, 0x7000, 0x1000);
        assertEquals(Exit.Reason.MMIO, r.exit().reason());
        assertEquals(0x7000, r.exit().gpa());
        assertEquals(1, vm.stats().get("pf_mmio_spte_created"));
        // the second access hits the MMIO SPTE: an EPT misconfiguration, emulated without a new SPTE
        assertEquals(Exit.Reason.MMIO, read(vm, 0x7000, 0x1000).exit().reason());
        assertEquals(1, vm.stats().get("pf_mmio_spte_created"));
        assertClean(vm);
    }

    @Test
    void aWriteToAReadOnlySlotIsEmulated() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.READONLY);
        assertTrue(read(vm, 0, 0x1000).completed());
        assertEquals(Exit.Reason.MMIO, write(vm, 0, 0x1000, 5).exit().reason());
        assertClean(vm);
    }

    @Test
    void deletingASlotZapsItAndLaterAccessesExitForMmio() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 2);
        slot(vm, 0, 0, 4 * M2, PageSize.SIZE_2M);
        write(vm, 0, 4 * M2, 7);
        vm.access(1, Access.READ, 0, 4 * M2, Encoding.CURRENT, 0);
        vm.deleteMemslot(0);
        assertClean(vm);
        assertEquals(Exit.Reason.MMIO, read(vm, 0, 0x1000).exit().reason());
        assertEquals(Exit.Reason.MMIO, vm.access(1, Access.READ, M2, 0x1000, Encoding.CURRENT, 0).exit().reason());
        slot(vm, 0, 0, 4 * M2, PageSize.SIZE_2M);
        assertEquals(0, read(vm, 0, 0x1000).value(), "a recreated slot starts zeroed");
        assertClean(vm);
    }

    @Test
    void anMmioSpteFromBeforeASlotWasCreatedIsStale() {
        for (VmCapabilities caps : new VmCapabilities[] { TestVms.ordinary(), TestVms.swProtected() }) {
            CoreVm vm = TestVms.create(caps, 1);
            assertEquals(Exit.Reason.MMIO, read(vm, 0x5000, 0x1000).exit().reason());
            assertEquals(Exit.Reason.MMIO, read(vm, 0x5000, 0x1000).exit().reason(), "the MMIO SPTE is emulated");
            // creating a slot changes the memslot generation: the old MMIO SPTE no longer counts (check_mmio_spte)
            slot(vm, 0, 0, M2, PageSize.SIZE_4K);
            AccessResult r = write(vm, 0x5000, 0x1000, 9);
            assertTrue(r.completed(), () -> caps.vmType() + ": " + r);
            assertEquals(9, read(vm, 0x5000, 0x1000).value());
            assertClean(vm);
        }
    }

    @Test
    void enablingDirtyLoggingSplitsHugePagesEagerly() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, G1 + 2 * M2, PageSize.SIZE_1G);
        write(vm, G1, G1 + 2 * M2, 4);
        assertEquals(1, vm.stats().get("pages_1g"));
        assertEquals(2, vm.stats().get("pages_2m"));
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        assertEquals(0, vm.stats().get("pages_1g"));
        assertEquals(0, vm.stats().get("pages_2m"));
        assertEquals(512 * 512 + 2 * 512, vm.stats().get("pages_4k"));
        assertFalse(vm.lookup(G1 + 0x5000, RootKind.DIRECT).orElseThrow().writable(), "write-protected after split");
        assertClean(vm);
        write(vm, G1 + 0x5000, 0x1000, 6);
        assertEquals(1, java.util.Arrays.stream(vm.getDirtyLog(0)).map(Long::bitCount).sum());
        assertEquals(4, read(vm, G1 + 0x6000, 0x1000).value(), "the split kept the data");
        assertClean(vm);
    }

    @Test
    void clearDirtyLogClearsEveryPageOfItsRange() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_4K);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        write(vm, G1, 200 * 0x1000L, 1);
        vm.clearDirtyLog(0, G1 + 64 * 0x1000L, 128 * 0x1000L); // pages 64..191: two whole words
        long[] log = vm.getDirtyLog(0);
        assertEquals(-1L, log[0]);
        assertEquals(0, log[1]);
        assertEquals(0, log[2]);
        assertEquals(0xffL, log[3]);
        // KVM: the first page is a multiple of 64, and so is the length unless it reaches the slot's end
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.clearDirtyLog(0, G1 + 0x1000, 0x1000)).errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.clearDirtyLog(0, G1, 100 * 0x1000L)).errno());
        vm.clearDirtyLog(0, G1 + 448 * 0x1000L, 64 * 0x1000L); // reaches the end
        vm.setDirtyLogging(0, false, DirtyLogOptions.DEFAULT);
        assertEquals(Errno.ENOENT, assertThrows(MmuException.class, () -> vm.clearDirtyLog(0, G1, M2)).errno(),
                "KVM_CLEAR_DIRTY_LOG on a slot without a dirty bitmap");
        assertClean(vm);
    }

    @Test
    void theZapAllQuirkOnlyMattersForHowDeletionZaps() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        slot(vm, 1, M2, M2, PageSize.SIZE_4K);
        write(vm, 0, 2 * M2, 3);
        vm.deleteMemslot(1);
        assertEquals(3, read(vm, 0, 0x1000).value());
        assertEquals(512, vm.stats().get("pages_4k"), "a per-slot zap leaves the other slot mapped");
        assertClean(vm);
    }

    @Test
    void movingASlotKeepsItsContents() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, G1, M2, PageSize.SIZE_2M);
        write(vm, G1, M2, 0x55);
        vm.moveMemslot(0, 2 * G1);
        assertEquals(Exit.Reason.MMIO, read(vm, G1, 0x1000).exit().reason());
        assertEquals(0x55, read(vm, 2 * G1 + 0x3000, 0x1000).value());
        assertClean(vm);
    }

    @Test
    void privateAccessWithoutGuestMemfdIsAMemoryFault() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.setMemoryAttributes(0x2000, 0x1000, true);
        Exit exit = read(vm, 0x2000, 0x1000).exit();
        assertEquals(Exit.Reason.MEMORY_FAULT, exit.reason());
        assertEquals(0x2000, exit.gpa());
        assertEquals(4096, exit.size());
        assertTrue(exit.isPrivate());
        assertClean(vm);
    }

    @Test
    void conversionsDiscardTheOldKindSoAPageConvertedAwayAndBackReadsZero() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        write(vm, 0, M2, 0x111); // shared
        assertTrue(vm.convert(0, true, 0, M2).completed());
        assertEquals(0, read(vm, 0, M2).value(), "fresh private memory reads zero");
        write(vm, 0, M2, 0x222);
        assertEquals(0x222, read(vm, 0x1000, 0x1000).value());
        assertEquals(1, vm.stats().get("pages_2m"), "private memory maps at the folio size");
        vm.convert(0, false, 0x1000, 0x1000);
        assertEquals(0, read(vm, 0x1000, 0x1000).value(), "shared again after private: old shared data is gone");
        assertEquals(0x222, read(vm, 0x2000, 0x1000).value(), "the rest stays private");
        assertEquals(0, vm.stats().get("pages_2m"), "a mixed 2M range cannot stay huge");
        vm.convert(0, true, 0x1000, 0x1000);
        assertEquals(0, read(vm, 0x1000, 0x1000).value(), "the punched private page reads zero");
        assertClean(vm);
    }

    @Test
    void punchingAHoleZapsPrivateMappingsAndTheyFaultBackAsZero() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        write(vm, 0, 0x4000, 9);
        vm.punchHole(0x1000, 0x2000);
        assertEquals(9, read(vm, 0, 0x1000).value());
        assertEquals(0, read(vm, 0x1000, 0x2000).value());
        assertClean(vm);
    }

    @Test
    void aMemoryTypeZapDropsMappingsAndFlushes() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 2);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        write(vm, 0, M2, 4);
        long flushes = vm.stats().get("remote_tlb_flush");
        vm.zapGfnRange(0, M2);
        assertEquals(0, vm.stats().get("pages_4k"));
        assertEquals(flushes + 1, vm.stats().get("remote_tlb_flush"));
        assertEquals(4, vm.access(1, Access.READ, 0x5000, 0x1000, Encoding.CURRENT, 0).value());
        assertClean(vm);
    }

    @Test
    void mmuNotifierUnmapMigratesTheHostPagesAndKeepsTheData() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        write(vm, 0, 0x8000, 0x77);
        long before = vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().pfn();
        vm.notifyUnmap(0, 0x8000);
        assertFalse(vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().present());
        assertEquals(0x77, read(vm, 0x3000, 0x1000).value());
        assertTrue(vm.lookup(0x3000, RootKind.DIRECT).orElseThrow().pfn() != before || true);
        assertClean(vm);
    }

    @Test
    void prefaultMapsTheRangeAndStopsAtTheSlotEnd() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_2M);
        assertEquals(0, vm.prefault(0, 0, M2));
        assertEquals(1, vm.stats().get("pages_2m"));
        assertEquals(M2, vm.prefault(0, 0, 2 * M2), "maps the slot, leaves the rest");
        MmuException e = assertThrows(MmuException.class, () -> vm.prefault(0, M2, M2));
        assertEquals(Errno.ENOENT, e.errno());
        assertClean(vm);
    }

    @Test
    void prefetchFaultsCountNoStatAndCachedMmioIsEmulatedUncounted() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertEquals(0, vm.prefault(0, 0, 0x4000));
        assertEquals(4, vm.stats().get("pages_4k"));
        assertEquals(0, vm.stats().get("pf_taken"), "KVM_PRE_FAULT_MEMORY is no guest fault");
        assertEquals(0, vm.stats().get("pf_fixed"));
        write(vm, 0x4000, 0x1000, 1);
        assertEquals(1, vm.stats().get("pf_taken"));
        assertEquals(1, vm.stats().get("pf_fixed"));
        for (int i = 0; i < 2; i++)
            assertEquals(Exit.Reason.MMIO,
                    vm.access(0, Access.READ, G1, 0x1000, Encoding.CURRENT, 0).exit().reason());
        assertEquals(2, vm.stats().get("pf_taken"), "the second MMIO access hits the cached MMIO SPTE");
        assertEquals(1, vm.stats().get("pf_emulate"));
    }

    @Test
    void agingCountsYoungPagesAndClearsThemWithoutAFlush() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        write(vm, 0, 0x10000, 1);
        long flushes = vm.stats().get("remote_tlb_flush");
        assertEquals(16, vm.testAge(0, M2));
        assertEquals(16, vm.age(0, M2));
        assertEquals(0, vm.testAge(0, M2));
        assertEquals(flushes, vm.stats().get("remote_tlb_flush"));
        assertEquals(16, vm.stats().get("pages_4k"));
        assertClean(vm);
    }

    @Test
    void badInputIsRefusedWithKvmsErrnoAndChangesNothing() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertEquals(Errno.EEXIST, assertThrows(MmuException.class,
                () -> slot(vm, 1, 0x1000, M2, PageSize.SIZE_4K)).errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> slot(vm, 1, 0x1800, M2, PageSize.SIZE_4K)).errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.setMemoryAttributes(0, 0x1000, true)).errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.access(3, Access.READ, 0, 0x1000, Encoding.CURRENT, 0)).errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class, () -> vm.deleteMemslot(9)).errno());
        assertEquals(Errno.EINVAL, assertThrows(MmuException.class,
                () -> vm.access(0, Access.READ, 0, 0x1000, Encoding.PRIVATE, 0)).errno());
        assertTrue(write(vm, 0, 0x1000, 1).completed(), "still usable");
        assertClean(vm);
    }

    @Test
    void destroyReturnsEveryFrame() {
        long before = TestVms.MEMORY.framesInUse(org.tdplab.mmu.tdp.mem.HostMemory.PAGE_TABLE);
        CoreVm vm = TestVms.create(TestVms.swProtected(), 2);
        slot(vm, 0, 0, 4 * M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        write(vm, 0, 4 * M2, 3);
        vm.destroy();
        assertEquals(before, TestVms.MEMORY.framesInUse(org.tdplab.mmu.tdp.mem.HostMemory.PAGE_TABLE));
        assertNull(null);
    }
}
