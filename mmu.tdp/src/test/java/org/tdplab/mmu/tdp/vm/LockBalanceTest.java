package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Vm.FaultResult;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mmu.ErrorCode;

/**
 * Every VM operation, guest access and ioctl alike, returns with the MMU lock, {@code slots_lock} and the backend
 * gate released and no RCU or {@code kvm->srcu} read section open on the calling thread — the lockdep check a kernel developer would run after each of them.
 */
class LockBalanceTest {
    private static void assertBalanced(CoreVm vm, String after) {
        assertFalse(vm.mmu.rcu.inReadSection(), () -> "an RCU read section was left open by " + after);
        assertFalse(vm.mmu.lock.isReadLockedByMe(), () -> "the MMU lock is still held for read after " + after);
        assertFalse(vm.mmu.lock.isWriteLockedByMe(), () -> "the MMU lock is still held for write after " + after);
        assertFalse(vm.gate().enteredByMe(), () -> "the backend gate is still held after " + after);
        assertFalse(vm.mem.slotsLock.isHeldByCurrentThread(), () -> "slots_lock is still held after " + after);
        assertFalse(vm.mem.srcu.inReadSection(), () -> "a kvm->srcu read section was left open by " + after);
        for (org.tdplab.mmu.tdp.vcpu.Vcpu v : vm.vcpus.all)
            assertFalse(v.mutex.isHeldByCurrentThread(), () -> "vcpu " + v.id + "'s mutex is still held after " + after);
    }

