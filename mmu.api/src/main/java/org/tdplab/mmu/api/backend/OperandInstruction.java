package org.tdplab.mmu.api.backend;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A guest instruction that names a guest page as its operand and acts on the frame the CPU's nested walk reaches
 * (a page validation, say): run by {@link VmContext#executeOnOperand} inside the walk's guest-mode section.
 * Implemented by backends.
 */
@ConsumerType
@FunctionalInterface
public interface OperandInstruction {
    /**
     * Executes on the frame {@code walk} reached (translated: {@link Walk#pfn}, {@link Walk#level}) for the
     * operand {@code gfn} of vCPU {@code vcpu}. The vCPU is in guest mode: this must not wait for anything a host
     * thread may hold while it waits for vCPUs to leave guest mode (a remote TLB flush, a kick). An
     * instruction-scoped lock of the backend's own hardware is fine.
     */
    void execute(int vcpu, long gfn, long walk);
}
