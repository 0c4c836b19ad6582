package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.backend.VerbArgs;

/** Each VMM operation on a VM is one trace line, as a replay reads it back. */
class TracedOperationsTest {
    @Test
    void eachOperationIsTracedOnceWithItsWords() {
        List<String> ops = new CopyOnWriteArrayList<>();
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1, List.of(new MmuObserver() {
            @Override
            public void vmOperation(String name, String operation) {
                ops.add(operation);
            }
        }));
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        slot(vm, 1, M2, M2, PageSize.SIZE_4K);
        ops.clear();
        vm.setDirtyLogging(0, true, DirtyLogOptions.DEFAULT);
        vm.getDirtyLog(0);
        vm.clearDirtyLog(0, 0, M2);
        vm.zapGfnRange(0, 0x1000);
        vm.notifyUnmap(0, 0x1000);
        vm.age(0, 0x2000);
        vm.testAge(0, 0x2000);
        vm.recoverNxHugePages();
        vm.moveMemslot(1, 2 * M2);
        vm.deleteMemslot(1);
        vm.prefault(0, 0, 0x1000);
        assertEquals(List.of("KVM_SET_USER_MEMORY_REGION2 slot=0 log_dirty_pages=1 eager_split=1 initially_set=0 "
                + "manual_protect=0",
                "KVM_GET_DIRTY_LOG slot=0", "KVM_CLEAR_DIRTY_LOG slot=0 gpa=0x0 size=0x200000",
                "kvm_zap_gfn_range gpa=0x0 size=0x1000", "mmu_notifier_invalidate_range gpa=0x0 size=0x1000",
                "clear_young gpa=0x0 size=0x2000", "test_young gpa=0x0 size=0x2000", "kvm_recover_nx_huge_pages",
                "KVM_SET_USER_MEMORY_REGION2 slot=1 move=0x400000", "KVM_SET_USER_MEMORY_REGION2 slot=1 size=0x0",
                "KVM_PRE_FAULT_MEMORY vcpu=0 gpa=0x0 size=0x1000"), ops);
        vm.destroy();
    }

    @Test
    void aGuestMemfdPunchAndABackendVerbAreTracedToo() {
        List<String> ops = new CopyOnWriteArrayList<>();
        org.tdplab.mmu.api.backend.VmCapabilities caps = org.tdplab.mmu.api.backend.VmCapabilities
                .ordinary("sw_protected", 48).withPrivateMemory(org.tdplab.mmu.api.backend.PrivateSource.ATTRIBUTES, 2);
        CoreVm vm = TestVms.create(caps, 1, List.of(new MmuObserver() {
            @Override
            public void vmOperation(String name, String operation) {
                ops.add(operation);
            }
        }));
        slot(vm, 0, 0, M2, PageSize.SIZE_4K, org.tdplab.mmu.api.SlotFlag.GMEM);
        ops.clear();
        vm.punchHole(0, 0x1000);
        try {
            vm.invoke("nothing", VerbArgs.none("nothing"));
        } catch (org.tdplab.mmu.api.MmuException refused) {
            // the backend has no verbs: refused, and the refusal is traced after the line
        }
        assertEquals(List.of("FALLOC_FL_PUNCH_HOLE gpa=0x0 size=0x1000", "backend_verb name=nothing"), ops);
        vm.destroy();
    }
}
