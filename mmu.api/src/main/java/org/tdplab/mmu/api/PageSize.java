package org.tdplab.mmu.api;

/** The x86 mapping sizes, with the kernel's level numbers ({@code PG_LEVEL_4K=1 …}). */
public enum PageSize {
    SIZE_4K(1), SIZE_2M(2), SIZE_1G(3);

    private final int level;

    PageSize(int level) {
        this.level = level;
    }

    public int level() {
        return level;
    }

    public long bytes() {
        return 1L << (12 + 9 * (level - 1));
    }

    /** {@code 4K}, {@code 2M} or {@code 1G}. */
    public String label() {
        return switch (this) {
        case SIZE_4K -> "4K";
        case SIZE_2M -> "2M";
        case SIZE_1G -> "1G";
        };
    }

    public static PageSize ofLevel(int level) {
        return switch (level) {
        case 1 -> SIZE_4K;
        case 2 -> SIZE_2M;
        case 3 -> SIZE_1G;
        default -> throw new MmuException(Errno.EINVAL, "level %d is not a mapping level (1..3)", level);
        };
    }

    public static PageSize parse(String label) {
        for (PageSize s : values())
            if (s.label().equalsIgnoreCase(label))
                return s;
        throw new MmuException(Errno.EINVAL, "'%s' is not a page size (4K, 2M or 1G)", label);
    }
}
