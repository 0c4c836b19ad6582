package org.tdplab.mmu.tdp.spte;

/**
 * Every SPTE bit the model knows about, for the x86 EPT layout (the kernel's {@code spte.h} / {@code spte.c}).
 * An SPTE is a plain {@code long}; nothing here allocates except {@link #describe} and {@link #hex}. One file past
 * 400 lines because it is one bit layout: its masks and the makers that combine them belong together, as in the kernel.
 *
 * <p>Present SPTEs (leaf and non-leaf) carry the EPT present mask, which is R plus bit 63 (suppress-#VE). Keeping
 * bit 63 set on present entries is what keeps an access-tracked leaf (RWX all clear) apart from an MMIO SPTE of a
 * VM whose MMIO value is 0.
 */
public final class Spte {
    private Spte() {
    }

    // ---- levels -------------------------------------------------------------------------------------------

    public static final int PG_LEVEL_4K = 1;
    public static final int PG_LEVEL_2M = 2;
    public static final int PG_LEVEL_1G = 3;
    public static final int PG_LEVEL_512G = 4;
    public static final int PT64_ROOT_4LEVEL = 4;
    public static final int PT64_ROOT_MAX_LEVEL = 5;
    /** Largest level a leaf may have ({@code KVM_MAX_HUGEPAGE_LEVEL}). */
    public static final int MAX_HUGEPAGE_LEVEL = PG_LEVEL_1G;

    public static final int ENT_PER_PAGE = 512;
    public static final int LEVEL_BITS = 9;
    public static final int PAGE_SHIFT = 12;

    /** GFNs one entry at {@code level} covers ({@code KVM_PAGES_PER_HPAGE}). */
    public static long pagesPerHpage(int level) {
        return 1L << (LEVEL_BITS * (level - 1));
    }

    /** Address bits one entry at {@code level} covers ({@code KVM_HPAGE_SHIFT}). */
    public static int levelShift(int level) {
        return PAGE_SHIFT + LEVEL_BITS * (level - 1);
    }

    /** Index of the entry for {@code gfnWithBits} in a table at {@code level} ({@code SPTE_INDEX}). */
    public static int indexAt(long gfnWithBits, int level) {
        return (int) (gfnWithBits >>> (LEVEL_BITS * (level - 1))) & (ENT_PER_PAGE - 1);
    }

    /** First GFN of the level-{@code level} entry containing {@code gfn} ({@code gfn_round_for_level}). */
    public static long gfnRoundForLevel(long gfn, int level) {
        return gfn & -pagesPerHpage(level);
    }

    private static final String[] LEVEL_NAMES = {"?", "4K", "2M", "1G", "512G", "256T"};

    public static String levelName(int level) {
        return level >= 1 && level <= PT64_ROOT_MAX_LEVEL ? LEVEL_NAMES[level] : "L" + level;
    }

    // ---- bits ---------------------------------------------------------------------------------------------

    public static final long R = 1L;
    public static final long W = 1L << 1;
    public static final long X = 1L << 2;
    public static final long RWX_MASK = R | W | X;
    public static final int MEMTYPE_SHIFT = 3;
    public static final long MEMTYPE_MASK = 7L << MEMTYPE_SHIFT;
    public static final long MEMTYPE_WB = 6L << MEMTYPE_SHIFT;
    /** Bit 7: "page size", a leaf above 4K. */
    public static final long LARGE = 1L << 7;
    public static final long ACCESSED = 1L << 8;
    public static final long DIRTY = 1L << 9;
    /** Software bit: the entry is present as far as KVM is concerned. MMIO and FROZEN SPTEs never have it. */
    public static final long MMU_PRESENT = 1L << 11;

    public static final long PFN_MASK = 0x000f_ffff_ffff_f000L;

    public static final int AD_SHIFT = 52;
    public static final long AD_MASK = 3L << AD_SHIFT;
    public static final long AD_ENABLED = 0L;
    public static final long AD_DISABLED = 1L << AD_SHIFT;

