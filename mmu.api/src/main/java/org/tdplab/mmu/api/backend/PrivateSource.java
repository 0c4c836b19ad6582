package org.tdplab.mmu.api.backend;

/** Where a fault's privateness ({@code PFERR_PRIVATE_ACCESS}) comes from. */
public enum PrivateSource {
    /** The VM has no private memory: every fault is shared. */
    NONE,
    /** The GFN's current memory attribute decides ({@code kvm_mmu_page_fault} for software-protected VMs). */
    ATTRIBUTES,
    /**
     * The GPA's shared bit decides: clear means private (the EPT-violation exit handler of a VM type with a
     * shared bit).
     */
    SHARED_BIT,
    /** The guest's encrypted-access bit in the fault error code decides ({@code npf_interception}). */
    ERROR_CODE;

    /** Whether the guest encodes privateness in its accesses (and so may name an encoding). */
    public boolean guestEncodes() {
        return this == SHARED_BIT || this == ERROR_CODE;
    }
}
