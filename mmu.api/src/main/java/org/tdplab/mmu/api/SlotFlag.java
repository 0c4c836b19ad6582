package org.tdplab.mmu.api;

/** Memslot flags of {@code KVM_SET_USER_MEMORY_REGION2}. */
public enum SlotFlag {
    /** {@code KVM_MEM_GUEST_MEMFD}: private memory comes from a guest_memfd bound to the slot. */
    GMEM,
    /** {@code KVM_MEM_READONLY}. */
    READONLY,
    /** {@code KVM_MEM_LOG_DIRTY_PAGES}. */
    DIRTY_LOG
}
