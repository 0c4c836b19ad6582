package org.tdplab.mmu.scenario.replay;

import java.util.Locale;

/**
 * One {@code kvm_tdp_mmu_spte_changed}. Replays compare changes by {@link #shape}: the GFN, the level and what each
 * SPTE is (absent, frozen, MMIO, a table, or a leaf and its permissions), not the pfns, which depend on where
 * the host allocated, nor the A/D bits, which the hardware sets between the traced changes.
 */
record SpteChange(long gfn, int level, long oldSpte, long newSpte) {
    private static final long NONPRESENT = 1L << 63, FROZEN = NONPRESENT | 0x5a0L;
    private static final long MMU_PRESENT = 1L << 11, LARGE = 1L << 7;

    String shape() {
        return String.format(Locale.ROOT, "gfn %x level %d: %s -> %s", gfn, level, kind(oldSpte, level),
                kind(newSpte, level));
    }

    String exact() {
        return String.format(Locale.ROOT, "gfn %x level %d: %x -> %x", gfn, level, oldSpte, newSpte);
    }

    /** Whether old and new are the same thing (a leaf whose A/D bits changed, say). */
    boolean keepsShape() {
        return kind(oldSpte, level).equals(kind(newSpte, level));
    }

    /** What an SPTE is, in the kernel's EPT layout. */
    static String kind(long spte, int level) {
        if (spte == FROZEN)
            return "frozen";
        if ((spte & MMU_PRESENT) == 0)
            return (spte & ~NONPRESENT) == 0 ? "none" : "mmio";
        if (level > 1 && (spte & LARGE) == 0)
            return "table";
        return "leaf " + ((spte & 1) != 0 ? "r" : "-") + ((spte & 2) != 0 ? "w" : "-") + ((spte & 4) != 0 ? "x" : "-");
    }
}
