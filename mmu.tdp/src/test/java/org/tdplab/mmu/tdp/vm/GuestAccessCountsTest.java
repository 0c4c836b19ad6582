package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.tdp.vcpu.Tlb;

/**
 * What a guest access leaves behind: the pages it counts, the translation it caches in the vCPU's TLB, the exits it
 * counts, and the data oracle's words when a read returns what was not last written.
 */
class GuestAccessCountsTest {
    @Test
    void anAccessCountsItsPagesFromItsFirst() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        AccessResult r = vm.access(0, Access.WRITE, 0x5000, 0x3000, Encoding.CURRENT, 9);
        assertTrue(r.completed());
        assertEquals(3, r.pages());
        vm.destroy();
    }

    @Test
    void aWalkedTranslationIsCachedInTheVcpusTlb() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 9).completed());
        long pfn = vm.lookup(0x5000, RootKind.DIRECT).orElseThrow().pfn();
        long cached = vm.vcpus.all[0].tlb.lookup(Tlb.key(5, false, false));
        assertTrue(cached != -1, "the write's translation is in the TLB");
        assertEquals(pfn, Tlb.pfn(cached));
        assertTrue((cached & Tlb.W) != 0, "writable, as the write used it");
        vm.destroy();
    }

    @Test
    void theLastPageOfTheGpaSpaceIsAddressableAndItsMmioExitIsCounted() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        long top = 1L << 48;
        AccessResult r = vm.access(0, Access.READ, top - 0x1000, 0x1000, Encoding.CURRENT, 0);
        assertEquals(Exit.Reason.MMIO, r.exit().reason());
        assertEquals(top - 0x1000, r.exit().gpa());
        assertEquals(1L, vm.stats().get("exits_mmio"));
        vm.destroy();
    }

    @Test
    void aReadOfDataTheOracleDoesNotExpectIsReportedWithItsGpaKindAndValues() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 0x77).completed());
        vm.context().guestDataChanged(3, false, 0x88);
        assertEquals(0x77, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value());
        List<String> found = vm.check().violations();
        assertTrue(found.contains("data: guest read of shared gpa 0x3000 returned 0x77, last written 0x88"),
                found.toString());
        vm.destroy();
    }
}