    @Test
    void guestAccessesFaultsAndIoctlsReleaseTheMmuLockAndRcu() {
        VmCapabilities caps = VmCapabilities.ordinary("default", 48).withSlotZapAll(true).withNxHugePages(true, 1)
                .withPreFaultAllowed(true);
        CoreVm vm = TestVms.create(caps, 1);
        slot(vm, 0, 0, 4 * M2, PageSize.SIZE_2M);
        assertTrue(vm.access(0, Access.WRITE, 0, M2, Encoding.CURRENT, 5).completed());
        assertBalanced(vm, "a write");
        assertEquals(5, vm.access(0, Access.READ, 0x1000, 0x1000, Encoding.CURRENT, 0).value());
        assertBalanced(vm, "a read");
        assertTrue(vm.access(0, Access.EXEC, M2, 0x1000, Encoding.CURRENT, 0).completed());
        assertBalanced(vm, "an exec");
        assertEquals(Exit.Reason.MMIO, vm.access(0, Access.READ, 8 * M2, 0x1000, Encoding.CURRENT, 0).exit().reason());
        assertEquals(Exit.Reason.MMIO, vm.access(0, Access.READ, 8 * M2, 0x1000, Encoding.CURRENT, 0).exit().reason());
        assertBalanced(vm, "an MMIO access on an MMIO SPTE");
        assertEquals(FaultResult.MMIO, vm.fault(0, 8 * M2, ErrorCode.RSVD | ErrorCode.USER | ErrorCode.PRESENT));
        assertBalanced(vm, "a reserved-bit fault");
        assertEquals(FaultResult.SPURIOUS, vm.fault(0, 0x2000, ErrorCode.USER | ErrorCode.PRESENT));
        assertBalanced(vm, "a spurious fault");
        assertEquals(0, vm.prefault(0, 2 * M2, M2));
        assertBalanced(vm, "KVM_PRE_FAULT_MEMORY");
        assertTrue(vm.testAge(0, M2) > 0);
        assertBalanced(vm, "test_age");
        assertTrue(vm.age(0, M2) > 0);
        assertBalanced(vm, "age");
        assertEquals(1, vm.recoverNxHugePages());
        assertBalanced(vm, "NX huge page recovery");
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        assertBalanced(vm, "enabling dirty logging");
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 6).completed());
        assertEquals(1, vm.stats().get("pf_fast"), "the write-protected page is fixed by the fast path");
        assertBalanced(vm, "a fast page fault");
        vm.getDirtyLog(0);
        assertBalanced(vm, "KVM_GET_DIRTY_LOG");
        vm.clearDirtyLog(0, 0, M2);
        assertBalanced(vm, "KVM_CLEAR_DIRTY_LOG");
        vm.setDirtyLogging(0, false, DirtyLogOptions.DEFAULT);
        assertBalanced(vm, "disabling dirty logging");
        vm.notifyUnmap(0, 0x8000);
        assertBalanced(vm, "an MMU notifier unmap");
        vm.zapGfnRange(M2, M2);
        assertBalanced(vm, "kvm_zap_gfn_range");
        vm.moveMemslot(0, 16 * M2);
        assertBalanced(vm, "moving a memslot");
        vm.deleteMemslot(0);
        assertBalanced(vm, "deleting a memslot");
        assertClean(vm);
        assertBalanced(vm, "the invariant check");
        vm.destroy();
        assertBalanced(vm, "destroy");
    }

    @Test
    void harvestingDirtyBitsReleasesTheMmuLockAndRcu() {
        CoreVm vm = TestVms.create(TestVms.ordinary().withDirtyLogByDirtyBit(true), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        assertTrue(vm.access(0, Access.WRITE, 0, 0x3000, Encoding.CURRENT, 1).completed());
        vm.getDirtyLog(0);
        assertBalanced(vm, "KVM_GET_DIRTY_LOG with a page-modification log");
        assertTrue(vm.access(0, Access.WRITE, 0x1000, 0x1000, Encoding.CURRENT, 2).completed());
        long[] log = vm.getDirtyLog(0);
        assertBalanced(vm, "a second harvest");
        assertEquals(0b10, log[0], "the page written since the last harvest, read back from its D bit");
        assertClean(vm);
    }

    @Test
    void privateConversionsReleaseTheMmuLockAndRcu() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1);
        slot(vm, 0, 0, 2 * M2, PageSize.SIZE_2M, org.tdplab.mmu.api.SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        assertBalanced(vm, "setting attributes");
        assertTrue(vm.access(0, Access.WRITE, 0, M2, Encoding.CURRENT, 1).completed());
        assertBalanced(vm, "a private write");
        vm.setMemoryAttributes(0, 0x1000, false);
        assertBalanced(vm, "a conversion to shared");
        vm.punchHole(0x10000, 0x1000);
        assertBalanced(vm, "a hole punched");
        assertTrue(vm.mapGpaRange(0, false, 0x20000, 0x1000).completed());
        assertBalanced(vm, "a guest's conversion to shared (the VMM punches the private page)");
        assertTrue(vm.mapGpaRange(0, true, 0x20000, 0x1000).completed());
        assertBalanced(vm, "a guest's conversion to private (the VMM discards the shared page)");
        assertTrue(vm.convert(0, true, 0x30000, 0x1000).completed());
        assertBalanced(vm, "a guest's conversion");
        vm.setMemoryAttributes(0, 0x1000, false);
        assertBalanced(vm, "attributes that are set already");
        assertClean(vm);
    }

    @Test
    void aGuestsAcceptReleasesItsVcpuTheGateAndRcu() {
        CoreVm vm = TestVms.create(NestedWalkTest.CAPS, 1, java.util.List.of(),
                ctx -> new org.tdplab.mmu.api.backend.VmBackend() {
                    @Override
                    public long accept(int vcpu, long gfn, int level) {
                        return ctx.nestedWalk(vcpu, gfn, true);
                    }
                });
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, org.tdplab.mmu.api.SlotFlag.GMEM);
        vm.setMemoryAttributes(0, M2, true);
        assertTrue(vm.accept(0, 0x3000, 0x1000, PageSize.SIZE_4K).completed());
        assertBalanced(vm, "an accept");
        assertClean(vm);
    }
}
