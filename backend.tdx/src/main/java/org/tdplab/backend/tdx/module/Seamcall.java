package org.tdplab.backend.tdx.module;

/**
 * The SEAMCALL leaves (and the one TDCALL) the model implements (not TDH.MEM.PAGE.RELOCATE, TDH.MEM.SEPT.RD nor
 * the migration and TD-partitioning leaves, which no KVM flow here uses), with Intel's names and leaf numbers, and
 * whether each TD-scoped leaf is allowed in OP_STATE INITIALIZED and RUNNABLE (the 1.5 {@code op_state_lookup},
 * hardware spec A.2). Leaf numbers of the S-EPT leaves are from the spec; those of the lifecycle leaves are Linux's
 * {@code arch/x86/virt/vmx/tdx/tdx.h} (not re-read for this model [U]).
 */
public enum Seamcall {
    TDH_VP_ENTER("TDH.VP.ENTER", 0, false, true),
    TDH_MNG_ADDCX("TDH.MNG.ADDCX", 1, false, false),
    TDH_MEM_PAGE_ADD("TDH.MEM.PAGE.ADD", 2, true, false),
    TDH_MEM_SEPT_ADD("TDH.MEM.SEPT.ADD", 3, true, true),
    TDH_VP_ADDCX("TDH.VP.ADDCX", 4, true, false),
    TDH_MEM_PAGE_AUG("TDH.MEM.PAGE.AUG", 6, true, true),
    TDH_MEM_RANGE_BLOCK("TDH.MEM.RANGE.BLOCK", 7, true, true),
    TDH_MNG_KEY_CONFIG("TDH.MNG.KEY.CONFIG", 8, false, false),
    TDH_MNG_CREATE("TDH.MNG.CREATE", 9, false, false),
    TDH_VP_CREATE("TDH.VP.CREATE", 10, true, false),
    TDH_MEM_PAGE_DEMOTE("TDH.MEM.PAGE.DEMOTE", 15, true, true),
    TDH_MR_EXTEND("TDH.MR.EXTEND", 16, true, false),
    TDH_MR_FINALIZE("TDH.MR.FINALIZE", 17, true, false),
    TDH_VP_FLUSH("TDH.VP.FLUSH", 18, true, true),
    TDH_MNG_VPFLUSHDONE("TDH.MNG.VPFLUSHDONE", 19, true, true),
    TDH_MNG_KEY_FREEID("TDH.MNG.KEY.FREEID", 20, false, false),
    TDH_MNG_INIT("TDH.MNG.INIT", 21, false, false),
    TDH_VP_INIT("TDH.VP.INIT", 22, true, false),
    TDH_MEM_PAGE_PROMOTE("TDH.MEM.PAGE.PROMOTE", 23, true, true),
    TDH_PHYMEM_PAGE_RECLAIM("TDH.PHYMEM.PAGE.RECLAIM", 28, false, false),
    TDH_MEM_PAGE_REMOVE("TDH.MEM.PAGE.REMOVE", 29, true, true),
    TDH_MEM_SEPT_REMOVE("TDH.MEM.SEPT.REMOVE", 30, true, true),
    TDH_MEM_TRACK("TDH.MEM.TRACK", 38, true, true),
    TDH_MEM_RANGE_UNBLOCK("TDH.MEM.RANGE.UNBLOCK", 39, true, true),
    TDH_PHYMEM_CACHE_WB("TDH.PHYMEM.CACHE.WB", 40, false, false),
    TDH_PHYMEM_PAGE_WBINVD("TDH.PHYMEM.PAGE.WBINVD", 41, false, false),
    /** Dynamic PAMT: a pair of pages becomes the 4K PAMT entries of a 2M range. */
    TDH_PHYMEM_PAMT_ADD("TDH.PHYMEM.PAMT.ADD", 58, false, false),
    TDH_PHYMEM_PAMT_REMOVE("TDH.PHYMEM.PAMT.REMOVE", 59, false, false),
    /** The guest's TDCALL leaf 6. */
    TDG_MEM_PAGE_ACCEPT("TDG.MEM.PAGE.ACCEPT", 6, false, true);

    private final String intelName;
    private final int leaf;
    private final boolean inInitialized, inRunnable;

    Seamcall(String intelName, int leaf, boolean inInitialized, boolean inRunnable) {
        this.intelName = intelName;
        this.leaf = leaf;
        this.inInitialized = inInitialized;
        this.inRunnable = inRunnable;
    }

    /** The name Intel's documentation and Linux's error messages use, e.g. {@code TDH.MEM.PAGE.AUG}. */
    public String intelName() {
        return intelName;
    }

    public int leaf() {
        return leaf;
    }

    /** Whether the leaf may run in this OP_STATE ({@link TdxModule#OP_INITIALIZED}, {@link TdxModule#OP_RUNNABLE}). */
    boolean allowedIn(int opState) {
        return opState == TdxAbi.OP_INITIALIZED ? inInitialized : opState == TdxAbi.OP_RUNNABLE && inRunnable;
    }
}
