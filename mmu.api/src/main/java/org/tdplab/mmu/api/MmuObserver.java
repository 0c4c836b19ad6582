package org.tdplab.mmu.api;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Trace events, with the fields of the kernel's tracepoints. Called on the thread that caused the event, often
 * under the MMU lock: observers must be quick and must not call back into the VM.
 */
@ConsumerType
public interface MmuObserver {
    /** {@code kvm_tdp_mmu_spte_changed}: one per SPTE change. */
    default void spteChanged(String vm, int asId, RootKind root, long gfn, int level, long oldSpte, long newSpte) {
    }

    /**
     * {@code kvm_page_fault}: an EPT/NPT-violation exit reached the fault handler (faults KVM makes itself, as
     * {@code KVM_PRE_FAULT_MEMORY} does, are not exits and do not come here).
     */
    default void faultEntered(String vm, int vcpu, long gpa, long errorCode) {
    }

    /** {@code kvm_mmu_spte_requested}: the fault handler is about to map {@code gfn} at {@code level}. */
    default void spteRequested(String vm, int vcpu, long gfn, long pfn, int level) {
    }

    /** How an exit's fault ended ({@code FIXED}, {@code RETRY}, …, as {@link Vm.FaultResult} names them). */
    default void pageFault(String vm, int vcpu, long gpa, long errorCode, String result) {
    }

    /**
     * An operation of the VMM on the VM, about to run on the calling thread: its ioctl name followed by
     * {@code key=value} words (e.g. {@code KVM_SET_MEMORY_ATTRIBUTES gpa=0x0 size=0x200000 private=1}). Together
     * they are the operation stream a replay runs again.
     */
    default void vmOperation(String vm, String operation) {
    }

    /** The last operation on the calling thread failed with {@code errno}. */
    default void vmOperationFailed(String vm, String errno) {
    }

    /** An exit to userspace. */
    default void exit(String vm, int vcpu, Exit exit) {
    }

    /** A firmware call a backend made (a firmware leaf function, a reverse-map instruction) and its status. */
    default void firmwareCall(String vm, String name, long gfn, int level, String status) {
    }

    /** A remote TLB flush request. */
    default void tlbFlush(String vm, long gfn, long pages) {
    }
}
