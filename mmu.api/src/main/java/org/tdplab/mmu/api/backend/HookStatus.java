package org.tdplab.mmu.api.backend;

/** What a backend hook reports to the core, as the kernel's hooks return 0, -EBUSY or another error. */
public enum HookStatus {
    /** Done. */
    OK,
    /** Contention (a firmware's operand-busy status): the core restores the old state and retries the operation. */
    BUSY,
    /** Anything else: the core bugs the VM ({@code KVM_BUG_ON}). */
    ERROR
}
