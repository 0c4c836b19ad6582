package org.tdplab.backend.tdx.module;

/**
 * The states of a Secure-EPT entry (hardware spec A.4, from the 1.5 module's {@code sept_state_lookup}), with the
 * properties the module's checks use, and which states each SEAMCALL leaf accepts. States are small ints so an
 * entry packs into a {@code long}.
 */
public final class SeptState {
    private SeptState() {
    }

    public static final int FREE = 0;
    /** Import only (migration): a hole left by REMOVE during import. */
    public static final int REMOVED = 1;
    public static final int NL_MAPPED = 2;
    public static final int NL_BLOCKED = 3;
    public static final int MAPPED = 4;
    public static final int BLOCKED = 5;
    /** Migration: write-blocked, still guest-readable. */
    public static final int BLOCKEDW = 6;
    /* 7, 8, 9: EXPORTED_* (migration; the spec gives no per-state names [U]) */
    public static final int EXPORTED_BLOCKEDW = 7;
    public static final int EXPORTED_DIRTY = 8;
    public static final int EXPORTED_DIRTY_BLOCKEDW = 9;
    public static final int PENDING = 10;
    public static final int PENDING_BLOCKED = 11;
    public static final int PENDING_BLOCKEDW = 12;
    /* 13, 14, 15: PENDING_EXPORTED_* (migration [U] names) */
    public static final int PENDING_EXPORTED_BLOCKEDW = 13;
    public static final int PENDING_EXPORTED_DIRTY = 14;
    public static final int PENDING_EXPORTED_DIRTY_BLOCKEDW = 15;

    public static final int COUNT = 16;

    private static final String[] NAMES = { "FREE", "REMOVED", "NL_MAPPED", "NL_BLOCKED", "MAPPED", "BLOCKED",
            "BLOCKEDW", "EXPORTED_BLOCKEDW", "EXPORTED_DIRTY", "EXPORTED_DIRTY_BLOCKEDW", "PENDING", "PENDING_BLOCKED",
            "PENDING_BLOCKEDW", "PENDING_EXPORTED_BLOCKEDW", "PENDING_EXPORTED_DIRTY",
            "PENDING_EXPORTED_DIRTY_BLOCKEDW" };
    /** The public value SEPT.RD and the extended error output report (RDX bits 15:8). */
    private static final int[] PUBLIC = { 0, 5, 0x84, 0x81, 4, 1, 8, 9, 11, 12, 2, 3, 16, 17, 19, 20 };

    private static int bits(int... states) {
        int m = 0;
        for (int s : states)
            m |= 1 << s;
        return m;
    }

    private static final int LEAF = bits(MAPPED, BLOCKED, BLOCKEDW, EXPORTED_BLOCKEDW, EXPORTED_DIRTY,
            EXPORTED_DIRTY_BLOCKEDW, PENDING, PENDING_BLOCKED, PENDING_BLOCKEDW, PENDING_EXPORTED_BLOCKEDW,
            PENDING_EXPORTED_DIRTY, PENDING_EXPORTED_DIRTY_BLOCKEDW);
    private static final int NON_LEAF = bits(NL_MAPPED, NL_BLOCKED);
    /** Leaves the guest can read through (MAPPED, BLOCKEDW, EXPORTED_*): ACCEPT answers ALREADY_ACCEPTED. */
    private static final int GUEST_ACCESSIBLE_LEAF = bits(MAPPED, BLOCKEDW, EXPORTED_BLOCKEDW, EXPORTED_DIRTY,
            EXPORTED_DIRTY_BLOCKEDW);
    /** States whose removal or change needs BLOCK + TRACK while the TD runs. */
    private static final int TLB_TRACKING = bits(NL_MAPPED, NL_BLOCKED, MAPPED, BLOCKED, BLOCKEDW, PENDING,
            PENDING_BLOCKED, PENDING_BLOCKEDW);
    private static final int ANY_BLOCKED = bits(NL_BLOCKED, BLOCKED, PENDING_BLOCKED);

    // ---- allowed entry states per host leaf (1.5 matrix; anything else is TDX_EPT_ENTRY_STATE_INCORRECT) ---------
    public static final int ALLOW_PAGE_ADD = bits(FREE);
    public static final int ALLOW_SEPT_ADD = bits(FREE);
    public static final int ALLOW_PAGE_AUG = bits(FREE, REMOVED);
    public static final int ALLOW_RANGE_BLOCK = bits(NL_MAPPED, MAPPED, BLOCKEDW, PENDING, PENDING_BLOCKEDW);
    public static final int ALLOW_RANGE_UNBLOCK = bits(NL_BLOCKED, BLOCKED, PENDING_BLOCKED);
    public static final int ALLOW_PAGE_REMOVE = bits(MAPPED, BLOCKED, BLOCKEDW, PENDING, PENDING_BLOCKED,
            PENDING_BLOCKEDW);
    public static final int ALLOW_SEPT_REMOVE = bits(NL_MAPPED, NL_BLOCKED);
    public static final int ALLOW_PAGE_PROMOTE = bits(NL_MAPPED, NL_BLOCKED);
    public static final int ALLOW_PAGE_DEMOTE = bits(MAPPED, BLOCKED, PENDING, PENDING_BLOCKED);
    public static final int ALLOW_ACCEPT = bits(PENDING, PENDING_EXPORTED_DIRTY);

    public static boolean allowed(int mask, int state) {
        return (mask & (1 << state)) != 0;
    }

    public static String name(int state) {
        return state >= 0 && state < COUNT ? NAMES[state] : "STATE" + state;
    }

    public static int publicValue(int state) {
        return PUBLIC[state];
    }

    public static boolean isLeaf(int state) {
        return (LEAF & (1 << state)) != 0;
    }

    public static boolean isNonLeaf(int state) {
        return (NON_LEAF & (1 << state)) != 0;
    }

    /** Present in the tree: anything but FREE and REMOVED. */
    public static boolean isPresent(int state) {
        return state != FREE && state != REMOVED;
    }

    public static boolean isGuestAccessibleLeaf(int state) {
        return (GUEST_ACCESSIBLE_LEAF & (1 << state)) != 0;
    }

    public static boolean tlbTrackingRequired(int state) {
        return (TLB_TRACKING & (1 << state)) != 0;
    }

    public static boolean anyBlocked(int state) {
        return (ANY_BLOCKED & (1 << state)) != 0;
    }

    /** RANGE.BLOCK's transition (the migration W-blocked states become fully blocked [U]). */
    public static int blocked(int state) {
        return switch (state) {
        case NL_MAPPED -> NL_BLOCKED;
        case MAPPED, BLOCKEDW -> BLOCKED;
        case PENDING, PENDING_BLOCKEDW -> PENDING_BLOCKED;
        default -> state;
        };
    }

    /** The unblocked form: RANGE.UNBLOCK, and what PROMOTE / DEMOTE / RELOCATE leave behind. */
    public static int unblocked(int state) {
        return switch (state) {
        case NL_BLOCKED -> NL_MAPPED;
        case BLOCKED, BLOCKEDW -> MAPPED;
        case PENDING_BLOCKED, PENDING_BLOCKEDW -> PENDING;
        default -> state;
        };
    }
}