    /** Access tracking stashes R and X here while RWX is cleared. W is not saved: mmu-writable restores it. */
    public static final long ACC_TRACK_SAVED_MASK = R | X;
    public static final int ACC_TRACK_SAVED_SHIFT = 54;
    public static final long ACC_TRACK_SAVED_BITS = ACC_TRACK_SAVED_MASK << ACC_TRACK_SAVED_SHIFT;
    /** What access tracking clears. */
    public static final long ACC_TRACK_MASK = RWX_MASK;

    public static final long HOST_WRITABLE = 1L << 57;
    public static final long MMU_WRITABLE = 1L << 58;

    /** The empty entry: suppress-#VE set, everything else clear. New tables are filled with it. */
    public static final long SHADOW_NONPRESENT_VALUE = 1L << 63;
    /** Present mask on EPT: R plus suppress-#VE. */
    public static final long PRESENT_MASK = R | SHADOW_NONPRESENT_VALUE;
    /** "Another thread owns this entry for a multi-step update." No RWX, no PFN, no MMU-present. */
    public static final long FROZEN_SPTE = SHADOW_NONPRESENT_VALUE | 0x5a0L;

    // ---- MMIO ---------------------------------------------------------------------------------------------

    /** Bits an MMIO SPTE is recognised by: RWX and suppress-#VE. */
    public static final long MMIO_MASK = RWX_MASK | SHADOW_NONPRESENT_VALUE;
    /** Default per-VM MMIO value: W+X without R, an EPT misconfiguration. */
    public static final long DEFAULT_MMIO_VALUE = W | X;

    public static final int MMIO_GEN_LOW_START = 3;
    public static final int MMIO_GEN_LOW_BITS = 8;
    public static final int MMIO_GEN_HIGH_START = 52;
    public static final int MMIO_GEN_HIGH_BITS = 11;
    public static final int MMIO_GEN_BITS = MMIO_GEN_LOW_BITS + MMIO_GEN_HIGH_BITS;
    public static final long MMIO_GEN_MASK = (1L << MMIO_GEN_BITS) - 1;
    private static final long MMIO_GEN_LOW_MASK = (1L << MMIO_GEN_LOW_BITS) - 1;
    private static final long MMIO_GEN_HIGH_MASK = (1L << MMIO_GEN_HIGH_BITS) - 1;

    /**
     * An MMIO SPTE for {@code gfn}: the VM's MMIO value, the GFN in the PFN field and the low 19 bits of the
     * memslot generation split over bits 3–10 and 52–62. It is invalidated by generation, not by zapping.
     */
    public static long makeMmio(long gfn, long generation, long mmioValue) {
        long gen = generation & MMIO_GEN_MASK;
        return mmioValue
                | ((gfn << PAGE_SHIFT) & PFN_MASK)
                | ((gen & MMIO_GEN_LOW_MASK) << MMIO_GEN_LOW_START)
                | ((gen >>> MMIO_GEN_LOW_BITS) << MMIO_GEN_HIGH_START);
    }

    public static boolean isMmio(long spte, long mmioValue) {
        return (spte & MMIO_MASK) == mmioValue;
    }

    public static long mmioGfn(long spte) {
        return (spte & PFN_MASK) >>> PAGE_SHIFT;
    }

    public static long mmioGeneration(long spte) {
        return ((spte >>> MMIO_GEN_LOW_START) & MMIO_GEN_LOW_MASK)
                | (((spte >>> MMIO_GEN_HIGH_START) & MMIO_GEN_HIGH_MASK) << MMIO_GEN_LOW_BITS);
    }

    // ---- predicates ---------------------------------------------------------------------------------------

    public static boolean isShadowPresent(long spte) {
        return (spte & MMU_PRESENT) != 0;
    }

    public static boolean isLargePte(long spte) {
        return (spte & LARGE) != 0;
    }

    /** A leaf: any entry at 4K, or a large entry above. Only meaningful for present SPTEs. */
    public static boolean isLast(long spte, int level) {
        return level == PG_LEVEL_4K || isLargePte(spte);
    }

    public static boolean isFrozen(long spte) {
        return spte == FROZEN_SPTE;
    }

    /** Host PFN of a leaf, or the child table's PFN of a non-leaf. */
    public static long pfn(long spte) {
        return (spte & PFN_MASK) >>> PAGE_SHIFT;
    }

    public static boolean isWritable(long spte) {
        return (spte & W) != 0;
    }

