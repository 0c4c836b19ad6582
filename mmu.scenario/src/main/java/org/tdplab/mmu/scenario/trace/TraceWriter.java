package org.tdplab.mmu.scenario.trace;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
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
 * {@code kvm_tdp_mmu_spte_changed}, {@code kvm_page_fault} and {@code kvm_userspace_exit}. Firmware calls and remote
 * TLB flushes, which have no kernel tracepoint, come as {@code tdplab_firmware_call} and {@code tdplab_tlb_flush}.
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
    public void pageFault(String vm, int vcpu, long gpa, long errorCode, String result) {
        event(vm, vcpu, "kvm_page_fault", String.format(Locale.ROOT,
                "vcpu %d rip 0x0 address 0x%016x error_code 0x%x", vcpu, gpa, errorCode)
                + (result == null ? "" : " (" + result + ")"));
    }

    @Override
    public void exit(String vm, int vcpu, Exit exit) {
        event(vm, vcpu, "kvm_userspace_exit", "reason " + reason(exit.reason()) + String.format(Locale.ROOT,
                " gpa 0x%x size 0x%x%s", exit.gpa(), exit.size(), exit.isPrivate() ? " private" : ""));
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
        };
    }

    private void event(String vm, int vcpu, String name, String fields) {
        int cpu = vcpu >= 0 ? vcpu : threadVcpu();
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

    @Override
    public synchronized void close() {
        try {
            out.close();
        } catch (IOException e) {
            if (failure == null)
                failure = e;
        }
        if (failure != null)
            throw new UncheckedIOException(failure);
    }
}
