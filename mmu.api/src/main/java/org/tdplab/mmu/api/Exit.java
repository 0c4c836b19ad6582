package org.tdplab.mmu.api;

/**
 * An exit to userspace, as {@code KVM_RUN} reports it.
 *
 * @param reason why the vCPU exited
 * @param gpa the guest physical address involved
 * @param size the size of the access ({@code KVM_EXIT_MEMORY_FAULT}) or 0
 * @param isPrivate the {@code KVM_MEMORY_EXIT_FLAG_PRIVATE} flag of a memory fault
 * @param detail a human explanation
 * @param hardwareEntryFailureReason {@code run->fail_entry.hardware_entry_failure_reason} of a
 *        {@code KVM_EXIT_FAIL_ENTRY} (a 64-bit value, read unsigned), else 0
 * @since 3.3.0 (the entry failure reason)
 */
public record Exit(Reason reason, long gpa, long size, boolean isPrivate, String detail,
        long hardwareEntryFailureReason) {
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
        SHUTDOWN,
        /**
         * {@code KVM_EXIT_FAIL_ENTRY}: the hardware refused to enter the guest; {@code KVM_RUN} returns 0 with the
         * hardware's reason ({@link Exit#hardwareEntryFailureReason}). Nothing of the guest ran. The vCPU and the
         * VM stay usable: a later run enters once what the entry lacked is there.
         *
         * @since 3.3.0
         */
        FAIL_ENTRY
    }

    /** An exit that carries no entry failure reason (every reason but {@link Reason#FAIL_ENTRY}). */
    public Exit(Reason reason, long gpa, long size, boolean isPrivate, String detail) {
        this(reason, gpa, size, isPrivate, detail, 0);
    }

    /**
     * {@code KVM_EXIT_FAIL_ENTRY} with {@code fail_entry.hardware_entry_failure_reason = reason}; {@code detail}
     * says why the entry failed.
     *
     * @since 3.3.0
     */
    public static Exit failEntry(long hardwareEntryFailureReason, String detail) {
        return new Exit(Reason.FAIL_ENTRY, 0, 0, false, detail, hardwareEntryFailureReason);
    }

    public String name() {
        return reason.name().toLowerCase(java.util.Locale.ROOT);
    }
}
