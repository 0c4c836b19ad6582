package org.tdplab.backend.snp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.snp.SnpVmTest.M2;
import static org.tdplab.backend.snp.SnpVmTest.clean;
import static org.tdplab.backend.snp.SnpVmTest.finish;
import static org.tdplab.backend.snp.SnpVmTest.launchUpdate;
import static org.tdplab.backend.snp.SnpVmTest.stat;

import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.tdplab.backend.snp.kvm.SnpVm;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

/**
 * An SNP vCPU run before {@code KVM_SEV_SNP_LAUNCH_FINISH}: its VMSA is still the hypervisor's page, so VMRUN fails
 * its VMSA check and KVM exits to userspace with {@code KVM_EXIT_FAIL_ENTRY}, reason {@code SVM_EXIT_ERR}; nothing
 * of the guest runs (no RMP change, no fault, no PVALIDATE); after the finish the same vCPUs enter.
 */
class SnpFailEntryTest {
    final SnpBackend backend = new SnpBackend();
    final VmManager manager = Standalone.vmManager(backend);

    @AfterEach
    void teardown() {
        for (Vm vm : List.copyOf(manager.vms()))
            vm.destroy();
        assertEquals(0, backend.host().rmp().assignedPages());
        assertEquals(List.of(), backend.host().leaks());
    }

    private static void assertFailedEntry(AccessResult r) {
        assertFalse(r.completed());
        assertEquals(0, r.pages());
        assertEquals(Exit.Reason.FAIL_ENTRY, r.exit().reason(), r::toString);
        assertEquals(SnpVm.SVM_EXIT_ERR, r.exit().hardwareEntryFailureReason());
        assertEquals(0xffff_ffff_ffff_ffffL, r.exit().hardwareEntryFailureReason(), "-1 as the kernel's u64");
        assertTrue(r.exit().detail().contains("snp.launch_finish"), r.exit()::detail);
    }

    @Test
    void everyVcpuFailsItsEntryUntilLaunchFinishThenEnters() {
        Vm vm = manager.create("sev", "snp", 2, 48, Map.of());
        vm.addMemslot(0, 0, 2 * M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_2M);
        vm.access(0, Access.WRITE, 0, 0x1000, Encoding.SHARED, 0xf1e); // the VMM writes the image
        vm.setMemoryAttributes(0, 2 * M2, true);
        launchUpdate(vm, 0, 0x1000);
        Map<String, Long> before = vm.stats();
        long assigned = backend.host().rmp().assignedPages();

        for (int vcpu = 0; vcpu < 2; vcpu++) {
            assertFailedEntry(vm.access(vcpu, Access.READ, 0, 0x1000, Encoding.CURRENT, 0));
            assertFailedEntry(vm.access(vcpu, Access.WRITE, M2, 0x2000, Encoding.PRIVATE, 7));
            assertFailedEntry(vm.accept(vcpu, M2, M2, PageSize.SIZE_2M));
            assertFailedEntry(vm.convert(vcpu, false, M2, 0x1000));
        }
        assertEquals(before, vm.stats(), "no fault, no RMPUPDATE, no PVALIDATE");
        assertEquals(assigned, backend.host().rmp().assignedPages());
        assertFalse(vm.dead());
        clean(vm);

        finish(vm);
        AccessResult image = vm.access(1, Access.READ, 0, 0x1000, Encoding.CURRENT, 0);
        assertTrue(image.completed(), image::toString);
        assertEquals(0xf1e, image.value());
        assertTrue(vm.accept(0, M2, M2, PageSize.SIZE_2M).completed());
        assertTrue(vm.access(0, Access.WRITE, M2, 0x2000, Encoding.PRIVATE, 7).completed());
        AccessResult r = vm.access(1, Access.READ, M2, 0x2000, Encoding.PRIVATE, 0);
        assertTrue(r.completed() && r.valuesAgree());
        assertEquals(7, r.value());
        assertEquals(1, stat(vm, "PVALIDATE"));
        clean(vm);
    }

    @Test
    void sharedAccessesBeforeTheFinishStandForTheVmmAndRun() {
        Vm vm = manager.create("sev", "snp", 1, 48, Map.of());
        vm.addMemslot(0, 0, M2, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0, 0x3000, Encoding.CURRENT, 1).completed());
        assertTrue(vm.access(0, Access.READ, 0, 0x1000, Encoding.SHARED, 0).completed());
        clean(vm);
    }
}
