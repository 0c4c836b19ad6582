package org.tdplab.backend.tdx.module;

/**
 * SEAMCALL / TDCALL completion status (RAX), as the TDX module defines it: bit 63 error, bit 62 non-recoverable,
 * bits 63:32 the status class, bits 31:0 details (usually the id of the operand that failed). Values from the
 * TDX 1.5 module's {@code tdx_error_codes_defs.h} (hardware spec A.3).
 */
public final class TdxStatus {
    private TdxStatus() {
    }

    /** Compare statuses with the details masked off. */
    public static final long CLASS_MASK = 0xFFFF_FFFF_0000_0000L;

    public static final long TDX_SUCCESS = 0L;
    public static final long TDX_INTERRUPTED_RESUMABLE = 0x8000_0003_0000_0000L;
    public static final long TDX_INTERRUPTED_RESTARTABLE = 0x8000_0004_0000_0000L;
    public static final long TDX_OPERAND_INVALID = 0xC000_0100_0000_0000L;
    public static final long TDX_OPERAND_ADDR_RANGE_ERROR = 0xC000_0101_0000_0000L;
    public static final long TDX_OPERAND_BUSY = 0x8000_0200_0000_0000L;
    public static final long TDX_PREVIOUS_TLB_EPOCH_BUSY = 0x8000_0201_0000_0000L;
    public static final long TDX_OPERAND_BUSY_HOST_PRIORITY = 0x8000_0204_0000_0000L;
    public static final long TDX_PAGE_METADATA_INCORRECT = 0xC000_0300_0000_0000L;
    /** Dynamic PAMT: TDH.PHYMEM.PAMT.ADD of a page that is not free. */
    public static final long TDX_PAGE_NOT_FREE = 0xC000_0303_0000_0000L;
    /** Dynamic PAMT: TDH.PHYMEM.PAMT.ADD for a 2M range whose 2M entry is not NDA (a pair is there, or a 2M page). */
    public static final long TDX_HPA_RANGE_NOT_FREE = 0xC000_0304_0000_0000L;
    /** Dynamic PAMT: TDH.PHYMEM.PAMT.REMOVE for a 2M range without a pair. */
    public static final long TDX_NO_PAMT_PAGE_PAIR = 0xC000_0305_0000_0000L;
    /** Dynamic PAMT: TDH.PHYMEM.PAMT.REMOVE while a 4K page of the range is in use; operand = the pair's page. */
    public static final long TDX_PAMT_PAGE_NOT_EMPTY = 0xC000_0306_0000_0000L;
    /** Dynamic PAMT, recoverable: a 4K page handed to the module in a 2M range that has no PAMT pair yet. */
    public static final long TDX_MISSING_PAMT_PAGE_PAIR = 0x8000_0308_0000_0000L;
    public static final long TDX_TD_ASSOCIATED_PAGES_EXIST = 0xC000_0400_0000_0000L;
    public static final long TDX_TD_FATAL = 0xE000_0604_0000_0000L;
    public static final long TDX_TDCS_NOT_ALLOCATED = 0xC000_0606_0000_0000L;
    public static final long TDX_LIFECYCLE_STATE_INCORRECT = 0xC000_0607_0000_0000L;
    public static final long TDX_OP_STATE_INCORRECT = 0xC000_0608_0000_0000L;
    public static final long TDX_NO_VCPUS = 0xC000_0609_0000_0000L;
    public static final long TDX_TD_KEYS_NOT_CONFIGURED = 0x8000_0810_0000_0000L;
    /** TDH.MNG.KEY.FREEID before TDH.PHYMEM.CACHE.WB has completed since the TD was blocked. */
    public static final long TDX_WBCACHE_NOT_COMPLETE = 0x8000_0817_0000_0000L;
    /** TDH.PHYMEM.CACHE.WB with no HKID waiting for it (another CPU did it): informational, KVM takes it as done. */
    public static final long TDX_NO_HKID_READY_TO_WBCACHE = 0x0000_0821_0000_0000L;
    /** TDH.MNG.VPFLUSHDONE while a vCPU is still associated with an LP (not TDH.VP.FLUSHed). */
    public static final long TDX_FLUSHVP_NOT_DONE = 0x8000_0824_0000_0000L;
    public static final long TDX_EPT_WALK_FAILED = 0xC000_0B00_0000_0000L;
    /** TDX 1.0 only. */
    public static final long TDX_EPT_ENTRY_FREE = 0xC000_0B01_0000_0000L;
    /** TDX 1.0: target entry / child page not free (1.5 folds it into {@link #TDX_EPT_ENTRY_STATE_INCORRECT}). */
    public static final long TDX_EPT_ENTRY_NOT_FREE = 0xC000_0B02_0000_0000L;
    public static final long TDX_EPT_ENTRY_NOT_PRESENT = 0xC000_0B03_0000_0000L;
    /** TDX 1.0: REMOVE / DEMOTE on a non-leaf. */
    public static final long TDX_EPT_ENTRY_NOT_LEAF = 0xC000_0B04_0000_0000L;
    /** TDX 1.0 only. */
    public static final long TDX_EPT_ENTRY_LEAF = 0xC000_0B05_0000_0000L;
    public static final long TDX_GPA_RANGE_NOT_BLOCKED = 0xC000_0B06_0000_0000L;
    /** Not an error (bit 63 clear): BLOCK on an entry that is already blocked. */
    public static final long TDX_GPA_RANGE_ALREADY_BLOCKED = 0x0000_0B07_0000_0000L;
    public static final long TDX_TLB_TRACKING_NOT_DONE = 0xC000_0B08_0000_0000L;
    public static final long TDX_EPT_INVALID_PROMOTE_CONDITIONS = 0xC000_0B09_0000_0000L;
    /** Informational (bit 63 clear): guest ACCEPT of a page that is already accepted; details = level. */
    public static final long TDX_PAGE_ALREADY_ACCEPTED = 0x0000_0B0A_0000_0000L;
    /** Guest ACCEPT larger than the mapping; details = level. */
    public static final long TDX_PAGE_SIZE_MISMATCH = 0xC000_0B0B_0000_0000L;
    public static final long TDX_GPA_RANGE_BLOCKED = 0xC000_0B0C_0000_0000L;
    /** TDX 1.5: the generic "entry state not allowed for this leaf". */
    public static final long TDX_EPT_ENTRY_STATE_INCORRECT = 0xC000_0B0D_0000_0000L;
    /** TDX 1.5: SEPT.REMOVE with a child entry that is not FREE. */
    public static final long TDX_EPT_PAGE_NOT_FREE = 0xC000_0B0E_0000_0000L;

