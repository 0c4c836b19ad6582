package org.tdplab.mmu.tdp.slot;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

import org.tdplab.mmu.tdp.mem.Levels;

/**
 * A slot's {@code lpage_info}: for 2M and 1G, one {@code disallow_lpage} word per huge page the slot overlaps. The
 * low bits count reasons a huge page is not allowed (slot edges, alignment, tracking); bit 31 is
 * {@code KVM_LPAGE_MIXED_FLAG} (attributes differ inside the huge page) and bit 30
 * {@code KVM_LPAGE_GUEST_INHIBIT_FLAG} (the guest accepted memory inside it at a smaller size: set once, never
 * cleared). Readers are lock-free; updates are atomic.
 */
final class LpageInfo {
    static final int MIXED = 1 << 31, GUEST_INHIBIT = 1 << 30, FLAGS = MIXED | GUEST_INHIBIT;
    private static final VarHandle INT = MethodHandles.arrayElementVarHandle(int[].class);

    private final long baseGfn;
    private final int[][] info = new int[Levels.MAX_HUGE - 1][];

    /**
     * {@code kvm_alloc_memslot_metadata}: the head and tail huge pages that stick out of the slot are disallowed,
     * and every huge page of a level is disallowed when the GFN and the host address disagree in alignment at that
     * level. The model maps every slot's host memory at a 1G-aligned address, so that happens when the base GFN is
     * not aligned to the level.
     */
    LpageInfo(long baseGfn, long npages) {
        this.baseGfn = baseGfn;
        for (int level = Levels.L2M; level <= Levels.MAX_HUGE; level++) {
            int shift = Levels.shift(level);
            long lpages = ((baseGfn + npages - 1) >>> shift) - (baseGfn >>> shift) + 1;
            int[] a = new int[(int) lpages];
            if (!Levels.aligned(baseGfn, level)) // the head sticks out, and so does every page from the host's view
                Arrays.fill(a, 1);
            else if (!Levels.aligned(baseGfn + npages, level))
                a[a.length - 1] = 1;
            info[level - 2] = a;
        }
    }

    /** The raw {@code disallow_lpage} word for the huge page of {@code level} containing {@code gfn}. */
    int get(long gfn, int level) {
        return (int) INT.getAcquire(info[level - 2], index(gfn, level));
    }

    boolean isMixed(long gfn, int level) {
        return (get(gfn, level) & MIXED) != 0;
    }

    void setMixed(long gfn, int level, boolean mixed) {
        if (mixed)
            INT.getAndBitwiseOr(info[level - 2], index(gfn, level), MIXED);
        else
            INT.getAndBitwiseAnd(info[level - 2], index(gfn, level), ~MIXED);
    }

    /** {@code hugepage_set_guest_inhibit}: one way, there is no clear. */
    void setGuestInhibit(long gfn, int level) {
        INT.getAndBitwiseOr(info[level - 2], index(gfn, level), GUEST_INHIBIT);
    }

    boolean isGuestInhibited(long gfn, int level) {
        return (get(gfn, level) & GUEST_INHIBIT) != 0;
    }

    /** {@code update_gfn_disallow_lpage_count} for every huge level. */
    void addDisallow(long gfn, int delta) {
        for (int level = Levels.L2M; level <= Levels.MAX_HUGE; level++) {
            int old = (int) INT.getAndAdd(info[level - 2], index(gfn, level), delta);
            if (((old & ~FLAGS) + delta) < 0)
                throw new IllegalStateException("disallow_lpage underflow at gfn 0x" + Long.toHexString(gfn));
        }
    }

    /** Number of lpage_info entries at {@code level}. */
    int count(int level) {
        return info[level - 2].length;
    }

    private int index(long gfn, int level) {
        int shift = Levels.shift(level);
        return (int) ((gfn >>> shift) - (baseGfn >>> shift));
    }
}
