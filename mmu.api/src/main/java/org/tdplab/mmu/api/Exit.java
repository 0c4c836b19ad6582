package org.tdplab.mmu.api;

/**
 * An exit to userspace, as {@code KVM_RUN} reports it.
 *
 * @param reason why the vCPU exited
 * @param gpa the guest physical address involved
 * @param size the size of the access ({@code KVM_EXIT_MEMORY_FAULT}) or 0
 * @param isPrivate the {@code KVM_MEMORY_EXIT_FLAG_PRIVATE} flag of a memory fault
 * @param detail a human explanation
 */
public record Exit(Reason reason, long gpa, long size, boolean isPrivate, String detail) {
    public enum Reason {
        /** {@code KVM_EXIT_MEMORY_FAULT}: private/shared mismatch or private access with no guest_memfd. */
        MEMORY_FAULT,
        /** {@code KVM_EXIT_MMIO}: no memslot; the access goes to the VMM for emulation. */
        MMIO,
        /** {@code KVM_EXIT_HYPERCALL} {@code KVM_HC_MAP_GPA_RANGE}: the guest asks for a conversion. */
        MAP_GPA_RANGE,
        /** The VM is dead ({@code KVM_REQ_VM_DEAD}), e.g. after {@code KVM_BUG_ON}. */
        VM_DEAD,
        /** {@code KVM_EXIT_SHUTDOWN} / an internal error the VMM cannot resume from. */
        SHUTDOWN
    }

    public String name() {
        return reason.name().toLowerCase(java.util.Locale.ROOT);
    }
}
