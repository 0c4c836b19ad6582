package org.tdplab.mmu.api.backend;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The capabilities of one VM, given by its backend for the VM's configuration. The core decides by these,
 * never by the VM type's name.
 *
 * @param vmType the VM type
 * @param gpaw guest physical address width (48 or 52); the root level follows from it
 * @param mirroredPt private memory is mapped through a mirror root (KVM's {@code kvm_has_mirrored_tdp})
 * @param privateMem the VM has private memory ({@code kvm_arch_has_private_mem})
 * @param protectedState guest state is protected ({@code has_protected_state}): no read-only memslots
 * @param sharedBit the GPA bit that marks a shared (direct) address, or -1 when the VM has none
 */
public record VmCapabilities(String vmType, int gpaw, boolean mirroredPt, boolean privateMem,
        boolean protectedState, int sharedBit) {

    public VmCapabilities {
        if (gpaw != 48 && gpaw != 52)
            throw new MmuException(Errno.EINVAL, "gpaw=%d: the guest physical address width must be 48 or 52", gpaw);
        if (sharedBit >= gpaw)
            throw new MmuException(Errno.EINVAL, "shared bit %d lies beyond gpaw=%d", sharedBit, gpaw);
    }

    /** KVM's {@code gfn_direct_bits}: the shared bit as a GFN mask, 0 when there is none. */
    public long gfnDirectBits() {
        return sharedBit < 0 ? 0 : 1L << (sharedBit - 12);
    }

    /** The TDP root level: 4 for a 48-bit guest physical address width, 5 for 52. */
    public int rootLevel() {
        return gpaw > 48 ? 5 : 4;
    }
}
