package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mem.HostMemory;

/**
 * The data oracle on a VM whose guest encodes privateness in its accesses and whose one table serves both
 * encodings: a shared-encoded access that a current walk takes to the private frame of a private page is the
 * guest's own stale encoding (excused), while a TLB entry that outlived its frame changing hands is the missing
 * flush the oracle is there for (reported).
 */
class GuestOpsOracleTest {
    private static final long GPA = 0x3000;

    private static CoreVm encodedVm() {
        CoreVm vm = TestVms.create(VmCapabilities.ordinary("encoded", 48).withPrivateMemory(PrivateSource.ERROR_CODE,
                1), 1);
        slot(vm, 0, 0, 0x200000, PageSize.SIZE_4K, SlotFlag.GMEM);
        return vm;
    }

    @Test
    void aSharedReadThatACurrentWalkTakesToAPrivatePageIsNotAStaleTranslation() {
        CoreVm vm = encodedVm();
        assertTrue(vm.access(0, Access.WRITE, GPA, 0x1000, Encoding.CURRENT, 0x55).completed());
        vm.setMemoryAttributes(GPA, 0x1000, true);
        assertTrue(vm.access(0, Access.WRITE, GPA, 0x1000, Encoding.PRIVATE, 0x66).completed());
        AccessResult r = vm.access(0, Access.READ, GPA, 0x1000, Encoding.SHARED, 0);
        assertTrue(r.completed());
        assertEquals(0x66, r.value(), "the walk reaches the private page's frame");
        assertClean(vm);
        vm.destroy();
    }

    /**
     * A 4K table unlinked without the flush that must follow: the vCPU's paging-structure cache still names it for
     * its region, which the checker reports; the flush clears it.
     */
    @Test
    void aCachedTableThatOutlivedItsUnlinkingIsReported() {
        CoreVm vm = TestVms.create(VmCapabilities.ordinary("default", 48), 1);
        slot(vm, 0, 0, 0x400000, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, GPA, 0x1000, Encoding.CURRENT, 0x55).completed());
        assertClean(vm);
        org.tdplab.mmu.tdp.vcpu.Vcpu v = vm.vcpus.all[0];
        org.tdplab.mmu.tdp.pt.TdpIter it = new org.tdplab.mmu.tdp.pt.TdpIter(vm.mmu.pool);
        it.walkTo(v.roots.direct, vm.mmu.rootLevel, GPA >>> 12, 0, 1);
        long pde = it.sptepAt(2);
        long linked = vm.mmu.pool.get(pde);
        vm.mmu.pool.set(pde, org.tdplab.mmu.tdp.spte.Spte.SHADOW_NONPRESENT_VALUE); // the zap without its flush
        try {
            List<String> found = vm.check().violations();
            assertTrue(found.stream().anyMatch(s -> s.contains("stale paging-structure cache: vCPU 0 caches table "
                    + it.tableAt(1) + " for gpa 0x0")), found.toString());
        } finally {
            vm.mmu.pool.set(pde, linked);
        }
        assertClean(vm);
        vm.destroy();
    }

    @Test
    void aTlbEntryThatOutlivedItsFrameChangingHandsIsReported() {
        CoreVm vm = encodedVm();
        assertTrue(vm.access(0, Access.WRITE, GPA, 0x1000, Encoding.CURRENT, 0x55).completed());
        long pfn = vm.lookup(GPA, RootKind.DIRECT).orElseThrow().pfn();
        // the frame goes to a guest_memfd without the zap and flush that must come first: the missing flush
        int id = TestVms.MEMORY.ownerId(pfn);
        TestVms.MEMORY.setOwner(pfn, 1, HostMemory.GMEM, id);
        try {
            assertTrue(vm.access(0, Access.READ, GPA, 0x1000, Encoding.CURRENT, 0).completed(), "a TLB hit");
            List<String> found = vm.check().violations();
            assertTrue(found.stream().anyMatch(v -> v.contains("a shared access to gpa 0x3000 reached a private "
                    + "frame")), found.toString());
        } finally {
            TestVms.MEMORY.setOwner(pfn, 1, HostMemory.SHARED, id);
        }
        vm.destroy();
    }
}