    public static boolean isHostWritable(long spte) {
        return (spte & HOST_WRITABLE) != 0;
    }

    public static boolean isMmuWritable(long spte) {
        return (spte & MMU_WRITABLE) != 0;
    }

    public static boolean adDisabled(long spte) {
        return (spte & AD_MASK) == AD_DISABLED;
    }

    public static boolean adEnabled(long spte) {
        return !adDisabled(spte);
    }

    /** A/D-disabled SPTE aged by clearing RWX (the saved R/X bits say how to restore it). */
    public static boolean isAccessTracked(long spte) {
        return adDisabled(spte) && (spte & ACC_TRACK_MASK) == 0;
    }

    public static boolean isAccessed(long spte) {
        return adEnabled(spte) ? (spte & ACCESSED) != 0 : !isAccessTracked(spte);
    }

    /** With A/D disabled, dirty logging works by write protection, so W stands in for D. */
    public static boolean isDirty(long spte) {
        return adEnabled(spte) ? (spte & DIRTY) != 0 : (spte & W) != 0;
    }

    /**
     * The (host-writable, mmu-writable, W) triple of a present leaf is one of (1,1,1), (1,1,0) (write-protected
     * for dirty logging), (1,0,0) (write-tracked) or (0,0,0) (read-only host mapping).
     */
    public static boolean writableTripleValid(long spte) {
        if (isMmuWritable(spte) && !isHostWritable(spte)) {
            return false;
        }
        return !isWritable(spte) || isMmuWritable(spte);
    }

    /**
     * A present leaf whose bits can change outside mmu_lock must be replaced with xchg so that change is not
     * lost: fast page fault may set W, access tracking may touch RWX, or the CPU may set D.
     */
    public static boolean needsAtomicUpdate(long spte, int level) {
        if (!isShadowPresent(spte) || !isLast(spte, level)) {
            return false;
        }
        if (!isWritable(spte) && isMmuWritable(spte)) {
            return true;
        }
        if (adDisabled(spte)) {
            return true;
        }
        // A may also be set by the CPU, but a lost A bit only makes aging less precise.
        return isWritable(spte) && (spte & DIRTY) == 0;
    }

    /** Only taking away mmu-writable needs a flush: a stale writable TLB entry would bypass write protection. */
    public static boolean leafChangeNeedsTlbFlush(long oldSpte, long newSpte) {
        return isMmuWritable(oldSpte) && !isMmuWritable(newSpte);
    }

    // ---- constructors -------------------------------------------------------------------------------------

    /**
     * A present leaf (the kernel's {@code make_spte}, TDP case).
     *
     * <p>{@code writable} means "install writable". The TDP fault path passes true for read and write faults
     * alike when the host mapping is writable and the GFN is not write-tracked, because make_spte sets W on any
     * host-writable fault; W then comes with mmu-writable and (A/D enabled) D. With {@code writable} false and
     * {@code hostWritable} true the leaf is write-protected but mmu-writable, (1,1,0), so a fast page fault may
     * make it writable; apply {@link #clearMmuWritable} for the write-tracked form (1,0,0). Without
     * {@code hostWritable} the leaf is (0,0,0) whatever {@code writable} says.
     *
     * <p>{@code accessed} false is a prefetch: A is left clear, or with A/D disabled the leaf is created in the
     * access-tracked form.
     */
    public static long makeLeaf(long pfn, int level, boolean writable, boolean hostWritable, boolean exec,
            boolean accessed, boolean adDisabled) {
        long spte = MMU_PRESENT | PRESENT_MASK | MEMTYPE_WB | ((pfn << PAGE_SHIFT) & PFN_MASK);
        if (adDisabled) {
            spte |= AD_DISABLED;
        } else {
            spte |= ACCESSED;
        }
        if (exec) {
            spte |= X;
        }
        if (level > PG_LEVEL_4K) {
            spte |= LARGE;
        }
        if (hostWritable) {
            spte |= HOST_WRITABLE | MMU_WRITABLE;
            if (writable) {
                spte |= W;
                if (!adDisabled) {
                    spte |= DIRTY;
                }
            }
        }
        if (!accessed) {
            spte = markForAccessTrack(spte);
        }
        return spte;
    }

