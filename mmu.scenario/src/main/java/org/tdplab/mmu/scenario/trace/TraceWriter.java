package org.tdplab.mmu.scenario.trace;

import java.io.Closeable;
import java.io.IOException;
import java.io.Writer;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.RootKind;

/**
 * Writes the model's trace events in the text format {@code trace-cmd report} prints for the kernel's events:
 * {@code TASK-PID [CPU] SECONDS: EVENT: FIELDS}, with the kernel's own field formats for
 * {@code kvm_page_fault} (an exit entering the handler; the error code in KVM's {@code PFERR_*} form),
 * {@code kvm_mmu_spte_requested}, {@code kvm_tdp_mmu_spte_changed} and {@code kvm_userspace_exit}. What has no kernel
 * tracepoint comes as {@code tdplab_*}: how each fault ended ({@code tdplab_page_fault_done}), firmware calls,
 * remote TLB flushes, and the VMM's operations ({@code tdplab_vm_op}, {@code tdplab_vm_op_failed}), which with the
 * faults are what {@code ./tdplab replay} runs again.
 *
 * <p>Each VM is a process: its own pid (from 1000, in the order VMs first appear), announced by a {@code #} line.
 * The task is {@code CPU N/KVM} (QEMU's vCPU thread name) on a thread named {@code vcpu-N-…} (a guest statement
 * or a workload's vCPU) or for an event that names
 * its vCPU, else {@code tdplab}; the CPU column is that vCPU's index. Events may come from several threads at
 * once; lines are never interleaved.
 */
public final class TraceWriter implements MmuObserver, Closeable {
    private final Writer out;
    private final long start = System.nanoTime();
    private final Map<String, Integer> pids = new HashMap<>();
    /**
     * The vCPU whose exit this thread handled last (until its next operation): SPTE changes are logged on that
     * vCPU's task even when a test drives the vCPU from another thread, so every change of an exit — including the
     * backend's handling after the fault handler returned — sits on the task of the fault that made it.
     */
    private final ThreadLocal<Integer> currentCpu = new ThreadLocal<>();
    private IOException failure;

    public TraceWriter(Writer out) {
        this.out = out;
        write("# tracer: nop (tdplab model events in trace-cmd report format)\n");
    }

    @Override
    public void spteChanged(String vm, int asId, RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        event(vm, -1, "kvm_tdp_mmu_spte_changed", String.format(Locale.ROOT,
                "as id %d gfn %x level %d old_spte %x new_spte %x", asId, gfn, level, oldSpte, newSpte));
    }

    @Override
    public void faultEntered(String vm, int vcpu, long gpa, long errorCode) {
        currentCpu.set(vcpu);
        event(vm, vcpu, "kvm_page_fault", String.format(Locale.ROOT,
                "vcpu %d rip 0x0 address 0x%016x error_code 0x%x", vcpu, gpa, errorCode));
    }

    @Override
    public void spteRequested(String vm, int vcpu, long gfn, long pfn, int level) {
        event(vm, vcpu, "kvm_mmu_spte_requested", String.format(Locale.ROOT, "gfn %x pfn %x level %d", gfn, pfn,
                level));
    }

    @Override
    public void pageFault(String vm, int vcpu, long gpa, long errorCode, String result) {
        event(vm, vcpu, "tdplab_page_fault_done", String.format(Locale.ROOT, "vcpu %d address 0x%016x result %s",
                vcpu, gpa, result));
    }

    @Override
    public void vmOperation(String vm, String operation) {
        currentCpu.remove();
        event(vm, -1, "tdplab_vm_op", operation);
    }

    @Override
    public void vmOperationFailed(String vm, String errno) {
        event(vm, -1, "tdplab_vm_op_failed", "errno " + errno);
    }

    @Override
    public void exit(String vm, int vcpu, Exit exit) {
        event(vm, vcpu, "kvm_userspace_exit", "reason " + reason(exit.reason()) + (exit.reason() == Exit.Reason
                .FAIL_ENTRY ? " hardware_entry_failure_reason 0x" + Long.toHexString(exit.hardwareEntryFailureReason())
                        : String.format(Locale.ROOT, " gpa 0x%x size 0x%x%s", exit.gpa(), exit.size(),
                                exit.isPrivate() ? " private" : "")));
    }

    @Override
    public void firmwareCall(String vm, String name, long gfn, int level, String status) {
        event(vm, -1, "tdplab_firmware_call", String.format(Locale.ROOT, "%s gfn %x level %d status %s", name, gfn,
                level, status));
    }

    @Override
    public void tlbFlush(String vm, long gfn, long pages) {
        event(vm, -1, "tdplab_tlb_flush", String.format(Locale.ROOT, "gfn %x pages %d", gfn, pages));
    }

    /** The kernel's {@code kvm_userspace_exit} reason: {@code KVM_EXIT_MMIO (6)}. */
    static String reason(Exit.Reason r) {
        return switch (r) {
        case MMIO -> "KVM_EXIT_MMIO (6)";
        case MAP_GPA_RANGE -> "KVM_EXIT_HYPERCALL (2)";
        case SHUTDOWN -> "KVM_EXIT_SHUTDOWN (8)";
        case MEMORY_FAULT -> "KVM_EXIT_MEMORY_FAULT (39)";
        case VM_DEAD -> "KVM_EXIT_INTERNAL_ERROR (17)";
        case FAIL_ENTRY -> "KVM_EXIT_FAIL_ENTRY (9)";
        };
    }

    private void event(String vm, int vcpu, String name, String fields) {
        Integer handling = currentCpu.get();
        int cpu = vcpu >= 0 ? vcpu : handling != null ? handling : threadVcpu();
        long t = System.nanoTime() - start;
        String task = cpu >= 0 ? "CPU " + cpu + "/KVM" : "tdplab";
        synchronized (this) {
            int pid = pid(vm);
            write(String.format(Locale.ROOT, "%16s-%-5d [%03d] %6d.%06d: %s: %s%n", task, pid, Math.max(cpu, 0),
                    t / 1_000_000_000L, t / 1000 % 1_000_000L, name, fields));
        }
    }

    private int pid(String vm) {
        Integer pid = pids.get(vm);
        if (pid == null) {
            pid = 1000 + pids.size();
            pids.put(vm, pid);
            write("# pid " + pid + ": VM " + display(vm) + "\n");
        }
        return pid;
    }

    /** A scenario's VM name without the runner's {@code run-N/} prefix. */
    static String display(String vm) {
        return vm.startsWith("run-") && vm.indexOf('/') > 0 ? vm.substring(vm.indexOf('/') + 1) : vm;
    }

    /** The vCPU index of a workload's vCPU thread ({@code vcpu-N-…}), else -1. */
    static int threadVcpu() {
        String n = Thread.currentThread().getName();
        if (!n.startsWith("vcpu-"))
            return -1;
        int end = n.indexOf('-', 5);
        try {
            return Integer.parseInt(end < 0 ? n.substring(5) : n.substring(5, end));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private void write(String s) {
        if (failure != null)
            return;
        try {
            out.write(s);
        } catch (IOException e) {
            failure = e;
        }
    }

    /** Flushes and closes the file; a write that failed, now or before, is kept for {@link #failure()}. */
    @Override
    public synchronized void close() {
        try {
            out.close();
        } catch (IOException e) {
            if (failure == null)
                failure = e;
        }
    }

    /** The first write that failed (the trace stops there), or null. */
    public synchronized IOException failure() {
        return failure;
    }
}