    /**
     * Not an architectural status: TDG.MEM.PAGE.ACCEPT does not return to the guest but exits the TD to the host as
     * an EPT violation (the guest re-executes it after the host mapped the page). Bits 63:62 = 01 keep it apart
     * from every status above.
     */
    public static final long MODEL_TD_EXIT_EPT_VIOLATION = 0x4000_0000_0000_0001L;
    /** Not an architectural status: the vCPU could not enter the TD (the host keeps vCPUs out for a moment). */
    public static final long MODEL_NOT_ENTERED = 0x4000_0000_0000_0002L;

    // ---- operand ids (low 32 bits) ------------------------------------------------------------------------------
    public static final int OPERAND_RCX = 1, OPERAND_RDX = 2, OPERAND_R8 = 8, OPERAND_R9 = 9, OPERAND_R12 = 12,
            OPERAND_R13 = 13;
    public static final int OPERAND_TDR = 0x80, OPERAND_SEPT_TREE = 0x92, OPERAND_TD_EPOCH = 0xA9,
            OPERAND_OP_STATE = 0xAC;

    public static long withOperand(long status, int operand) {
        return status | (operand & 0xFFFF_FFFFL);
    }

    /** The status class, details masked off. */
    public static long classOf(long status) {
        return status & CLASS_MASK;
    }

