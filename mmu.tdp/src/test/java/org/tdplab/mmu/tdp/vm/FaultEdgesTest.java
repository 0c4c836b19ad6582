package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm.FaultResult;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mmu.ErrorCode;

/**
 * The fault handler's less travelled exits, replayed as single faults: a reserved-bit fault on an entry that is no
 * longer MMIO (retry), a private one (memory fault), a fault of a dead VM, a huge mapping that an invalidation
 * covers only in part (stale: retry), and the {@code kvm_mmu_spte_requested} event of a huge mapping.
 */
class FaultEdgesTest {
    private static final long USER_WRITE = ErrorCode.USER | ErrorCode.WRITE;

    @Test
    void aReservedBitFaultOnAnEntryThatIsNoLongerMmioIsRetriedAndCountedAsARetry() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 1).completed());
        long taken = vm.stats().get("pf_taken"), retried = vm.stats().get("pf_retry");
        assertEquals(FaultResult.RETRY, vm.fault(0, 0x3000, ErrorCode.RSVD | ErrorCode.PRESENT | ErrorCode.USER));
        assertEquals(retried + 1, vm.stats().get("pf_retry"));
        assertEquals(taken, vm.stats().get("pf_taken"), "handle_mmio_page_fault's retry is not a fault taken");
        TestVms.assertClean(vm);
    }

    @Test
    void aPrivateReservedBitFaultIsAMemoryFault() {
        CoreVm vm = TestVms.create(VmCapabilities.ordinary("encoded", 48).withPrivateMemory(PrivateSource.ERROR_CODE,
                1), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, SlotFlag.GMEM);
        assertEquals(FaultResult.MEMORY_FAULT, vm.fault(0, 0x3000, ErrorCode.RSVD | ErrorCode.PRESENT
                | ErrorCode.USER | ErrorCode.PRIVATE_ACCESS));
    }

    @Test
    void aDeadVmTakesNoMoreFaults() {
        VmCapabilities caps = TestVms.ordinary();
        CoreVm vm = TestVms.create(caps, 1, List.of(), ctx -> new VmBackend() {
            @Override
            public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
                return gfn == 7 ? Walk.fatal() : Walk.translated(pfn, level);
            }
        });
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x7000, 0x1000, Encoding.CURRENT, 1).exit() != null, "killed");
        assertTrue(vm.deadReason().isPresent());
        org.tdplab.mmu.api.MmuException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.tdplab.mmu.api.MmuException.class, () -> vm.fault(0, 0x3000, USER_WRITE));
        assertEquals(org.tdplab.mmu.api.Errno.EIO, e.errno());
        assertTrue(e.getMessage().contains("is dead"), e.getMessage());
        assertFalse(vm.lookup(0x3000, RootKind.DIRECT).map(s -> s.present()).orElse(false), "nothing mapped");
    }

    @Test
    void aHugeMappingThatAnInvalidationCoversInPartIsStale() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_2M);
        vm.mmu.lock.writeLock();
        vm.mmu.invalidation.begin(0x100, 0x101); // not the faulting GFN, but inside its 2M page
        vm.mmu.lock.writeUnlock();
        try {
            assertEquals(FaultResult.RETRY, vm.fault(0, 0x5000, USER_WRITE));
            assertFalse(vm.lookup(0x5000, RootKind.DIRECT).map(s -> s.present()).orElse(false));
        } finally {
            vm.mmu.lock.writeLock();
            vm.mmu.invalidation.end();
            vm.mmu.lock.writeUnlock();
        }
        assertEquals(FaultResult.FIXED, vm.fault(0, 0x5000, USER_WRITE));
        assertEquals(2, vm.lookup(0x5000, RootKind.DIRECT).orElseThrow().level());
    }

    @Test
    void theRequestedSpteOfAHugeMappingNamesTheFaultingPagesPfn() {
        List<long[]> requested = new ArrayList<>();
        List<MmuObserver> observers = new CopyOnWriteArrayList<>();
        observers.add(new MmuObserver() {
            @Override
            public void spteRequested(String vm, int vcpu, long gfn, long pfn, int level) {
                requested.add(new long[] { vcpu, gfn, pfn, level });
            }
        });
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_2M);
        assertTrue(vm.access(0, Access.WRITE, 0x205000 - M2, 0x1000, Encoding.CURRENT, 1).completed());
        long base = vm.lookup(0, RootKind.DIRECT).orElseThrow().pfn();
        assertEquals(1, requested.size());
        long[] r = requested.get(0);
        assertEquals(0x5, r[1]);
        assertEquals(base | 0x5, r[2], "kvm_mmu_spte_requested: the pfn of the faulting 4K page, inside the 2M one");
        assertEquals(2, r[3]);
    }

    @Test
    void aWriteToAReadOnlySlotIsEmulatedAsMmioAtItsOwnAddressAndItsReadsAreMapped() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, M2, M2, PageSize.SIZE_4K, SlotFlag.READONLY);
        org.tdplab.mmu.api.AccessResult w = vm.access(0, Access.WRITE, M2 + 0x3000, 0x1000, Encoding.CURRENT, 1);
        assertEquals(org.tdplab.mmu.api.Exit.Reason.MMIO, w.exit().reason());
        assertEquals(M2 + 0x3000, w.exit().gpa(), "KVM_PFN_ERR_RO_FAULT: the write's own address");
        assertTrue(vm.access(0, Access.READ, M2 + 0x3000, 0x1000, Encoding.CURRENT, 0).completed());
        assertFalse(vm.lookup(M2 + 0x3000, RootKind.DIRECT).orElseThrow().writable(), "mapped, read-only");
        TestVms.assertClean(vm);
    }
}
