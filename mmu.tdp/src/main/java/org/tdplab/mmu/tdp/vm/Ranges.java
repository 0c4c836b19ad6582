package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/** GPA ranges as ioctls take them: the checks each makes before anything changes. */
final class Ranges {
    private Ranges() {
    }

    /** A GPA range of whole 4K pages below the VM's addressable limit {@code maxGfn}; returns its GFN range. */
    static long[] gfnRange(String what, long gpa, long size, long maxGfn) {
        checkPages(what, gpa, size, maxGfn);
        return new long[] { gpa >>> 12, (gpa + size) >>> 12 };
    }

    /** The checks of {@link #gfnRange}, for a caller that takes the GFNs itself. */
    static void checkPages(String what, long gpa, long size, long maxGfn) {
        if (size == 0)
            throw new MmuException(Errno.EINVAL, "%s: size=0x%x must be positive", what, size);
        if ((gpa & 0xfff) != 0)
            throw new MmuException(Errno.EINVAL, "%s: gpa=0x%x is not 4K-aligned", what, gpa);
        if ((size & 0xfff) != 0)
            throw new MmuException(Errno.EINVAL, "%s: size=0x%x is not a multiple of 4K", what, size);
        checkRange(what, gpa, size, maxGfn << 12);
    }

    /**
     * {@code [gpa, gpa + size)} as unsigned 64-bit numbers, as an ioctl checks it ({@code gpa + size <= gpa} is
     * EINVAL in {@code kvm_vcpu_pre_fault_memory}, say): refused when it wraps past 2^64 or ends beyond
     * {@code limit}, before anything changes.
     */
    static void checkRange(String what, long gpa, long size, long limit) {
        long end = gpa + size;
        if (Long.compareUnsigned(end, gpa) <= 0)
            throw new MmuException(Errno.EINVAL, "%s: gpa=0x%x size=0x%x wraps past 2^64", what, gpa, size);
        if (Long.compareUnsigned(end, limit) > 0)
            throw new MmuException(Errno.EINVAL, "%s: gpa=0x%x size=0x%x reaches beyond the VM's limit 0x%x", what,
                    gpa, size, limit);
    }
}
