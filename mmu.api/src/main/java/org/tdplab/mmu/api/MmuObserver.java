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

    /** {@code kvm_page_fault}: a fault entered the handler, and how it ended ({@code FIXED}, {@code RETRY}, …). */
    default void pageFault(String vm, int vcpu, long gpa, long errorCode, String result) {
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
