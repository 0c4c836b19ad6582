package org.tdplab.mmu.tdp.mmu;

/** Page-fault error-code bits ({@code PFERR_*}) the core uses. */
public final class ErrorCode {
    public static final long PRESENT = 1, WRITE = 1 << 1, USER = 1 << 2, RSVD = 1 << 3, FETCH = 1 << 4;
    /** KVM's synthetic {@code PFERR_PRIVATE_ACCESS} (error-code bits 63:32 are KVM-defined). */
    public static final long PRIVATE_ACCESS = 1L << 49;

    private ErrorCode() {
    }

    /** The bits a backend added to a violation's error code ({@code Walk.violation}): all but the PFERR ones above. */
    public static long vendorBits(long errorCode) {
        return errorCode & ~(PRESENT | WRITE | USER | RSVD | FETCH | PRIVATE_ACCESS);
    }

    public static long of(boolean write, boolean exec, boolean present) {
        return (write ? WRITE : 0) | (exec ? FETCH : 0) | (present ? PRESENT : 0) | USER;
    }
}
