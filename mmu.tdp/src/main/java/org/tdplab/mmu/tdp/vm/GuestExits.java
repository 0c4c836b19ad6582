package org.tdplab.mmu.tdp.vm;

import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_EMULATE;

import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.tdp.mmu.ErrorCode;
import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.mmu.Stat;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * How a guest access that the translation did not complete ends ({@link GuestOps} makes the access): an EPT/NPT
 * violation handed to KVM's fault handler, after which the guest re-executes; an exception delivered to the guest;
 * an exit to userspace ({@code KVM_EXIT_MEMORY_FAULT}, {@code KVM_EXIT_MMIO}) or a dead VM; an entry that failed
 * ({@code KVM_EXIT_FAIL_ENTRY}). Also one such exit replayed from a trace.
 */
final class GuestExits {
    /** Outcome codes of an access: {@link #DONE} or an exit / exception code. */
    static final long DONE = 0, EXIT_MEMORY_FAULT = 1, EXIT_MMIO = 2, EXIT_DEAD = 3;
    private static final long EXCEPTION = 1L << 32;

    private final VmStatus status;
    private final TdpMmu mmu;
    private final BackendSlot gate;
    private final FaultHandler faults;
    private final Tracer trace;

    GuestExits(VmStatus status, TdpMmu mmu, BackendSlot gate, FaultHandler faults, Tracer trace) {
        this.status = status;
        this.mmu = mmu;
        this.gate = gate;
        this.faults = faults;
        this.trace = trace;
    }

    /** Handles a failed translation: faults go to KVM; exceptions to the guest; a fatal outcome kills the VM. */
    long violation(Vcpu v, long w, long guestGpa, long gfn, boolean encrypted) {
        switch (Walk.kind(w)) {
        case Walk.KIND_VIOLATION -> {
            return switch (exitFault(v, guestGpa, gfn, Walk.detail(w), encrypted)) {
            case FaultHandler.EXIT_MEMORY_FAULT -> EXIT_MEMORY_FAULT;
            case FaultHandler.EXIT_MMIO -> EXIT_MMIO;
            case FaultHandler.EXIT_DEAD -> EXIT_DEAD;
            case RET_PF_EMULATE -> EXIT_MMIO;
            default -> DONE;
            };
        }
        case Walk.KIND_EXCEPTION -> {
            return EXCEPTION | Walk.detail(w);
        }
        default -> {
            status.kill("vCPU " + v.id + ": the guest cannot go on at gpa 0x" + Long.toHexString(guestGpa));
            return EXIT_DEAD;
        }
        }
    }

    /**
     * The EPT/NPT-violation exit handler: the fault handler (which lets the backend act on its own error-code bits
     * first, e.g. a guest's accept level), then the backend's follow-up once the fault is resolved (e.g. a
     * reverse-map violation).
     */
    private int exitFault(Vcpu v, long guestGpa, long gfn, long errorCode, boolean encrypted) {
        long vendorBits = ErrorCode.vendorBits(errorCode);
        int r = faults.handle(v, guestGpa, errorCode, encrypted, false);
        v.lastFault = r;
        if (r >= 0 && r != RET_PF_EMULATE && vendorBits != 0)
            gate.backend().violationHandled(v.id, gfn, vendorBits);
        return r;
    }

    /** One exit replayed from a trace: {@code PFERR_PRIVATE_ACCESS} in the error code says the access was private. */
    Vm.FaultResult fault(Vcpu v, long gpa, long errorCode) {
        if (gpa < 0 || gpa >= 1L << mmu.caps.gpaw())
            throw new MmuException(Errno.EINVAL, "gpa=0x%x lies beyond gpaw=%d", gpa, mmu.caps.gpaw());
        boolean encrypted = mmu.routing.encryptedAccess((errorCode & ErrorCode.PRIVATE_ACCESS) != 0);
        long gfn = mmu.routing.naturalGfn(gpa);
        v.loadRoots(mmu.roots);
        int r = exitFault(v, gpa, gfn, errorCode & ~ErrorCode.PRIVATE_ACCESS, encrypted);
        return switch (r) {
        case FaultHandler.EXIT_MEMORY_FAULT -> Vm.FaultResult.MEMORY_FAULT;
        case FaultHandler.EXIT_MMIO -> Vm.FaultResult.MMIO;
        case FaultHandler.EXIT_DEAD -> Vm.FaultResult.DEAD;
        default -> Vm.FaultResult.valueOf(PageFault.name(r));
        };
    }

    AccessResult ended(Vcpu v, long pages, long outcome) {
        if ((outcome & EXCEPTION) != 0)
            return AccessResult.exception(pages, gate.exceptionName((int) (outcome & ~EXCEPTION)));
        Exit exit;
        if (outcome == EXIT_MEMORY_FAULT) {
            mmu.stats.inc(Stat.EXITS_MEMORY_FAULT);
            exit = new Exit(Exit.Reason.MEMORY_FAULT, v.exitGpa, 4096, v.exitPrivate, "KVM_EXIT_MEMORY_FAULT");
        } else if (outcome == EXIT_MMIO) {
            mmu.stats.inc(Stat.EXITS_MMIO);
            exit = new Exit(Exit.Reason.MMIO, v.exitGpa, 0, false, "KVM_EXIT_MMIO: no memslot, or a read-only one");
        } else {
            exit = new Exit(Exit.Reason.VM_DEAD, 0, 0, false, "VM is dead: " + status.deadReason().orElse("?"));
        }
        trace.exit(v.id, exit);
        return AccessResult.exit(pages, exit);
    }

    /**
     * vCPU {@code v}'s entry failed ({@link org.tdplab.mmu.api.backend.VmBackend#failEntry}): the run ends at once
     * in that {@code KVM_EXIT_FAIL_ENTRY}, no page touched, nothing in guest memory or the MMU changed.
     */
    AccessResult failedEntry(Vcpu v, Exit exit) {
        if (exit.reason() != Exit.Reason.FAIL_ENTRY)
            throw new IllegalStateException("the backend's failed entry is exit " + exit.name() + ", not fail_entry");
        trace.exit(v.id, exit);
        return AccessResult.exit(0, exit);
    }
}