    public static int operand(long status) {
        return (int) status;
    }

    public static boolean isError(long status) {
        return status < 0;
    }

    /** Linux's {@code tdx_operand_busy()}: the only contention status KVM retries. */
    public static boolean operandBusy(long status) {
        return classOf(status) == TDX_OPERAND_BUSY;
    }

    private static final long[] CLASSES = { TDX_SUCCESS, TDX_INTERRUPTED_RESUMABLE, TDX_INTERRUPTED_RESTARTABLE,
            TDX_OPERAND_INVALID, TDX_OPERAND_ADDR_RANGE_ERROR, TDX_OPERAND_BUSY, TDX_PREVIOUS_TLB_EPOCH_BUSY,
            TDX_OPERAND_BUSY_HOST_PRIORITY, TDX_PAGE_METADATA_INCORRECT, TDX_PAGE_NOT_FREE, TDX_HPA_RANGE_NOT_FREE,
            TDX_NO_PAMT_PAGE_PAIR, TDX_PAMT_PAGE_NOT_EMPTY, TDX_MISSING_PAMT_PAGE_PAIR, TDX_TD_ASSOCIATED_PAGES_EXIST,
            TDX_TD_FATAL,
            TDX_TDCS_NOT_ALLOCATED, TDX_LIFECYCLE_STATE_INCORRECT, TDX_OP_STATE_INCORRECT, TDX_NO_VCPUS,
            TDX_TD_KEYS_NOT_CONFIGURED, TDX_WBCACHE_NOT_COMPLETE, TDX_NO_HKID_READY_TO_WBCACHE, TDX_FLUSHVP_NOT_DONE,
            TDX_EPT_WALK_FAILED, TDX_EPT_ENTRY_FREE, TDX_EPT_ENTRY_NOT_FREE,
            TDX_EPT_ENTRY_NOT_PRESENT, TDX_EPT_ENTRY_NOT_LEAF, TDX_EPT_ENTRY_LEAF, TDX_GPA_RANGE_NOT_BLOCKED,
            TDX_GPA_RANGE_ALREADY_BLOCKED, TDX_TLB_TRACKING_NOT_DONE, TDX_EPT_INVALID_PROMOTE_CONDITIONS,
            TDX_PAGE_ALREADY_ACCEPTED, TDX_PAGE_SIZE_MISMATCH, TDX_GPA_RANGE_BLOCKED, TDX_EPT_ENTRY_STATE_INCORRECT,
            TDX_EPT_PAGE_NOT_FREE };
    private static final String[] CLASS_NAMES = { "TDX_SUCCESS", "TDX_INTERRUPTED_RESUMABLE",
            "TDX_INTERRUPTED_RESTARTABLE", "TDX_OPERAND_INVALID", "TDX_OPERAND_ADDR_RANGE_ERROR", "TDX_OPERAND_BUSY",
            "TDX_PREVIOUS_TLB_EPOCH_BUSY", "TDX_OPERAND_BUSY_HOST_PRIORITY", "TDX_PAGE_METADATA_INCORRECT",
            "TDX_PAGE_NOT_FREE", "TDX_HPA_RANGE_NOT_FREE", "TDX_NO_PAMT_PAGE_PAIR", "TDX_PAMT_PAGE_NOT_EMPTY",
            "TDX_MISSING_PAMT_PAGE_PAIR", "TDX_TD_ASSOCIATED_PAGES_EXIST", "TDX_TD_FATAL", "TDX_TDCS_NOT_ALLOCATED",
            "TDX_LIFECYCLE_STATE_INCORRECT", "TDX_OP_STATE_INCORRECT", "TDX_NO_VCPUS", "TDX_TD_KEYS_NOT_CONFIGURED",
            "TDX_WBCACHE_NOT_COMPLETE", "TDX_NO_HKID_READY_TO_WBCACHE", "TDX_FLUSHVP_NOT_DONE", "TDX_EPT_WALK_FAILED",
            "TDX_EPT_ENTRY_FREE", "TDX_EPT_ENTRY_NOT_FREE", "TDX_EPT_ENTRY_NOT_PRESENT",
            "TDX_EPT_ENTRY_NOT_LEAF", "TDX_EPT_ENTRY_LEAF", "TDX_GPA_RANGE_NOT_BLOCKED",
            "TDX_GPA_RANGE_ALREADY_BLOCKED", "TDX_TLB_TRACKING_NOT_DONE", "TDX_EPT_INVALID_PROMOTE_CONDITIONS",
            "TDX_PAGE_ALREADY_ACCEPTED", "TDX_PAGE_SIZE_MISMATCH", "TDX_GPA_RANGE_BLOCKED",
            "TDX_EPT_ENTRY_STATE_INCORRECT", "TDX_EPT_PAGE_NOT_FREE" };
    /** Names of small operand values (levels, register ids): cached so the guest path builds no strings. */
    private static final String[][] SMALL = new String[CLASSES.length][16];

