package org.tdplab.backend.snp.rmp;

/**
 * The outcome of a guest RMP instruction (PVALIDATE, RMPADJUST), packed in a {@code long} so the guest path
 * allocates nothing: either EAX and rFLAGS.CF, or a #VMEXIT(NPF) with its error-code bits.
 */
public final class GuestResult {
    private static final long CF = 1L << 8;

    private GuestResult() {
    }

    public static long ret(int eax) {
        return eax & 0xff;
    }

    /** EAX = 0 with CF = 1: the Validated bit already had the requested value (Linux: NOUPDATE). */
    public static long noUpdate() {
        return CF;
    }

    public static long npf(long errorBits) {
        return Long.MIN_VALUE | errorBits;
    }

    public static boolean isNpf(long r) {
        return r < 0;
    }

    public static long npfBits(long r) {
        return r & ~Long.MIN_VALUE;
    }

    public static int eax(long r) {
        return (int) (r & 0xff);
    }

    public static boolean cf(long r) {
        return r >= 0 && (r & CF) != 0;
    }

    /** Success that changed the entry (EAX = 0, CF = 0). */
    public static boolean updated(long r) {
        return r == 0;
    }
}
