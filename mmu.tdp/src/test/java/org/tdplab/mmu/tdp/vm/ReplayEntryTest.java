package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.tdp.mmu.ErrorCode;

/** What a replay drives: {@link Vm#fault}, {@link Vm#mapGpaRange}, and the operation stream the trace records. */
class ReplayEntryTest {
    private final List<String> events = new ArrayList<>();
    private final List<MmuObserver> observers = new CopyOnWriteArrayList<>(List.of(new MmuObserver() {
        @Override
        public void faultEntered(String vm, int vcpu, long gpa, long errorCode) {
            events.add("fault " + Long.toHexString(gpa) + " " + Long.toHexString(errorCode));
        }

        @Override
        public void spteRequested(String vm, int vcpu, long gfn, long pfn, int level) {
            events.add("requested " + Long.toHexString(gfn) + " level " + level);
        }

        @Override
        public void spteChanged(String vm, int asId, RootKind root, long gfn, int level, long old, long now) {
            events.add("spte " + Long.toHexString(gfn) + " level " + level);
        }

        @Override
        public void pageFault(String vm, int vcpu, long gpa, long errorCode, String result) {
            events.add("done " + result);
        }

        @Override
        public void vmOperation(String vm, String operation) {
            events.add("op " + operation);
        }

        @Override
        public void vmOperationFailed(String vm, String errno) {
            events.add("failed " + errno);
        }
    }));

    @Test
    void aFaultIsHandledAsTheExitWouldBeWithoutTheGuestRetrying() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        events.clear();
        assertEquals(Vm.FaultResult.FIXED, vm.fault(0, 0x5000, ErrorCode.WRITE | ErrorCode.USER));
        assertEquals(List.of("fault 5000 6", "requested 5 level 1", "spte 0 level 4", "spte 0 level 3",
                "spte 0 level 2", "spte 5 level 1", "done FIXED"), events);
        assertTrue(vm.lookup(0x5000, RootKind.DIRECT).get().writable());
        // the same fault again finds the SPTE made: spurious; no memslot: an MMIO SPTE and emulation
        assertEquals(Vm.FaultResult.SPURIOUS, vm.fault(0, 0x5000, ErrorCode.WRITE | ErrorCode.USER));
        assertEquals(Vm.FaultResult.MMIO, vm.fault(0, 0x400000, ErrorCode.USER));
        assertEquals(0, vm.check().violations().size(), vm.check().violations().toString());
    }

    @Test
    void aFaultBeyondTheAddressWidthIsRefusedAndChangesNothing() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        MmuException e = assertThrows(MmuException.class, () -> vm.fault(0, 1L << 52, ErrorCode.USER));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("gpa=0x10000000000000"), e.getMessage());
        assertThrows(MmuException.class, () -> vm.fault(3, 0x1000, ErrorCode.USER));
        assertEquals(Vm.FaultResult.FIXED, vm.fault(0, 0x1000, ErrorCode.USER));
    }

    @Test
    void anAttributeVmTakesPrivatenessFromTheAttributesNotFromTheErrorCode() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        // shared by the attributes: the traced bit does not make it private, the attributes decide
        events.clear();
        assertEquals(Vm.FaultResult.FIXED, vm.fault(0, 0, ErrorCode.USER | ErrorCode.PRIVATE_ACCESS));
        assertEquals("fault 0 4", events.get(0));
        vm.setMemoryAttributes(0, M2, true);
        events.clear();
        assertEquals(Vm.FaultResult.FIXED, vm.fault(0, 0, ErrorCode.USER));
        assertEquals("fault 0 2000000000004", events.get(0));
        assertEquals(2, vm.lookup(0, RootKind.DIRECT).get().level());
    }

    @Test
    void operationsAreRecordedOnceWithTheirErrno() {
        CoreVm vm = TestVms.create(TestVms.swProtected(), 1, observers);
        assertEquals("op KVM_CREATE_VM type=" + vm.type() + " vcpus=1 gpaw=" + vm.capabilities().gpaw(), events.get(0));
        events.clear();
        slot(vm, 0, 0, M2, PageSize.SIZE_2M, SlotFlag.GMEM);
        assertThrows(MmuException.class, () -> vm.setMemoryAttributes(0x1001, 0x1000, true));
        // the conversion's attribute change is part of it, not an operation of its own
        vm.mapGpaRange(0, true, 0, 0x1000);
        vm.destroy();
        assertEquals(List.of("op KVM_SET_USER_MEMORY_REGION2 slot=0 gpa=0x0 size=0x200000 flags=gmem backing=2M",
                "op KVM_SET_MEMORY_ATTRIBUTES gpa=0x1001 size=0x1000 private=1", "failed EINVAL",
                "op KVM_HC_MAP_GPA_RANGE vcpu=0 gpa=0x0 size=0x1000 private=1", "op kvm_destroy_vm"),
                events.stream().filter(e -> e.startsWith("op") || e.startsWith("failed")).toList());
    }

    @Test
    void prefaultingIsAnOperationNotAnExit() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, observers);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        events.clear();
        vm.prefault(0, 0, 0x2000);
        assertEquals("op KVM_PRE_FAULT_MEMORY vcpu=0 gpa=0x0 size=0x2000", events.get(0));
        assertTrue(events.stream().noneMatch(e -> e.startsWith("fault") || e.startsWith("done")), events.toString());
        assertEquals(2, events.stream().filter(e -> e.startsWith("requested")).count(), events.toString());
    }
}
