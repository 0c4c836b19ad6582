package org.tdplab.mmu.tdp.mem;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/** Page levels as the kernel numbers them ({@code PG_LEVEL_4K=1 .. PG_LEVEL_1G=3}) and their sizes. */
public final class Levels {
    public static final int L4K = 1;
    public static final int L2M = 2;
    public static final int L1G = 3;
    /** {@code KVM_MAX_HUGEPAGE_LEVEL}. */
    public static final int MAX_HUGE = L1G;
    public static final int PAGE_SHIFT = 12;
    public static final long PAGE_SIZE = 1L << PAGE_SHIFT;

    private Levels() {
    }

    /** GFN shift of one entry at {@code level}: 0, 9, 18 (also the folio order). */
    public static int shift(int level) {
        return 9 * (level - 1);
    }

    /** {@code KVM_PAGES_PER_HPAGE}: 4K pages covered by one entry at {@code level}. */
    public static long pages(int level) {
        return 1L << shift(level);
    }

    /** {@code gfn_round_for_level}. */
    public static long alignDown(long gfn, int level) {
        return gfn & -pages(level);
    }

    public static boolean aligned(long gfn, int level) {
        return (gfn & (pages(level) - 1)) == 0;
    }

    /** The largest level (≤ 1G) to which {@code gfn} is aligned. */
    public static int alignment(long gfn) {
        return aligned(gfn, L1G) ? L1G : aligned(gfn, L2M) ? L2M : L4K;
    }

    public static String name(int level) {
        switch (level) {
        case L4K: return "4K";
        case L2M: return "2M";
        case L1G: return "1G";
        default: return "level" + level;
        }
    }

    /** Checks a level argument that came from a user (e.g. {@code backing=}). */
    public static int check(int level) {
        if (level < L4K || level > L1G)
            throw new MmuException(Errno.EINVAL, "level=%d: must be 1 (4K), 2 (2M) or 3 (1G)", level);
        return level;
    }
}
