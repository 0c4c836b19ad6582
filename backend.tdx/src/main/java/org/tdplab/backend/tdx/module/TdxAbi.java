package org.tdplab.backend.tdx.module;

/**
 * The module's ABI values that callers on both sides of a SEAMCALL share: KeyID layout, TD resources, TDR lifecycle
 * and OP_STATE values, extended exit qualifications, and the outcomes of the hardware's walk for a guest access.
 */
public final class TdxAbi {
    private TdxAbi() {
    }

    /** The module version whose status codes apply (hardware spec A.3 version note). */
    public enum Version {
        V1_0("1.0"), V1_5("1.5");

        private final String label;

        Version(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /**
     * First HPA bit of the KeyID: MAX_PA 52 with 6 KeyID bits. Platform-specific (MK-TME configuration) [U]; the
     * model only needs the KeyID apart from the frame number.
     */
    public static final int KEYID_SHIFT = 46;
    /** Largest private HKID the model hands out (6 KeyID bits) [U]. */
    public static final int MAX_HKID = 63;
    /** The global (TDX module) private KeyID, used for the TDR and the module's own pages [U value]. */
    public static final int GLOBAL_KEYID = 0;
    /** TDCS pages a TD needs (module-reported {@code tdcs_nr_pages}; value [U]). The last one holds the S-EPT root. */
    public static final int TDCS_PAGES = 4;
    /** TDCX pages per vCPU besides the TDVPR (module-reported {@code tdvpx_nr_pages}; value [U]). */
    public static final int VP_TDCX_PAGES = 5;
    /** TD attribute bit 28: SEPT_VE_DISABLE. */
    public static final long ATTR_SEPT_VE_DISABLE = 1L << 28;

    static final long HPA_MASK = 0x000F_FFFF_FFFF_F000L;
    /** The owner the PAMT records for this module's one TD. */
    static final int TD_ID = 1;

    /** TDR lifecycle states (A.2); NONE = no TD created (or its TDR reclaimed). */
    public static final int LC_NONE = 0, LC_HKID_ASSIGNED = 1, LC_KEYS_CONFIGURED = 2, LC_BLOCKED = 3,
            LC_TEARDOWN = 4;
    private static final String[] LIFECYCLE_NAMES = { "NONE", "HKID_ASSIGNED", "KEYS_CONFIGURED", "BLOCKED",
            "TEARDOWN" };
    /** OP_STATE values the model implements (migration states are out of scope). */
    public static final int OP_UNINITIALIZED = 0, OP_INITIALIZED = 1, OP_RUNNABLE = 2;

    /**
     * Types of the extended exit qualification (bits 3:0; {@code vmx_eeq_type_t}): NONE, ACCEPT (a TDG.MEM.PAGE.ACCEPT
     * that needs the host: bits 34:32 hold the requested TDX level, bits 37:35 the level where the walk stopped [U:
     * layout of the info field beyond the requested level]) and PENDING_EPT_VIOLATION.
     */
    public static final int EEQ_NONE = 0, EEQ_ACCEPT = 1, EEQ_PENDING_EPT_VIOLATION = 6;

    /** The type of an extended exit qualification. */
    public static int eeqType(long eeq) {
        return (int) (eeq & 0xF);
    }

    /** The TDX level (0 = 4K) the guest asked to accept at, from an {@link #EEQ_ACCEPT} qualification. */
    public static int eeqAcceptLevel(long eeq) {
        return (int) ((eeq >>> 32) & 7);
    }

    /** Outcomes of the hardware's walk for a guest access ({@link TdxModule#guestTranslate}); translations: >= 0. */
    public static final long G_EPT_VIOLATION = -1, G_VE = -2, G_PENDING_EXIT = -3, G_NOT_ENTERED = -4;

    public static String lifecycleName(int lc) {
        return LIFECYCLE_NAMES[lc];
    }

    /** The state of a {@link TdxModule#lookup} result. */
    public static int stateOf(long looked) {
        return SeptTree.state(looked);
    }

    /** The HPA of a {@link TdxModule#lookup} result. */
    public static long hpaOf(long looked) {
        return SeptTree.hpa(looked);
    }
}
