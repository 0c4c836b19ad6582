package org.tdplab.mmu.api.backend;

import org.tdplab.mmu.api.RootKind;

/**
 * One SPTE change of a table a backend owns a copy of, decoded: the core never hands a backend the bits of its
 * own SPTE layout. The kernel's external-table hooks get {@code (gfn, level, old_spte, new_spte)}; this is that
 * tuple with both values already read.
 *
 * @param root the root the entry lives under
 * @param gfn the first GFN the entry covers (natural, without direct bits)
 * @param level the entry's level (1 = 4K)
 * @param before the entry before the change
 * @param after the entry after the change
 */
public record SpteChange(RootKind root, long gfn, int level, Entry before, Entry after) {
    /**
     * One SPTE value, decoded.
     *
     * @param present MMU-present ({@code is_shadow_present_pte})
     * @param leaf a leaf at its level ({@code is_last_spte}); false for a table entry and for a non-present one
     * @param pfn the frame a leaf maps (the first of a huge leaf), or the frame of the table an entry points to;
     *        -1 when not present
     * @param readable the entry allows reads
     * @param writable the entry allows writes
     * @param executable the entry allows instruction fetches
     */
    public record Entry(boolean present, boolean leaf, long pfn, boolean readable, boolean writable,
            boolean executable) {
        /** A non-present entry. */
        public static final Entry ABSENT = new Entry(false, false, -1, false, false, false);

        /** A present table entry pointing at {@code pfn}. */
        public static Entry table(long pfn) {
            return new Entry(true, false, pfn, true, true, true);
        }

        /** A present leaf. */
        public static Entry leaf(long pfn, boolean readable, boolean writable, boolean executable) {
            return new Entry(true, true, pfn, readable, writable, executable);
        }
    }

    /** A present leaf or table appears where there was none (link or map). */
    public boolean isInstall() {
        return !before.present && after.present;
    }

    /** A present leaf goes away. */
    public boolean isLeafRemoval() {
        return before.leaf && !after.present;
    }

    /** A present huge leaf is replaced by a table of smaller leaves with the same translation. */
    public boolean isSplit() {
        return before.leaf && level > 1 && after.present && !after.leaf;
    }

    /** The number of 4K pages the entry covers. */
    public long pages() {
        return 1L << (9 * (level - 1));
    }
}
