package org.tdplab.mmu.scenario.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringWriter;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

class TraceWriterTest {
    /** {@code TASK-PID [CPU] SECONDS: EVENT: FIELDS}, as trace-cmd report prints it. */
    private static final String COLUMNS = " *[^ ].*-\\d+ +\\[\\d{3}\\] +\\d+\\.\\d{6}: ";

    private static List<String> events(StringWriter w) {
        return w.toString().lines().filter(l -> !l.startsWith("#")).toList();
    }

    @Test
    void spteChangesPrintAsTheKernelPrintsThem() {
        StringWriter w = new StringWriter();
        TraceWriter t = new TraceWriter(w);
        t.spteChanged("run-3/td", 0, RootKind.DIRECT, 0xffc00, 2, 0x800000010bc97907L, 0x80000000000005a0L);
        t.close();
        assertTrue(w.toString().startsWith("# tracer: nop"), w.toString());
        assertTrue(w.toString().contains("# pid 1000: VM td\n"), w.toString());
        String line = events(w).get(0);
        assertTrue(line.matches(COLUMNS + "kvm_tdp_mmu_spte_changed: as id 0 gfn ffc00 level 2 old_spte "
                + "800000010bc97907 new_spte 80000000000005a0"), line);
        assertTrue(line.startsWith("          tdplab-1000  [000] "), line);
    }

    @Test
    void faultsAndExitsNameTheirVcpu() {
        StringWriter w = new StringWriter();
        TraceWriter t = new TraceWriter(w);
        t.faultEntered("a", 1, 0x1000, 0x6);
        t.spteRequested("a", 1, 0x1, 0x1234, 1);
        t.spteChanged("a", 0, RootKind.DIRECT, 0x1, 1, 0x8000000000000000L, 0x0600000001234b77L);
        t.pageFault("a", 1, 0x1000, 0x6, "FIXED");
        t.exit("b", 0, new Exit(Exit.Reason.MMIO, 0x400000, 4096, false, "no memslot"));
        t.exit("b", 1, Exit.failEntry(-1, "VMSA not the guest's"));
        t.close();
        List<String> e = events(w);
        assertTrue(e.get(0).matches(" *CPU 1/KVM-1000 +\\[001\\] +\\d+\\.\\d{6}: kvm_page_fault: vcpu 1 rip 0x0 "
                + "address 0x0000000000001000 error_code 0x6"), e.get(0));
        assertTrue(e.get(1).matches(" *CPU 1/KVM-1000 .*: kvm_mmu_spte_requested: gfn 1 pfn 1234 level 1"), e.get(1));
        // the fault's SPTE change is on the fault's task, although this thread is no vCPU thread
        assertTrue(e.get(2).matches(" *CPU 1/KVM-1000 .*: kvm_tdp_mmu_spte_changed: .*"), e.get(2));
        assertTrue(e.get(3).matches(" *CPU 1/KVM-1000 .*: tdplab_page_fault_done: vcpu 1 address 0x0000000000001000 "
                + "result FIXED"), e.get(3));
        assertTrue(e.get(4).matches(" *CPU 0/KVM-1001 .*: kvm_userspace_exit: reason KVM_EXIT_MMIO \\(6\\) gpa "
                + "0x400000 size 0x1000"), e.get(4));
        assertTrue(e.get(5).matches(" *CPU 1/KVM-1001 .*: kvm_userspace_exit: reason KVM_EXIT_FAIL_ENTRY \\(9\\) "
                + "hardware_entry_failure_reason 0xffffffffffffffff"), e.get(5));
    }

    @Test
    void aTracedVmWritesEveryEventOnOneLine() {
        VmManager m = Standalone.vmManager(new DefaultVmBackend());
        StringWriter w = new StringWriter();
        TraceWriter t = new TraceWriter(w);
        m.addObserver(t);
        Vm vm = m.create("v", "default", 1, 48, Map.of());
        vm.addMemslot(0, 0, 2 << 20, Set.of(), PageSize.SIZE_4K);
        vm.access(0, Access.WRITE, 0, 8192, Encoding.CURRENT, Vm.DEFAULT_TOKEN);
        vm.destroy();
        m.removeObserver(t);
        t.close();
        List<String> e = events(w);
        assertTrue(e.stream().allMatch(l -> l.matches(COLUMNS + "(kvm_tdp_mmu_spte_changed|kvm_page_fault|"
                + "kvm_mmu_spte_requested|tdplab_page_fault_done|tdplab_vm_op|kvm_userspace_exit|tdplab_firmware_call"
                + "|tdplab_tlb_flush): .*")), String.join("\n", e));
        assertTrue(e.get(0).endsWith("tdplab_vm_op: KVM_CREATE_VM type=default vcpus=1 gpaw=48"), e.get(0));
        assertTrue(e.get(1).endsWith("tdplab_vm_op: KVM_SET_USER_MEMORY_REGION2 slot=0 gpa=0x0 size=0x200000 "
                + "flags=none backing=4K"), e.get(1));
        assertTrue(e.stream().anyMatch(l -> l.endsWith("tdplab_vm_op: kvm_destroy_vm")), String.join("\n", e));
        assertEquals(2, e.stream().filter(l -> l.contains("kvm_page_fault: vcpu 0")).count(), String.join("\n", e));
        assertTrue(e.stream().anyMatch(l -> l.contains("kvm_tdp_mmu_spte_changed: as id 0 gfn 1 level 1 old_spte ")));
    }

    @Test
    void workloadThreadsAreVcpuTasks() throws InterruptedException {
        int[] seen = new int[1];
        Thread th = new Thread(() -> seen[0] = TraceWriter.threadVcpu(), "vcpu-7-demand-paging");
        th.start();
        th.join();
        assertEquals(7, seen[0]);
        assertEquals(-1, TraceWriter.threadVcpu());
    }
}
