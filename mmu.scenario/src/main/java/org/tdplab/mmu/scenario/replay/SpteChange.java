package org.tdplab.mmu.scenario.replay;

import java.util.Locale;

/**
 * One {@code kvm_tdp_mmu_spte_changed}. Replays compare changes by {@link #shape}: the GFN, the level and what each
 * SPTE is (absent, frozen, MMIO, a table, or a leaf and its permissions), not the pfns, which depend on where
 * the host allocated, nor the A/D bits, which the hardware sets between the traced changes. {@code --exact}
 * compares the records themselves.
 */
public record SpteChange(long gfn, int level, long oldSpte, long newSpte) {
    private static final long NONPRESENT = 1L << 63, FROZEN = NONPRESENT | 0x5a0L;
    private static final long MMU_PRESENT = 1L << 11, LARGE = 1L << 7;
    /** Kinds of SPTE; a leaf adds its RWX bits (0–7) to {@code LEAF}. */
    private static final int NONE = -1, FROZEN_KIND = -2, MMIO = -3, TABLE = -4, LEAF = 0;

    /** What a change did, without pfns and A/D bits; compared as a value, printed as text. */
    record Shape(long gfn, int level, int from, int to) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "gfn %x level %d: %s -> %s", gfn, level, name(from), name(to));
        }
    }

    Shape shape() {
        return new Shape(gfn, level, kind(oldSpte, level), kind(newSpte, level));
    }

    /** Whether old and new are the same thing (a leaf whose A/D bits changed, say). */
    boolean keepsShape() {
        return kind(oldSpte, level) == kind(newSpte, level);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "gfn %x level %d: %x -> %x", gfn, level, oldSpte, newSpte);
    }

    /** What an SPTE is, in the kernel's EPT layout: a small number that {@link #name} names. */
    public static int kind(long spte, int level) {
        if (spte == FROZEN)
            return FROZEN_KIND;
        if ((spte & MMU_PRESENT) == 0)
            return (spte & ~NONPRESENT) == 0 ? NONE : MMIO;
        if (level > 1 && (spte & LARGE) == 0)
            return TABLE;
        return LEAF + (int) (spte & 7);
    }

    /** {@code none}, {@code frozen}, {@code mmio}, {@code table} or {@code leaf rwx}. */
    public static String name(int kind) {
        return switch (kind) {
        case NONE -> "none";
        case FROZEN_KIND -> "frozen";
        case MMIO -> "mmio";
        case TABLE -> "table";
        default -> "leaf " + ((kind & 1) != 0 ? "r" : "-") + ((kind & 2) != 0 ? "w" : "-") + ((kind & 4) != 0 ? "x"
                : "-");
        };
    }
}
