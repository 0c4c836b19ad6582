package org.tdplab.backend.tdx.kvm;

/**
 * The few SPTE fields tdx.c reads from the mirror SPTEs the core hands over ({@code is_shadow_present_pte},
 * {@code is_last_spte}, {@code spte_to_pfn} of KVM's {@code spte.h}), in the x86 EPT format the core uses: bit 11
 * the MMU-present bit, bit 7 the large-page bit, bits 51:12 the pfn.
 */
final class SpteBits {
    private static final long MMU_PRESENT = 1L << 11;
    private static final long LARGE = 1L << 7;
    private static final long PFN_MASK = 0x000F_FFFF_FFFF_F000L;

    private SpteBits() {
    }

    static boolean present(long spte) {
        return (spte & MMU_PRESENT) != 0;
    }

    /** A leaf: any entry at 4K (level 1), a large entry above. */
    static boolean isLast(long spte, int level) {
        return level == 1 || (spte & LARGE) != 0;
    }

    static long pfn(long spte) {
        return (spte & PFN_MASK) >>> 12;
    }
}
