package org.tdplab.mmu.tdp.mmu;

import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.api.backend.VmCapabilities;

/**
 * A fault's routing, decided here only: how a guest GPA names its natural GFN (the shared bit, {@code gfn_direct_bits},
 * when the VM has one), whether a fault is private ({@code PFERR_PRIVATE_ACCESS}, from the source the backend
 * declared) and which root it goes through ({@code follow_mirrored_pt}). The fault handler, the hardware walk, the
 * fast path and the guest's accesses all ask; none re-derives it. The two facts stay apart as the kernel keeps them:
 * a VM may have mirrored tables without a shared bit, or a shared bit without mirrored tables.
 */
public final class Routing {
    private final VmCapabilities caps;
    /** The shared bit as a GPA mask, 0 when the VM has none. */
    public final long sharedBitMask;

    public Routing(VmCapabilities caps) {
        this.caps = caps;
        this.sharedBitMask = caps.sharedBit() < 0 ? 0 : 1L << caps.sharedBit();
    }

    /** The natural GPA a guest GPA names: the shared bit, if any, stripped (the offset in the page kept). */
    public long naturalGpa(long gpa) {
        return gpa & ~sharedBitMask;
    }

    /** The natural GFN a guest GPA names: the shared bit, if any, stripped. */
    public long naturalGfn(long gpa) {
        return (gpa & ~sharedBitMask) >>> 12;
    }

    /** Whether the guest wrote the GPA with the shared bit (an alias of the shared half). */
    public boolean hasSharedBit(long gpa) {
        return (gpa & sharedBitMask) != 0;
    }

    /** The GPA the guest uses for {@code gfn} as an access of this privateness (the shared bit on shared ones). */
    public long guestGpa(long gfn, boolean isPrivate) {
        return (gfn << 12) | (isPrivate ? 0 : sharedBitMask);
    }

    /**
     * {@code PFERR_PRIVATE_ACCESS} of a fault at {@code gpa}: from the attribute ({@code attrPrivate}), the GPA's
     * shared bit or the guest's encrypted-access bit, as the backend declared ({@link PrivateSource}).
     */
    public boolean isPrivateFault(long gpa, boolean encryptedAccess, boolean attrPrivate) {
        return switch (caps.privateSource()) {
        case NONE -> false;
        case ATTRIBUTES -> attrPrivate;
        case SHARED_BIT -> (gpa & sharedBitMask) == 0;
        case ERROR_CODE -> encryptedAccess;
        };
    }

    /** The guest's encrypted-access bit on an access of this privateness (VMs whose error code says it). */
    public boolean encryptedAccess(boolean isPrivate) {
        return isPrivate && caps.privateSource() == PrivateSource.ERROR_CODE;
    }

    /**
     * {@code follow_mirrored_pt}: whether an access of this privateness goes through the mirror root — private
     * accesses of VMs with mirrored tables, whatever tells private from shared.
     */
    public boolean followsMirror(boolean isPrivate) {
        return isPrivate && caps.mirroredPt();
    }
}
