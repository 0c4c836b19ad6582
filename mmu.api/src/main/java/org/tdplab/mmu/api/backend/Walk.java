package org.tdplab.mmu.api.backend;

/**
 * The outcome of a hardware translation step a backend performs (a walk of a table it owns, or the checks after
 * the nested walk), packed in a {@code long} so the guest-access path allocates nothing.
 * Non-negative: translated, {@code pfn | level << 56}. Negative: one of the outcomes below, with detail bits.
 */
public final class Walk {
    private static final long KIND_SHIFT = 48;
    private static final long DETAIL_MASK = (1L << KIND_SHIFT) - 1;

    /** Use KVM's own walk (the hook does not apply to this access). */
    public static final long NOT_HANDLED = Long.MIN_VALUE;
    /** The entry is missing: an EPT/NPT violation exits to KVM's fault handler, then the access retries. */
    public static final int KIND_VIOLATION = 1;
    /**
     * An exception is injected into the guest; detail = its architectural vector number, which the backend names
     * ({@link VmBackend#exceptionName}).
     */
    public static final int KIND_EXCEPTION = 2;
    /** The VM cannot continue: the access exits with the VM dead (KVM kills it). */
    public static final int KIND_FATAL = 3;

    /** The largest exception vector ({@code 0..255}, as the IDT has them). */
    public static final int MAX_VECTOR = 255;

    private Walk() {
    }

    public static long translated(long pfn, int level) {
        return pfn | ((long) level << 56);
    }

    /**
     * A violation; {@code errorBits} are extra fault error-code bits the backend reports (e.g. a reverse-map fault).
     */
    public static long violation(long errorBits) {
        return negative(KIND_VIOLATION, errorBits);
    }

    /**
     * The guest takes the exception of architectural vector {@code vector} (0..255); the backend names it for
     * traces and results through {@link VmBackend#exceptionName}.
     */
    public static long exception(int vector) {
        if (vector < 0 || vector > MAX_VECTOR)
            throw new IllegalArgumentException("exception vector " + vector + " is not 0..255");
        return negative(KIND_EXCEPTION, vector);
    }

    /** The vector of an exception outcome. */
    public static int vector(long walk) {
        return (int) detail(walk);
    }

    public static long fatal() {
        return negative(KIND_FATAL, 0);
    }

    public static boolean isTranslated(long walk) {
        return walk >= 0;
    }

    public static long pfn(long walk) {
        return walk & ((1L << 56) - 1);
    }

    public static int level(long walk) {
        return (int) (walk >>> 56);
    }

    public static int kind(long walk) {
        return walk >= 0 ? 0 : (int) ((walk >>> KIND_SHIFT) & 0x7fff);
    }

    public static long detail(long walk) {
        return walk & DETAIL_MASK;
    }

    private static final String[] NAMES = { "DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", null, "TS",
            "NP", "SS", "GP", "PF", null, "MF", "AC", "MC", "XM" };

    /**
     * The mnemonic (without '#') of a vendor-neutral x86 exception vector (0..19), or {@code EXC<vector>} for any
     * other: the default of {@link VmBackend#exceptionName}.
     */
    public static String architecturalName(int vector) {
        return vector >= 0 && vector < NAMES.length && NAMES[vector] != null ? NAMES[vector] : "EXC" + vector;
    }

    private static long negative(int kind, long detail) {
        return Long.MIN_VALUE | ((long) kind << KIND_SHIFT) | (detail & DETAIL_MASK);
    }
}
