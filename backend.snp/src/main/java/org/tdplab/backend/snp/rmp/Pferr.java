package org.tdplab.backend.snp.rmp;

/**
 * #NPF EXITINFO1 bits: the architectural page-fault bits and the SNP bits KVM names {@code PFERR_GUEST_*}
 * (bits 31..37).
 */
public final class Pferr {
    public static final long PRESENT = 1, WRITE = 1 << 1, USER = 1 << 2, RSVD = 1 << 3, FETCH = 1 << 4;
    /** {@code PFERR_GUEST_RMP}: an RMP check failed. */
    public static final long GUEST_RMP = 1L << 31;
    /** {@code PFERR_GUEST_FINAL}: the fault is on the final GPA→SPA translation. */
    public static final long GUEST_FINAL = 1L << 32;
    /** {@code PFERR_GUEST_PAGE}: the fault is on a guest page-table access. */
    public static final long GUEST_PAGE = 1L << 33;
    /** {@code PFERR_GUEST_ENC}: the access had the C-bit set. */
    public static final long GUEST_ENC = 1L << 34;
    /** {@code PFERR_GUEST_SIZEM}: a PVALIDATE/RMPADJUST size smaller than the RMP entry. */
    public static final long GUEST_SIZEM = 1L << 35;
    /** {@code PFERR_GUEST_VMPL}: a VMPL permission check failed. */
    public static final long GUEST_VMPL = 1L << 36;

    private Pferr() {
    }

    /** The architectural low bits of an access that found its page present. */
    public static long access(boolean write, boolean exec) {
        return PRESENT | USER | (write ? WRITE : 0) | (exec ? FETCH : 0);
    }
}
