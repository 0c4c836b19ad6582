package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm.FaultResult;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mmu.ErrorCode;

/**
 * {@code kvm_mmu_faultin_pfn}'s exits: a private fault that cannot be served exits to userspace with
 * {@code KVM_EXIT_MEMORY_FAULT} and installs nothing (not even an MMIO SPTE); a shared one without a memslot
 * installs an MMIO SPTE and is emulated. Every fault leaves the MMU lock and the RCU read section released.
 */
class FaultExitTest {
    private static final long WRITE = ErrorCode.WRITE | ErrorCode.USER;

    private static void assertQuiescent(CoreVm vm) {
        assertFalse(vm.mmu.rcu.inReadSection(), "an RCU read section was left open");
        assertFalse(vm.mmu.lock.isReadLockedByMe(), "the MMU lock is still held for read");
        assertFalse(vm.mmu.lock.isWriteLockedByMe(), "the MMU lock is still held for write");
    }

    /** No present SPTE, leaf or MMIO, at the end of the walk to {@code gpa}. */
    private static boolean unmapped(CoreVm vm, long gpa) {
        return vm.lookup(gpa, RootKind.DIRECT).map(s -> !s.present()).orElse(true);
    }

    private static VmCapabilities errorCodePrivate() {
        return VmCapabilities.ordinary("ec", 48).withPrivateMemory(PrivateSource.ERROR_CODE, 3);
    }

    @Test
    void aPrivateFaultWithoutAMemslotExitsWithoutAnMmioSpte() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        vm.setMemoryAttributes(0x10000, 0x1000, true);
        assertEquals(FaultResult.MEMORY_FAULT, vm.fault(0, 0x10000, WRITE));
        assertQuiescent(vm);
        assertEquals(0, vm.stats().get("pf_mmio_spte_created"), "a private GFN never gets an MMIO SPTE");
        assertTrue(unmapped(vm, 0x10000));
        AccessResult r = vm.access(0, Access.READ, 0x10000, 0x1000, Encoding.CURRENT, 0);
        assertEquals(Exit.Reason.MEMORY_FAULT, r.exit().reason());
        assertEquals(0x10000, r.exit().gpa());
        assertTrue(r.exit().isPrivate());
        assertEquals(1, vm.stats().get("exits_memory_fault"));

        assertEquals(FaultResult.MMIO, vm.fault(0, 0x20000, WRITE), "a shared GFN without a memslot is MMIO");
        assertQuiescent(vm);
        assertEquals(1, vm.stats().get("pf_mmio_spte_created"));
        assertClean(vm);
    }

    @Test
    void aPrivateFaultOnAMemslotWithoutGuestMemfdExits() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.setMemoryAttributes(0x3000, 0x1000, true);
        assertEquals(FaultResult.MEMORY_FAULT, vm.fault(0, 0x3000, WRITE));
        assertQuiescent(vm);
        assertTrue(unmapped(vm, 0x3000), "nothing was installed");
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x4000, WRITE), "its shared neighbour is mapped");
        assertEquals(1, vm.stats().get("pages_4k"));
        assertClean(vm);
    }

    @Test
    void aFaultWhosePrivatenessDisagreesWithTheAttributesExits() {
        CoreVm vm = TestVms.create(errorCodePrivate(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        // the attributes say shared: a private access must exit, though guest_memfd could serve it
        assertEquals(FaultResult.MEMORY_FAULT, vm.fault(0, 0x5000, WRITE | ErrorCode.PRIVATE_ACCESS));
        assertQuiescent(vm);
        assertTrue(unmapped(vm, 0x5000));
        assertEquals(0, vm.stats().get("pages_4k"));
        vm.setMemoryAttributes(0x5000, 0x1000, true);
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x5000, WRITE | ErrorCode.PRIVATE_ACCESS));
        assertEquals(1, vm.stats().get("pages_4k"));
        // and a shared access to the now private GFN exits too
        assertEquals(FaultResult.MEMORY_FAULT, vm.fault(0, 0x5000, WRITE));
        assertEquals(1, vm.stats().get("pages_4k"));
        assertQuiescent(vm);
        assertClean(vm);
    }

    @Test
    void aSharedFaultOnAPrivateGfnIsNeverFixedByTheFastPath() {
        CoreVm vm = TestVms.create(errorCodePrivate(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x6000, ErrorCode.USER), "a shared read maps the page");
        vm.setMemoryAttributes(0x6000, 0x1000, true);
        // present + write on a GFN the attributes now call private: the slow path must exit
        assertEquals(FaultResult.MEMORY_FAULT, vm.fault(0, 0x6000, WRITE | ErrorCode.PRESENT));
        assertEquals(0, vm.stats().get("pf_fast"));
        assertQuiescent(vm);
    }

    @Test
    void aPrivateFaultOnAPunchedHoleExits() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x7000, WRITE));
        assertEquals(1, vm.stats().get("pages_4k"));
        vm.punchHole(0x7000, 0x1000);
        assertTrue(unmapped(vm, 0x7000), "the hole was unmapped");
        FaultResult r = vm.fault(0, 0x7000, WRITE);
        assertQuiescent(vm);
        assertTrue(r == FaultResult.MEMORY_FAULT || r == FaultResult.FIXED, r::toString);
        assertClean(vm);
    }
}