    static {
        for (int c = 0; c < CLASSES.length; c++) {
            // the guest ACCEPT statuses carry a level, not an operand id
            boolean level = CLASSES[c] == TDX_PAGE_ALREADY_ACCEPTED || CLASSES[c] == TDX_PAGE_SIZE_MISMATCH;
            for (int op = 0; op < 16; op++)
                SMALL[c][op] = level ? CLASS_NAMES[c] + "|level " + op
                        : op == 0 ? CLASS_NAMES[c] : CLASS_NAMES[c] + "|" + operandName(op);
        }
    }

    /** The status as Linux prints it: the class name and the operand, e.g. {@code TDX_OPERAND_BUSY|SEPT_TREE}. */
    public static String name(long status) {
        if (status == TDX_SUCCESS) // every fault's AUG and ACCEPT: a constant, no walk of the tables
            return "TDX_SUCCESS";
        if (status == MODEL_NOT_ENTERED)
            return "NOT_ENTERED";
        if (status == MODEL_TD_EXIT_EPT_VIOLATION)
            return "TD_EXIT(EPT_VIOLATION)";
        long cls = classOf(status);
        int op = operand(status);
        for (int c = 0; c < CLASSES.length; c++)
            if (CLASSES[c] == cls) {
                if (op >= 0 && op < 16)
                    return SMALL[c][op];
                return CLASS_NAMES[c] + "|" + operandName(op);
            }
        return "0x" + Long.toHexString(status);
    }

    /** The status class called {@code name} here (e.g. {@code TDX_OPERAND_BUSY}, no details), or empty. */
    public static java.util.OptionalLong ofName(String name) {
        for (int c = 0; c < CLASSES.length; c++)
            if (CLASS_NAMES[c].equals(name))
                return java.util.OptionalLong.of(CLASSES[c]);
        return java.util.OptionalLong.empty();
    }

    /** Every status class name, in the order of their values' listing here. */
    public static java.util.List<String> names() {
        return java.util.List.of(CLASS_NAMES);
    }

    private static String operandName(int op) {
        return switch (op) {
        case OPERAND_RCX -> "RCX";
        case OPERAND_RDX -> "RDX";
        case OPERAND_R8 -> "R8";
        case OPERAND_R9 -> "R9";
        case OPERAND_R12 -> "R12";
        case OPERAND_R13 -> "R13";
        case OPERAND_TDR -> "TDR";
        case OPERAND_SEPT_TREE -> "SEPT_TREE";
        case OPERAND_TD_EPOCH -> "TD_EPOCH";
        case OPERAND_OP_STATE -> "OP_STATE";
        default -> "0x" + Integer.toHexString(op);
        };
    }
}