    /** A present non-leaf pointing at a child table: full RWX so the leaf alone decides the permissions. */
    public static long makeNonLeaf(long childPfn, boolean adDisabled) {
        long spte = MMU_PRESENT | PRESENT_MASK | W | X | ((childPfn << PAGE_SHIFT) & PFN_MASK);
        return spte | (adDisabled ? AD_DISABLED : ACCESSED);
    }

    /**
     * Entry {@code index} of the table that replaces a huge leaf at {@code hugeLevel} when it is split
     * ({@code make_small_spte}): same bits, PFN advanced to that child, LARGE kept only if the child is huge.
     */
    public static long makeSmallFromHuge(long hugeSpte, int hugeLevel, int index) {
        int childLevel = hugeLevel - 1;
        long child = hugeSpte | (((long) index * pagesPerHpage(childLevel)) << PAGE_SHIFT);
        if (childLevel == PG_LEVEL_4K) {
            child &= ~LARGE;
        }
        return child;
    }

    /**
     * {@code make_spte_executable}: X back on a leaf (the NX huge page mitigation took it off a huge leaf); for an
     * access-tracked leaf the saved X bit is set instead, so restoring it gives X.
     */
    public static long makeExecutable(long spte) {
        if (isAccessTracked(spte)) {
            return spte | (X << ACC_TRACK_SAVED_SHIFT);
        }
        return spte | X;
    }

    /** {@code make_spte_nonexecutable}: X off (the saved X bit of an access-tracked leaf too). */
    public static long makeNonExecutable(long spte) {
        if (isAccessTracked(spte)) {
            return spte & ~(X << ACC_TRACK_SAVED_SHIFT);
        }
        return spte & ~X;
    }

    /** A huge leaf at {@code level} made from one of its small leaves ({@code make_huge_spte}). */
    public static long makeHugeFromSmall(long smallSpte, int level) {
        long lowAddressBits = PFN_MASK & ((1L << levelShift(level)) - 1);
        return (smallSpte | LARGE) & ~lowAddressBits;
    }

    /**
     * Ages a leaf ({@code mark_spte_for_access_track}): clears A when A/D is enabled, else stashes R/X in the
     * saved bits and clears RWX so the next access faults. Already-tracked SPTEs are returned unchanged.
     */
    public static long markForAccessTrack(long spte) {
        if (adEnabled(spte)) {
            return spte & ~ACCESSED;
        }
        if (isAccessTracked(spte)) {
            return spte;
        }
        spte |= (spte & ACC_TRACK_SAVED_MASK) << ACC_TRACK_SAVED_SHIFT;
        return spte & ~ACC_TRACK_MASK;
    }

    /** Undoes {@link #markForAccessTrack} on an access-tracked SPTE: R/X back, saved bits cleared, W stays off. */
    public static long restoreAccessTrack(long spte) {
        long saved = (spte >>> ACC_TRACK_SAVED_SHIFT) & ACC_TRACK_SAVED_MASK;
        return (spte & ~ACC_TRACK_MASK & ~ACC_TRACK_SAVED_BITS) | saved;
    }

    /** Dirty-log write protection: W off, mmu-writable kept so a fast page fault can undo it. */
    public static long clearWritable(long spte) {
        return spte & ~W;
    }

    /** Write tracking: W and mmu-writable off, only a fault under mmu_lock may make it writable again. */
    public static long clearMmuWritable(long spte) {
        return spte & ~(W | MMU_WRITABLE);
    }

    /** Clears the A bit (A/D-enabled SPTEs; aging in general goes through {@link #markForAccessTrack}). */
    public static long clearAccessed(long spte) {
        return spte & ~ACCESSED;
    }

    /** Clears the D bit (A/D-enabled SPTEs; A/D-disabled ones are cleaned with {@link #clearWritable}). */
    public static long clearDirty(long spte) {
        return spte & ~DIRTY;
    }

    public static long setAccessed(long spte) {
        return spte | ACCESSED;
    }

    /** Fast page fault fix for a write to a write-protected leaf: W (and D) back when still mmu-writable. */
    public static long makeWritable(long spte) {
        if (!isMmuWritable(spte)) {
            return spte;
        }
        return spte | W | (adEnabled(spte) ? DIRTY : 0);
    }
}
