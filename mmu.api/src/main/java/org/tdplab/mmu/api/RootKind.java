package org.tdplab.mmu.api;

/** KVM's root types: the direct root the hardware walks, and the mirror root of VMs with mirrored page tables. */
public enum RootKind {
    DIRECT, MIRROR
}
