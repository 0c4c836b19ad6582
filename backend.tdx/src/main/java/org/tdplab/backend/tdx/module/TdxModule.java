package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.SeptState.BLOCKED;
import static org.tdplab.backend.tdx.module.SeptState.FREE;
import static org.tdplab.backend.tdx.module.SeptState.MAPPED;
import static org.tdplab.backend.tdx.module.SeptState.NL_BLOCKED;
import static org.tdplab.backend.tdx.module.SeptState.NL_MAPPED;
import static org.tdplab.backend.tdx.module.SeptState.PENDING;
import static org.tdplab.backend.tdx.module.SeptState.PENDING_BLOCKED;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_R8;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_R9;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RCX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_RDX;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_SEPT_TREE;
import static org.tdplab.backend.tdx.module.TdxStatus.OPERAND_TD_EPOCH;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_FREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_LEAF;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_NOT_FREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_NOT_LEAF;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_NOT_PRESENT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_ENTRY_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_INVALID_PROMOTE_CONDITIONS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_PAGE_NOT_FREE;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_EPT_WALK_FAILED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_GPA_RANGE_ALREADY_BLOCKED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_GPA_RANGE_NOT_BLOCKED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_LIFECYCLE_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_NO_VCPUS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_ADDR_RANGE_ERROR;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_BUSY_HOST_PRIORITY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OPERAND_INVALID;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_OP_STATE_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_ALREADY_ACCEPTED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_METADATA_INCORRECT;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PAGE_SIZE_MISMATCH;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_PREVIOUS_TLB_EPOCH_BUSY;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TDCS_NOT_ALLOCATED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_ASSOCIATED_PAGES_EXIST;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_FATAL;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TD_KEYS_NOT_CONFIGURED;
import static org.tdplab.backend.tdx.module.TdxStatus.TDX_TLB_TRACKING_NOT_DONE;
import static org.tdplab.backend.tdx.module.TdxStatus.withOperand;

import java.util.List;

/**
 * A simulated Intel TDX module serving one TD: its TDR/TDCS (lifecycle, HKID, OP_STATE, epochs, MRTD), its vCPUs'
 * TDVPS epoch state, its Secure-EPT ({@link SeptTree}) and the PAMT entries of every physical page it was given
 * ({@link Pamt}). The real module is one per platform with a global PAMT; one instance per TD is equivalent here
 * because the host allocator never hands one frame to two TDs.
 *
 * <p>Each leaf is a check-then-commit function following hardware spec A.6: the common TD checks of A.2 first, then
 * the leaf's preconditions in the table's order, so the first failing row decides the status; a failed leaf changes
 * nothing except the host-priority bit (I10). Extended error outputs (RCX/RDX) go to a {@link Regs}. Every public
 * method is {@code synchronized}: SEAMCALLs, TDCALLs and the hardware's S-EPT walks of one TD are serialized, and
 * lock contention is simulated by {@link Contention}.
 *
 * <p>Addresses are architectural: GPA|level operands (RCX bits 2:0 = TDX level, 11:3 reserved, 51:12 GPA page, 63:52
 * reserved), HPAs with the KeyID in the bits from {@link #KEYID_SHIFT} up.
 */
public final class TdxModule implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

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

    /** The contents of physical pages (one data token per 4K frame), as the module reads and writes them. */
    public interface Frames {
        long read(long pfn);

        void write(long pfn, long token);
    }

    /** Extended outputs of a SEAMCALL (RCX, RDX, R8): cleared at entry, set on the paths the spec names. */
    public static final class Regs implements java.io.Serializable {
        private static final long serialVersionUID = 1L;

        public long rcx, rdx, r8;

        void clear() {
            rcx = rdx = r8 = 0;
        }
    }

    // ---- configuration constants -------------------------------------------------------------------------------

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
    private static final long RCX_RESERVED = 0xFFF0_0000_0000_0FF8L;
    private static final int TD_ID = 1;

    /** TDR lifecycle states (A.2); NONE = no TD created (or its TDR reclaimed). */
    public static final int LC_NONE = 0, LC_HKID_ASSIGNED = 1, LC_KEYS_CONFIGURED = 2, LC_BLOCKED = 3,
            LC_TEARDOWN = 4;
    private static final String[] LIFECYCLE_NAMES = { "NONE", "HKID_ASSIGNED", "KEYS_CONFIGURED", "BLOCKED",
            "TEARDOWN" };
    /** OP_STATE values the model implements (migration states are out of scope). */
    public static final int OP_UNINITIALIZED = 0, OP_INITIALIZED = 1, OP_RUNNABLE = 2;

    /** Outcomes of the hardware's walk for a guest access ({@link #guestTranslate}); translations are {@code >= 0}. */
    public static final long G_EPT_VIOLATION = -1, G_VE = -2, G_PENDING_EXIT = -3, G_NOT_ENTERED = -4;

    private final Version version;
    /** Callbacks into this bundle's VM and its BUSY injection: not state, re-attached after a restore. */
    private transient Frames frames;
    private transient Contention contention;
    private final long tdmrLimitPfn;
    private final Regs scratch = new Regs();

    // ---- TDR -------------------------------------------------------------------------------------------------
    private long tdrPfn = -1;
    private int hkid;
    private int lifecycle = LC_NONE;
    private boolean fatal;
    /** 4K units owned by the TD: REG pages, S-EPT pages, TDCS/TDVPR/TDCX pages (not the TDR). */
    private long chldcnt;

    // ---- TDCS ------------------------------------------------------------------------------------------------
    private final long[] tdcsPfns = new long[TDCS_PAGES];
    private int tdcsAdded;
    private int opState = OP_UNINITIALIZED;
    private int eptLevels;
    private int sharedBit;
    private long attributes;
    private long tdEpoch;
    private final int[] refcount = new int[2];
    private long mrtd;
    private int rootPage;
    private long maxEpochChecked;

    // ---- vCPUs (TDVPS) ----------------------------------------------------------------------------------------
    private final int maxVcpus;
    private int numVcpus;
    private final long[] tdvprPfn;
    private final int[] tdcxAdded;
    private final boolean[] vcpuInitialized, vcpuFlushed, inGuest;
    private final long[] vcpuEpoch, enterSeq, acceptedHpa;
    private long vpEnters, eptFlushes;

    private final SeptTree sept = new SeptTree();
    private final Pamt pamt = new Pamt();

    /**
     * @param version the status codes to use
     * @param maxVcpus the TD's MAX_VCPUS
     * @param frames the contents of physical pages
     * @param contention busy injection
     * @param tdmrLimitPfn frames below this are convertible memory (inside a TDMR)
     */
    public TdxModule(Version version, int maxVcpus, Frames frames, Contention contention, long tdmrLimitPfn) {
        this.version = version;
        this.frames = frames;
        this.contention = contention;
        this.tdmrLimitPfn = tdmrLimitPfn;
        this.maxVcpus = maxVcpus;
        this.tdvprPfn = new long[maxVcpus];
        this.tdcxAdded = new int[maxVcpus];
        this.vcpuInitialized = new boolean[maxVcpus];
        this.vcpuFlushed = new boolean[maxVcpus];
        this.inGuest = new boolean[maxVcpus];
        this.vcpuEpoch = new long[maxVcpus];
        this.enterSeq = new long[maxVcpus];
        this.acceptedHpa = new long[maxVcpus];
        java.util.Arrays.fill(tdvprPfn, -1);
    }

    /** A module whose TDMRs cover every frame below the KeyID bits. */
    public TdxModule(Version version, int maxVcpus, Frames frames, Contention contention) {
        this(version, maxVcpus, frames, contention, 1L << (KEYID_SHIFT - 12));
    }

    // ==== hot swap ===============================================================================================

    /**
     * The module's whole state — TDR, TDCS, TDVPS, the S-EPT tree and the PAMT — as plain bytes (Java
     * serialization of primitive fields and arrays), for a backend that takes over the TD after a bundle swap.
     */
    public byte[] saveState() {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(this);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** A module with the state {@link #saveState} wrote, driving {@code frames} with {@code contention}. */
    public static TdxModule loadState(byte[] state, Frames frames, Contention contention) {
        try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(state)) {
            @Override
            protected Class<?> resolveClass(java.io.ObjectStreamClass desc)
                    throws java.io.IOException, ClassNotFoundException {
                // this bundle's classes, never the departed one's
                return Class.forName(desc.getName(), false, TdxModule.class.getClassLoader());
            }
        }) {
            TdxModule m = (TdxModule) in.readObject();
            m.frames = frames;
            m.contention = contention;
            return m;
        } catch (java.io.IOException | ClassNotFoundException e) {
            throw new IllegalArgumentException("unreadable TDX module state: " + e, e);
        }
    }

    // ==== helpers ================================================================================================

    private Regs regs(Regs out) {
        Regs r = out != null ? out : scratch;
        r.clear();
        return r;
    }

    private static long levelPages(int level) {
        return 1L << (9 * level);
    }

    private static int level(long rcx) {
        return (int) (rcx & 7);
    }

    private static long gpa(long rcx) {
        return rcx & HPA_MASK;
    }

    /** A private GPA the TD can map: the shared bit and everything above it clear. */
    private boolean privateGpa(long gpa) {
        return (gpa >>> sharedBit) == 0;
    }

    /** RCX = GPA|level: reserved bits clear, level in range, GPA aligned to the level, private and valid. */
    private boolean validGpaLevel(long rcx, int minLevel, int maxLevel) {
        if ((rcx & RCX_RESERVED) != 0)
            return false;
        int l = level(rcx);
        if (l < minLevel || l > maxLevel)
            return false;
        long g = gpa(rcx);
        return (g & ((levelPages(l) << 12) - 1)) == 0 && privateGpa(g);
    }

    /** Some vCPU is inside the TD: the only source of lock contention KVM has to handle (see {@link Contention}). */
    private boolean busy() {
        boolean anyIn = false;
        for (int v = 0; v < numVcpus && !anyIn; v++)
            anyIn = inGuest[v];
        return contention.busy(anyIn);
    }

    /**
     * The common checks of every TD-scoped leaf (A.2): the TD handle names this TD's TDR (reserved bits clear, PAMT
     * type TDR), not fatal, keys configured, TDCS allocated, the leaf allowed in the OP_STATE.
     */
    private long prologue(long tdHandle, int operand, long allowedLowBits, Seamcall leaf) {
        if ((tdHandle & ~HPA_MASK & ~allowedLowBits) != 0)
            return withOperand(TDX_OPERAND_INVALID, operand);
        long pfn = (tdHandle & HPA_MASK) >>> 12;
        if (tdrPfn < 0 || pfn != tdrPfn || pamt.typeOf(pfn) != Pamt.PT_TDR)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, operand);
        if (fatal)
            return TDX_TD_FATAL;
        if (lifecycle != LC_KEYS_CONFIGURED)
            return TDX_TD_KEYS_NOT_CONFIGURED;
        if (tdcsAdded < TDCS_PAGES)
            return TDX_TDCS_NOT_ALLOCATED;
        if (!leaf.allowedIn(opState))
            return TDX_OP_STATE_INCORRECT;
        return TDX_SUCCESS;
    }

    /**
     * A page the host hands over (new S-EPT page, PAGE.ADD / AUG target, control page): aligned with no KeyID bits,
     * inside a TDMR, PAMT NDA for every 4K page of it, and its PAMT entry lockable.
     */
    private long checkNewPage(long hpa, int operand, int size, boolean injectBusy) {
        if ((hpa & ((Pamt.pages(size) << 12) - 1)) != 0 || (hpa >>> KEYID_SHIFT) != 0)
            return withOperand(TDX_OPERAND_INVALID, operand);
        long pfn = hpa >>> 12;
        if (pfn + Pamt.pages(size) > tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, operand);
        for (long i = 0; i < Pamt.pages(size); i++)
            if (pamt.typeOf(pfn + i) != Pamt.PT_NDA)
                return withOperand(TDX_PAGE_METADATA_INCORRECT, operand);
        if (injectBusy && busy())
            return withOperand(TDX_OPERAND_BUSY, operand);
        return TDX_SUCCESS;
    }

    // ---- walks -------------------------------------------------------------------------------------------------

    private static final long WALK_FAILED = Long.MIN_VALUE;

    private static long pos(int page, int index, int level) {
        return ((long) page << 20) | ((long) index << 4) | level;
    }

    private static int posPage(long pos) {
        return (int) ((pos & ~WALK_FAILED) >>> 20);
    }

    private static int posIndex(long pos) {
        return (int) ((pos >>> 4) & 511);
    }

    private static int posLevel(long pos) {
        return (int) (pos & 15);
    }

    /**
     * WALK(level) of the host leaves: from the root down through non-leaf entries to the entry of {@code level}.
     * Fails (bit 63 set, position of the entry where it stopped) on a non-present entry or a leaf above it. The host
     * walk goes through NL_BLOCKED entries [U].
     */
    private long walk(long gfn, int level) {
        int page = rootPage;
        for (int l = eptLevels - 1;; l--) {
            int idx = SeptTree.index(gfn, l);
            if (l == level)
                return pos(page, idx, l);
            int s = SeptTree.state(sept.get(page, idx));
            if (!SeptState.isNonLeaf(s))
                return WALK_FAILED | pos(page, idx, l);
            page = sept.child(page, idx);
        }
    }

    /** The guest's walk: only NL_MAPPED leads further down. Stops at the target level or where it cannot go on. */
    private long guestWalk(long gfn, int level) {
        int page = rootPage;
        for (int l = eptLevels - 1;; l--) {
            int idx = SeptTree.index(gfn, l);
            if (l == level)
                return pos(page, idx, l);
            if (SeptTree.state(sept.get(page, idx)) != NL_MAPPED)
                return WALK_FAILED | pos(page, idx, l);
            page = sept.child(page, idx);
        }
    }

    private static boolean failed(long pos) {
        return pos < 0;
    }

    /** The architectural view of an entry (extended error output RCX); FREE is all-zero but suppress-#VE (bit 63). */
    private static long archView(long e, int level) {
        int s = SeptTree.state(e);
        if (s == FREE)
            return 1L << 63;
        boolean rwx = s == NL_MAPPED || s == MAPPED;
        long ps = SeptState.isLeaf(s) && level > 0 ? 1L << 7 : 0;
        return SeptTree.hpa(e) | (rwx ? 7 : 0) | ps | (s == PENDING ? 1L << 63 : 0);
    }

    /** Extended error output: RCX = the entry, RDX = level | public state << 8 (vm = 0). */
    private void details(Regs out, long pos) {
        long e = sept.get(posPage(pos), posIndex(pos));
        out.rcx = archView(e, posLevel(pos));
        out.rdx = posLevel(pos) | ((long) SeptState.publicValue(SeptTree.state(e)) << 8);
    }

    private long walkFailed(long pos, Regs out) {
        details(out, pos);
        return withOperand(TDX_EPT_WALK_FAILED, OPERAND_RCX);
    }

    /**
     * What every S-EPT entry leaf does after its TD checks, in the spec's order: the GPA|level operand in
     * {@code [minLevel, maxLevel]}, the S-EPT tree lock, the host walk to the entry, the entry's own lock. Returns
     * the entry's position, or the failing status (error statuses have bit 63 set: negative).
     */
    private long locateEntry(long rcx, int minLevel, int maxLevel, Regs out) {
        if (!validGpaLevel(rcx, minLevel, maxLevel))
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        if (busy())
            return withOperand(TDX_OPERAND_BUSY, OPERAND_SEPT_TREE);
        long pos = walk(gpa(rcx) >>> 12, level(rcx));
        if (failed(pos))
            return walkFailed(pos, out);
        long st = lockEntry(pos, out);
        return st != TDX_SUCCESS ? st : pos;
    }

    /** Host try-lock of an entry: a failure sets the host-priority bit, a success clears it. */
    private long lockEntry(long pos, Regs out) {
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        if (busy()) {
            sept.set(page, idx, e | SeptTree.HOST_PRIORITY);
            details(out, pos);
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX);
        }
        sept.set(page, idx, e & ~SeptTree.HOST_PRIORITY);
        return TDX_SUCCESS;
    }

    /** is_tracked(bepoch): the blocking epoch is retired (A.5). */
    private boolean isTracked(long bepoch) {
        return bepoch < tdEpoch - 1 || (bepoch == tdEpoch - 1 && refcount[(int) (bepoch & 1)] == 0);
    }

    /** Whether removing / changing an entry in this state needs BLOCK + TRACK now (RUNNABLE only, A.2). */
    private boolean trackingRequired(int state) {
        return opState == OP_RUNNABLE && SeptState.tlbTrackingRequired(state);
    }

    /** The frame whose PAMT {@code bepoch} BLOCK stamps: the leaf's page, or the child S-EPT page of a non-leaf. */
    private long blockedFrame(long e) {
        return SeptTree.hpa(e) >>> 12;
    }

    private void measure(long a, long b) {
        long h = mrtd == 0 ? 0xcbf29ce484222325L : mrtd;
        h = (h ^ a) * 0x100000001b3L;
        h = (h ^ b) * 0x100000001b3L;
        mrtd = h;
    }

    // ==== TD lifecycle ==========================================================================================

    /** TDH.MNG.CREATE: RCX = the new TDR page, RDX = the HKID. Lifecycle → HKID_ASSIGNED. */
    public synchronized long tdhMngCreate(long tdrPa, int newHkid) {
        long st = checkNewPage(tdrPa, OPERAND_RCX, Pamt.SIZE_4K, false);
        if (st != TDX_SUCCESS)
            return st;
        if (newHkid <= GLOBAL_KEYID || newHkid > MAX_HKID)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RDX);
        if (lifecycle != LC_NONE) // one TD per module instance (see the class comment)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        tdrPfn = tdrPa >>> 12;
        pamt.set(tdrPfn, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_TDR, Pamt.SIZE_4K, TD_ID, 0));
        hkid = newHkid;
        lifecycle = LC_HKID_ASSIGNED;
        return TDX_SUCCESS;
    }

    private long tdrOnly(long tdr, int operand) {
        if ((tdr & ~HPA_MASK) != 0)
            return withOperand(TDX_OPERAND_INVALID, operand);
        if (tdrPfn < 0 || (tdr >>> 12) != tdrPfn || pamt.typeOf(tdrPfn) != Pamt.PT_TDR)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, operand);
        return TDX_SUCCESS;
    }

    /** TDH.MNG.KEY.CONFIG: programs the HKID's key (one package modelled). HKID_ASSIGNED → KEYS_CONFIGURED. */
    public synchronized long tdhMngKeyConfig(long tdr) {
        long st = tdrOnly(tdr, OPERAND_RCX);
        if (st != TDX_SUCCESS)
            return st;
        if (lifecycle != LC_HKID_ASSIGNED)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        lifecycle = LC_KEYS_CONFIGURED;
        return TDX_SUCCESS;
    }

    /** TDH.MNG.ADDCX: RCX = a TDCS page, RDX = TDR. */
    public synchronized long tdhMngAddcx(long page, long tdr) {
        long st = tdrOnly(tdr, OPERAND_RDX);
        if (st != TDX_SUCCESS)
            return st;
        if (lifecycle != LC_KEYS_CONFIGURED)
            return TDX_TD_KEYS_NOT_CONFIGURED;
        if (tdcsAdded >= TDCS_PAGES) // every TDCS page is in already [U: exact status]
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        st = checkNewPage(page, OPERAND_RCX, Pamt.SIZE_4K, false);
        if (st != TDX_SUCCESS)
            return st;
        tdcsPfns[tdcsAdded++] = page >>> 12;
        pamt.set(page >>> 12, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_TDCX, Pamt.SIZE_4K, TD_ID, 0));
        chldcnt++;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MNG.INIT: RCX = TDR; the TD_PARAMS the model takes: GPAW (52 → 5-level S-EPT, shared bit 51; else
     * 4-level, bit 47) and ATTRIBUTES. OP_STATE UNINITIALIZED → INITIALIZED; TD epoch 1; the S-EPT root is held in
     * the last TDCS page [U].
     */
    public synchronized long tdhMngInit(long tdr, int gpaw, long tdAttributes) {
        long st = tdrOnly(tdr, OPERAND_RCX);
        if (st != TDX_SUCCESS)
            return st;
        if (fatal)
            return TDX_TD_FATAL;
        if (lifecycle != LC_KEYS_CONFIGURED)
            return TDX_TD_KEYS_NOT_CONFIGURED;
        if (tdcsAdded < TDCS_PAGES)
            return TDX_TDCS_NOT_ALLOCATED;
        if (opState != OP_UNINITIALIZED)
            return TDX_OP_STATE_INCORRECT;
        if (gpaw != 48 && gpaw != 52)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RDX);
        eptLevels = gpaw == 52 ? 5 : 4;
        sharedBit = gpaw - 1;
        attributes = tdAttributes;
        tdEpoch = 1;
        rootPage = sept.alloc(eptLevels - 1, 0, tdcsPfns[TDCS_PAGES - 1]);
        opState = OP_INITIALIZED;
        return TDX_SUCCESS;
    }

    /** TDH.VP.CREATE: RCX = the TDVPR page, RDX = TDR. Returns the status; the vCPU's index is its creation order. */
    public synchronized long tdhVpCreate(long tdvpr, long tdr) {
        long st = prologue(tdr, OPERAND_RDX, 0, Seamcall.TDH_VP_CREATE);
        if (st != TDX_SUCCESS)
            return st;
        if (numVcpus >= maxVcpus) // MAX_VCPUS reached [U: exact status]
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        st = checkNewPage(tdvpr, OPERAND_RCX, Pamt.SIZE_4K, false);
        if (st != TDX_SUCCESS)
            return st;
        int v = numVcpus++;
        tdvprPfn[v] = tdvpr >>> 12;
        pamt.set(tdvpr >>> 12, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_TDVPR, Pamt.SIZE_4K, TD_ID, 0));
        chldcnt++;
        return TDX_SUCCESS;
    }

    private int vcpuOf(long tdvpr) {
        for (int v = 0; v < numVcpus; v++)
            if (tdvprPfn[v] == (tdvpr >>> 12) && pamt.typeOf(tdvprPfn[v]) == Pamt.PT_TDVPR)
                return v;
        return -1;
    }

    /** TDH.VP.ADDCX: RCX = a TDCX page, RDX = the TDVPR. */
    public synchronized long tdhVpAddcx(long page, long tdvpr) {
        int v = vcpuOf(tdvpr);
        if ((tdvpr & ~HPA_MASK) != 0 || v < 0)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RDX);
        if (tdcxAdded[v] >= VP_TDCX_PAGES)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long st = checkNewPage(page, OPERAND_RCX, Pamt.SIZE_4K, false);
        if (st != TDX_SUCCESS)
            return st;
        tdcxAdded[v]++;
        pamt.set(page >>> 12, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_TDCX, Pamt.SIZE_4K, TD_ID, 0));
        chldcnt++;
        return TDX_SUCCESS;
    }

    /** TDH.VP.INIT: RCX = the TDVPR; needs every TDCX page. */
    public synchronized long tdhVpInit(long tdvpr) {
        int v = vcpuOf(tdvpr);
        if ((tdvpr & ~HPA_MASK) != 0 || v < 0)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        if (tdcxAdded[v] < VP_TDCX_PAGES || vcpuInitialized[v])
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX); // [U: exact status]
        vcpuInitialized[v] = true;
        return TDX_SUCCESS;
    }

    /** TDH.VP.FLUSH: RCX = the TDVPR; the vCPU's TLB and cache state on its LP is flushed. It must not be running. */
    public synchronized long tdhVpFlush(long tdvpr) {
        int v = vcpuOf(tdvpr);
        if ((tdvpr & ~HPA_MASK) != 0 || v < 0)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        if (inGuest[v])
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX); // running on another LP [U]
        vcpuFlushed[v] = true;
        return TDX_SUCCESS;
    }

    /** TDH.MNG.VPFLUSHDONE: RCX = TDR. KEYS_CONFIGURED → BLOCKED: no TD entry nor S-EPT SEAMCALL from now on. */
    public synchronized long tdhMngVpflushdone(long tdr) {
        long st = tdrOnly(tdr, OPERAND_RCX);
        if (st != TDX_SUCCESS)
            return st;
        if (lifecycle != LC_KEYS_CONFIGURED)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        lifecycle = LC_BLOCKED;
        return TDX_SUCCESS;
    }

    /** TDH.PHYMEM.CACHE.WB: writes back and invalidates the package's caches (one package modelled). */
    public synchronized long tdhPhymemCacheWb() {
        pamt.flushAll();
        return TDX_SUCCESS;
    }

    /** TDH.MNG.KEY.FREEID: RCX = TDR. BLOCKED → TEARDOWN; the HKID goes back to the platform. */
    public synchronized long tdhMngKeyFreeid(long tdr) {
        long st = tdrOnly(tdr, OPERAND_RCX);
        if (st != TDX_SUCCESS)
            return st;
        if (lifecycle != LC_BLOCKED)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        lifecycle = LC_TEARDOWN;
        hkid = 0;
        return TDX_SUCCESS;
    }

    // ==== S-EPT leaves ==========================================================================================

    /**
     * TDH.MEM.SEPT.ADD (leaf 3): RCX = GPA|level (1 … levels−1), RDX = TD handle (bit 0 allow_existing), R8 = the
     * new S-EPT page. The entry at {@code level} becomes NL_MAPPED → the new page of level − 1, all FREE.
     */
    public synchronized long tdhMemSeptAdd(long rcx, long rdx, long r8, Regs out) {
        out = regs(out);
        if ((rdx & ~HPA_MASK & ~1L) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RDX);
        long st = prologue(rdx, OPERAND_RDX, 1, Seamcall.TDH_MEM_SEPT_ADD);
        if (st != TDX_SUCCESS)
            return st;
        int lvl = level(rcx);
        long gfn = gpa(rcx) >>> 12;
        long pos = locateEntry(rcx, 1, eptLevels - 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        int s = SeptTree.state(sept.get(page, idx));
        if (s == NL_MAPPED && (rdx & 1) != 0)
            return TDX_SUCCESS; // allow_existing: the new page stays unused
        if (!SeptState.allowed(SeptState.ALLOW_SEPT_ADD, s)) {
            details(out, pos);
            return withOperand(version == Version.V1_0 ? TDX_EPT_ENTRY_NOT_FREE : TDX_EPT_ENTRY_STATE_INCORRECT,
                    OPERAND_RCX);
        }
        st = checkNewPage(r8, OPERAND_R8, Pamt.SIZE_4K, true);
        if (st != TDX_SUCCESS)
            return st;
        long newPfn = r8 >>> 12;
        int child = sept.alloc(lvl - 1, gfn & -levelPages(lvl), newPfn);
        sept.set(page, idx, SeptTree.entry(NL_MAPPED, r8));
        sept.setChild(page, idx, child);
        pamt.set(newPfn, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_EPT, Pamt.SIZE_4K, TD_ID, 0));
        chldcnt++;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.ADD (leaf 2), build time only: RCX = GPA (level 0), RDX = TDR (locked exclusively), R8 = the
     * target page, R9 = the source page (shared memory). Copies the source with the TD key, MAPPED, extends MRTD.
     */
    public synchronized long tdhMemPageAdd(long rcx, long rdx, long r8, long r9, Regs out) {
        out = regs(out);
        long st = prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MEM_PAGE_ADD);
        if (st != TDX_SUCCESS)
            return st;
        if (!validGpaLevel(rcx, 0, 0))
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long gfn = gpa(rcx) >>> 12;
        long pos = walk(gfn, 0);
        if (failed(pos))
            return walkFailed(pos, out);
        int page = posPage(pos), idx = posIndex(pos);
        int s = SeptTree.state(sept.get(page, idx));
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_ADD, s)) {
            details(out, pos);
            return withOperand(version == Version.V1_0 ? TDX_EPT_ENTRY_NOT_FREE : TDX_EPT_ENTRY_STATE_INCORRECT,
                    OPERAND_RCX);
        }
        if ((r9 & 0xFFF) != 0 || (r9 >>> KEYID_SHIFT) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_R9);
        st = checkNewPage(r8, OPERAND_R8, Pamt.SIZE_4K, true);
        if (st != TDX_SUCCESS)
            return st;
        long target = r8 >>> 12;
        frames.write(target, frames.read(r9 >>> 12));
        sept.set(page, idx, SeptTree.entry(MAPPED, r8));
        measure(Seamcall.TDH_MEM_PAGE_ADD.leaf(), gpa(rcx));
        chldcnt++;
        pamt.set(target, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_REG, Pamt.SIZE_4K, TD_ID, 0));
        return TDX_SUCCESS;
    }

    /** The position of the leaf (or the non-present entry) mapping {@code gfn}: the walk down to any leaf. */
    private long walkToLeaf(long gfn) {
        int page = rootPage;
        for (int l = eptLevels - 1;; l--) {
            int idx = SeptTree.index(gfn, l);
            int s = SeptTree.state(sept.get(page, idx));
            if (!SeptState.isNonLeaf(s) || l == 0)
                return SeptState.isLeaf(s) ? pos(page, idx, l) : WALK_FAILED | pos(page, idx, l);
            page = sept.child(page, idx);
        }
    }

    /** TDH.MR.EXTEND (leaf 16): RCX = a 256-byte chunk's GPA, RDX = TDR (exclusive). Measures it into MRTD. */
    public synchronized long tdhMrExtend(long rcx, long rdx, Regs out) {
        out = regs(out);
        long st = prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MR_EXTEND);
        if (st != TDX_SUCCESS)
            return st;
        if ((rcx & 0xFF) != 0 || !privateGpa(rcx))
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long pos = walkToLeaf(rcx >>> 12);
        if (failed(pos))
            return withOperand(TDX_EPT_ENTRY_NOT_PRESENT, OPERAND_RCX);
        long e = sept.get(posPage(pos), posIndex(pos));
        if (SeptTree.state(e) != MAPPED)
            return TDX_EPT_ENTRY_NOT_PRESENT;
        long pfn = (SeptTree.hpa(e) >>> 12) + ((rcx >>> 12) & (levelPages(posLevel(pos)) - 1));
        measure(Seamcall.TDH_MR_EXTEND.leaf() ^ rcx, frames.read(pfn) ^ (rcx & 0xF00));
        return TDX_SUCCESS;
    }

    /** TDH.MR.FINALIZE (leaf 17): RCX = TDR. MRTD final; OP_STATE → RUNNABLE. */
    public synchronized long tdhMrFinalize(long rcx) {
        long st = prologue(rcx, OPERAND_RCX, 0, Seamcall.TDH_MR_FINALIZE);
        if (st != TDX_SUCCESS)
            return st;
        if (numVcpus < 1)
            return TDX_NO_VCPUS;
        measure(Seamcall.TDH_MR_FINALIZE.leaf(), 0);
        opState = OP_RUNNABLE;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.AUG (leaf 6): RCX = GPA|level (0 or 1), RDX = TDR, R8 = the page (aligned to the level). The
     * entry becomes PENDING; the page is not zeroed until the guest accepts it.
     */
    public synchronized long tdhMemPageAug(long rcx, long rdx, long r8, Regs out) {
        out = regs(out);
        long st = prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MEM_PAGE_AUG);
        if (st != TDX_SUCCESS)
            return st;
        int lvl = level(rcx);
        long pos = locateEntry(rcx, 0, 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_AUG, SeptTree.state(sept.get(page, idx)))) {
            details(out, pos);
            return withOperand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX);
        }
        st = checkNewPage(r8, OPERAND_R8, lvl, true);
        if (st != TDX_SUCCESS)
            return st;
        sept.set(page, idx, SeptTree.entry(PENDING, r8));
        chldcnt += levelPages(lvl);
        pamt.set(r8 >>> 12, lvl, Pamt.entry(Pamt.PT_REG, lvl, TD_ID, 0));
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.RANGE.BLOCK (leaf 7): RCX = GPA|level, RDX = TDR; SEPT tree exclusive. New walks no longer see the
     * entry; the page (or the child S-EPT page) is stamped with the current epoch. No TLB flush here.
     */
    public synchronized long tdhMemRangeBlock(long rcx, long rdx, Regs out) {
        out = regs(out);
        long st = prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MEM_RANGE_BLOCK);
        if (st != TDX_SUCCESS)
            return st;
        long pos = locateEntry(rcx, 0, eptLevels - 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (SeptState.anyBlocked(s))
            return TDX_GPA_RANGE_ALREADY_BLOCKED;
        if (!SeptState.allowed(SeptState.ALLOW_RANGE_BLOCK, s)) {
            details(out, pos);
            return withOperand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX);
        }
        sept.set(page, idx, SeptTree.withState(e, SeptState.blocked(s)));
        pamt.setBepoch(blockedFrame(e), tdEpoch);
        return TDX_SUCCESS;
    }

    /** TDH.MEM.RANGE.UNBLOCK (leaf 39): undoes BLOCK once the blocking epoch is tracked (RUNNABLE). */
    public synchronized long tdhMemRangeUnblock(long rcx, long rdx, Regs out) {
        out = regs(out);
        long st = prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MEM_RANGE_UNBLOCK);
        if (st != TDX_SUCCESS)
            return st;
        long pos = locateEntry(rcx, 0, eptLevels - 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_RANGE_UNBLOCK, s)) {
            details(out, pos);
            return withOperand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX);
        }
        if (trackingRequired(s) && !isTracked(Pamt.bepoch(pamt.get(blockedFrame(e)))))
            return withOperand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_SEPT_TREE);
        sept.set(page, idx, SeptTree.withState(e, SeptState.unblocked(s)));
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.TRACK (leaf 38): RCX = TDR. Needs nobody still running in the previous epoch; the TD epoch grows by
     * one. vCPUs already inside keep their epoch until they exit: the host must kick them.
     */
    public synchronized long tdhMemTrack(long rcx) {
        long st = prologue(rcx, OPERAND_RCX, 0, Seamcall.TDH_MEM_TRACK);
        if (st != TDX_SUCCESS)
            return st;
        if (busy())
            return withOperand(TDX_OPERAND_BUSY, OPERAND_TD_EPOCH);
        if (refcount[(int) ((tdEpoch - 1) & 1)] != 0)
            return TDX_PREVIOUS_TLB_EPOCH_BUSY;
        tdEpoch++;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.REMOVE (leaf 29): RCX = GPA|level (0 … 2), RDX = TDR; SEPT tree shared. While RUNNABLE the
     * leaf must be blocked and its blocking epoch tracked. The entry becomes FREE; the page goes back to the host
     * still encrypted with the TD key (it needs a WBINVD with the HKID and a clear before reuse). RCX = its HPA.
     */
    public synchronized long tdhMemPageRemove(long rcx, long rdx, Regs out) {
        out = regs(out);
        long st = prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MEM_PAGE_REMOVE);
        if (st != TDX_SUCCESS)
            return st;
        int lvl = level(rcx);
        long pos = locateEntry(rcx, 0, 2, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_REMOVE, s)) {
            details(out, pos);
            // TDX 1.0 names the case: a non-leaf, or a free entry ([U] for FREE)
            long code = version == Version.V1_5 ? TDX_EPT_ENTRY_STATE_INCORRECT
                    : SeptState.isNonLeaf(s) ? TDX_EPT_ENTRY_NOT_LEAF : TDX_EPT_ENTRY_FREE;
            return withOperand(code, OPERAND_RCX);
        }
        if (busy()) // the removed page's PAMT entry, exclusive
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX);
        long pfn = SeptTree.hpa(e) >>> 12;
        if (trackingRequired(s)) {
            if (!SeptState.anyBlocked(s)) {
                details(out, pos);
                return withOperand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX);
            }
            if (!isTracked(Pamt.bepoch(pamt.get(pfn))))
                return withOperand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX);
        }
        sept.set(page, idx, SeptTree.entry(FREE, 0));
        chldcnt -= levelPages(lvl);
        pamt.free(pfn, lvl, hkid);
        out.rcx = SeptTree.hpa(e);
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.SEPT.REMOVE (leaf 30): RCX = GPA|level (1 … levels−1) of the entry that links an S-EPT page; SEPT tree
     * exclusive. Every child entry must be FREE, which forces leaf-first teardown. RCX = the freed page's HPA.
     */
    public synchronized long tdhMemSeptRemove(long rcx, long rdx, Regs out) {
        out = regs(out);
        long st = prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MEM_SEPT_REMOVE);
        if (st != TDX_SUCCESS)
            return st;
        long pos = locateEntry(rcx, 1, eptLevels - 1, out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_SEPT_REMOVE, s)) {
            details(out, pos);
            long code = version == Version.V1_5 ? TDX_EPT_ENTRY_STATE_INCORRECT
                    : SeptState.isLeaf(s) ? TDX_EPT_ENTRY_LEAF : TDX_EPT_ENTRY_FREE; // 1.0 [U]
            return withOperand(code, OPERAND_RCX);
        }
        if (busy()) // the child page's PAMT entry
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX);
        long childPfn = SeptTree.hpa(e) >>> 12;
        if (trackingRequired(s)) {
            if (s != NL_BLOCKED) {
                details(out, pos);
                return withOperand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX);
            }
            if (!isTracked(Pamt.bepoch(pamt.get(childPfn))))
                return withOperand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX);
        }
        int child = sept.child(page, idx);
        if (!sept.allFree(child))
            return withOperand(version == Version.V1_5 ? TDX_EPT_PAGE_NOT_FREE : TDX_EPT_ENTRY_NOT_FREE, OPERAND_RCX);
        sept.set(page, idx, SeptTree.entry(FREE, 0));
        sept.setChild(page, idx, 0);
        sept.free(child);
        chldcnt--;
        pamt.free(childPfn, Pamt.SIZE_4K, hkid);
        out.rcx = childPfn << 12;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.PROMOTE (leaf 23): RCX = GPA|level (1 → 2M leaf, 2 → 1G leaf). The 512 children must be uniform
     * MAPPED or PENDING leaves of one aligned contiguous page; they become one leaf and the child S-EPT page is freed
     * (RCX = its HPA). Host interrupts (INTERRUPTED_RESTARTABLE) and PAMT merge failures are not modelled.
     */
    public synchronized long tdhMemPagePromote(long rcx, long rdx, Regs out) {
        out = regs(out);
        long st = prologue(rdx, OPERAND_RDX, 0, Seamcall.TDH_MEM_PAGE_PROMOTE);
        if (st != TDX_SUCCESS)
            return st;
        int lvl = level(rcx);
        long pos = locateEntry(rcx, 1, Math.min(2, eptLevels - 1), out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_PROMOTE, s)) {
            details(out, pos);
            return withOperand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_RCX);
        }
        long childPfn = SeptTree.hpa(e) >>> 12;
        if (trackingRequired(s)) {
            if (s != NL_BLOCKED) {
                details(out, pos);
                return withOperand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX);
            }
            if (!isTracked(Pamt.bepoch(pamt.get(childPfn))))
                return withOperand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX);
        }
        if (busy()) // host locks of the 512 child entries
            return withOperand(TDX_OPERAND_BUSY, OPERAND_RCX);
        int child = sept.child(page, idx);
        long c0 = sept.get(child, 0);
        int s0 = SeptTree.state(c0);
        long base = SeptTree.hpa(c0);
        long childBytes = levelPages(lvl - 1) << 12;
        boolean ok = (s0 == MAPPED || s0 == PENDING) && (base & ((levelPages(lvl) << 12) - 1)) == 0;
        for (int i = 1; ok && i < 512; i++) {
            long c = sept.get(child, i);
            ok = SeptTree.state(c) == s0 && SeptTree.hpa(c) == base + i * childBytes;
        }
        if (!ok)
            return withOperand(TDX_EPT_INVALID_PROMOTE_CONDITIONS, OPERAND_RCX);
        sept.set(page, idx, SeptTree.entry(s0, base));
        sept.setChild(page, idx, 0);
        sept.free(child);
        chldcnt--;
        pamt.free(childPfn, Pamt.SIZE_4K, hkid);
        pamt.set(base >>> 12, lvl, Pamt.entry(Pamt.PT_REG, lvl, TD_ID, 0));
        out.rcx = childPfn << 12;
        return TDX_SUCCESS;
    }

    /**
     * TDH.MEM.PAGE.DEMOTE (leaf 15): RCX = GPA|level (1 or 2) of a large leaf, R8 = a new S-EPT page. The leaf
     * becomes NL_MAPPED → the new page, holding 512 smaller leaves in the unblocked form of its state.
     */
    public synchronized long tdhMemPageDemote(long rcx, long rdx, long r8, Regs out) {
        out = regs(out);
        if ((rdx & ~HPA_MASK & ~1L) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RDX);
        long st = prologue(rdx, OPERAND_RDX, 1, Seamcall.TDH_MEM_PAGE_DEMOTE);
        if (st != TDX_SUCCESS)
            return st;
        int lvl = level(rcx);
        long gfn = gpa(rcx) >>> 12;
        long pos = locateEntry(rcx, 1, Math.min(2, eptLevels - 1), out);
        if (pos < 0)
            return pos;
        int page = posPage(pos), idx = posIndex(pos);
        long e = sept.get(page, idx);
        int s = SeptTree.state(e);
        if (!SeptState.allowed(SeptState.ALLOW_PAGE_DEMOTE, s)) {
            details(out, pos);
            long code = version == Version.V1_0 && !SeptState.isLeaf(s) ? TDX_EPT_ENTRY_NOT_LEAF
                    : TDX_EPT_ENTRY_STATE_INCORRECT;
            return withOperand(code, OPERAND_RCX);
        }
        long base = SeptTree.hpa(e);
        if (trackingRequired(s)) {
            if (!SeptState.anyBlocked(s)) {
                details(out, pos);
                return withOperand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_RCX);
            }
            if (!isTracked(Pamt.bepoch(pamt.get(base >>> 12))))
                return withOperand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_RCX);
        }
        st = checkNewPage(r8, OPERAND_R8, Pamt.SIZE_4K, true);
        if (st != TDX_SUCCESS)
            return st;
        int small = SeptState.unblocked(s);
        long childPages = levelPages(lvl - 1);
        int child = sept.alloc(lvl - 1, gfn & -levelPages(lvl), r8 >>> 12);
        for (int i = 0; i < 512; i++) {
            sept.set(child, i, SeptTree.entry(small, base + ((i * childPages) << 12)));
            pamt.set((base >>> 12) + i * childPages, lvl - 1, Pamt.entry(Pamt.PT_REG, lvl - 1, TD_ID, 0));
        }
        sept.set(page, idx, SeptTree.entry(NL_MAPPED, r8));
        sept.setChild(page, idx, child);
        pamt.set(r8 >>> 12, Pamt.SIZE_4K, Pamt.entry(Pamt.PT_EPT, Pamt.SIZE_4K, TD_ID, 0));
        chldcnt++;
        return TDX_SUCCESS;
    }

    // ==== physical-page leaves (no TD operand) ====================================================================

    /**
     * TDH.PHYMEM.PAGE.WBINVD (leaf 41): RCX = HPA with the KeyID bits set. Writes back and invalidates the page's
     * lines of that KeyID. The page must be free in the PAMT.
     */
    public synchronized long tdhPhymemPageWbinvd(long rcx) {
        if ((rcx & 0xFFF) != 0 || (rcx >>> 52) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long pfn = (rcx & ((1L << KEYID_SHIFT) - 1)) >>> 12;
        int keyId = (int) (rcx >>> KEYID_SHIFT);
        if (pfn >= tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX);
        if (pamt.typeOf(pfn) != Pamt.PT_NDA)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        pamt.flush(pfn, keyId);
        return TDX_SUCCESS;
    }

    /**
     * TDH.PHYMEM.PAGE.RECLAIM (leaf 28): RCX = HPA (no KeyID). Takes a TD page back after the TD's HKID was
     * released (owner in TEARDOWN); the TDR last, once nothing else is owned. Outputs RCX = old page type, RDX =
     * owner TDR, R8 = page size.
     */
    public synchronized long tdhPhymemPageReclaim(long rcx, Regs out) {
        out = regs(out);
        if ((rcx & 0xFFF) != 0 || (rcx >>> KEYID_SHIFT) != 0)
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        long pfn = rcx >>> 12;
        if (pfn >= tdmrLimitPfn)
            return withOperand(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_RCX);
        long e = pamt.get(pfn);
        int type = Pamt.type(e);
        if (type == Pamt.PT_NDA || type == Pamt.PT_RSVD)
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        int size = Pamt.size(e);
        if ((pfn & (Pamt.pages(size) - 1)) != 0) // [U: exact status for a misaligned large page]
            return withOperand(TDX_PAGE_METADATA_INCORRECT, OPERAND_RCX);
        if (lifecycle != LC_TEARDOWN)
            return TDX_LIFECYCLE_STATE_INCORRECT;
        if (type == Pamt.PT_TDR && chldcnt != 0)
            return TDX_TD_ASSOCIATED_PAGES_EXIST;
        out.rcx = type;
        out.rdx = tdrPfn << 12;
        out.r8 = size;
        if (type == Pamt.PT_TDR) {
            // the module used the TDR with its global KeyID: a WBINVD with that KeyID precedes its reuse
            pamt.free(pfn, Pamt.SIZE_4K, GLOBAL_KEYID);
            tdrPfn = -1;
            lifecycle = LC_NONE;
            return TDX_SUCCESS;
        }
        pamt.free(pfn, size, -1);
        chldcnt -= Pamt.pages(size);
        if (type == Pamt.PT_EPT) {
            int page = sept.pageAt(pfn);
            if (page != 0)
                sept.free(page);
        } else if (type == Pamt.PT_TDCX && rootPage != 0 && sept.framePfn(rootPage) == pfn) {
            sept.free(rootPage);
            rootPage = 0;
        }
        return TDX_SUCCESS;
    }

    // ==== vCPUs and the guest side ===============================================================================

    /** TDH.VP.ENTER's epoch part (A.5): counted in the current epoch; a stale vCPU epoch flushes the TD's EPT TLB. */
    private boolean enter(int v, boolean mayEnter) {
        if (inGuest[v])
            return true;
        if (!mayEnter || opState != OP_RUNNABLE || lifecycle != LC_KEYS_CONFIGURED || !vcpuInitialized[v])
            return false;
        refcount[(int) (tdEpoch & 1)]++;
        if (vcpuEpoch[v] != tdEpoch) {
            eptFlushes++;
            vcpuEpoch[v] = tdEpoch;
        }
        inGuest[v] = true;
        enterSeq[v]++;
        vpEnters++;
        return true;
    }

    /** A TD exit of vCPU {@code v} (any reason): it no longer counts in its epoch. */
    public synchronized void tdExit(int v) {
        exit(v);
    }

    private void exit(int v) {
        if (!inGuest[v])
            return;
        refcount[(int) (vcpuEpoch[v] & 1)]--;
        inGuest[v] = false;
    }

    /**
     * The CPU's S-EPT walk for a guest access to the private page {@code gfn} on vCPU {@code v}, entering the TD
     * first if the vCPU is outside (and may enter). Returns {@code pfn | level << 56} (level 1 = 4K), or
     * {@link #G_EPT_VIOLATION} (a TD exit to the host: missing or blocked entry), {@link #G_VE} (a PENDING page with
     * SEPT_VE_DISABLE clear: #VE injected, no exit), {@link #G_PENDING_EXIT} (a PENDING page with SEPT_VE_DISABLE
     * set: a TD exit of type PENDING_EPT_VIOLATION), or {@link #G_NOT_ENTERED}. Allocation-free.
     */
    public synchronized long guestTranslate(int v, long gfn, boolean write, boolean mayEnter) {
        if (!enter(v, mayEnter))
            return G_NOT_ENTERED;
        int page = rootPage;
        for (int l = eptLevels - 1; l >= 0; l--) {
            long e = sept.get(page, SeptTree.index(gfn, l));
            int s = SeptTree.state(e);
            if (s == NL_MAPPED) {
                page = sept.child(page, SeptTree.index(gfn, l));
                continue;
            }
            if (s == MAPPED || (s == SeptState.BLOCKEDW && !write))
                return ((SeptTree.hpa(e) >>> 12) + (gfn & (levelPages(l) - 1))) | ((long) (l + 1) << 56);
            if (s == PENDING) {
                if ((attributes & ATTR_SEPT_VE_DISABLE) == 0)
                    return G_VE;
                exit(v);
                return G_PENDING_EXIT;
            }
            break; // FREE, NL_BLOCKED, BLOCKED, PENDING_BLOCKED …: an EPT violation
        }
        exit(v);
        return G_EPT_VIOLATION;
    }

    /**
     * TDG.MEM.PAGE.ACCEPT (TDCALL 6) on vCPU {@code v}: RCX = GPA|level (0 or 1). On success the page is zeroed with
     * the TD key and MAPPED (its HPA is then {@link #acceptedHpa(int)}). Where the page is missing or not
     * acceptable the TD exits to the host ({@link TdxStatus#MODEL_TD_EXIT_EPT_VIOLATION}); the guest re-executes.
     * A 2M accept is done in one go (guest interrupts, and so the accept counter, are not modelled).
     */
    public synchronized long tdgMemPageAccept(int v, long rcx, boolean mayEnter) {
        if (!enter(v, mayEnter))
            return TdxStatus.MODEL_NOT_ENTERED;
        if (!validGpaLevel(rcx, 0, 1))
            return withOperand(TDX_OPERAND_INVALID, OPERAND_RCX);
        int lvl = level(rcx);
        long pos = guestWalk(gpa(rcx) >>> 12, lvl);
        long e = sept.get(posPage(pos), posIndex(pos));
        int s = SeptTree.state(e);
        if (failed(pos)) {
            // stopped above the requested level
            if (SeptState.isGuestAccessibleLeaf(s))
                return withOperand(TDX_PAGE_ALREADY_ACCEPTED, posLevel(pos));
            exit(v);
            return TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION;
        }
        if ((e & SeptTree.HOST_PRIORITY) != 0) // a host SEAMCALL waits for this entry: back off
            return withOperand(TDX_OPERAND_BUSY_HOST_PRIORITY, OPERAND_RCX);
        if (s != FREE && SeptState.isNonLeaf(s))
            return withOperand(TDX_PAGE_SIZE_MISMATCH, lvl);
        if (SeptState.isGuestAccessibleLeaf(s))
            return withOperand(TDX_PAGE_ALREADY_ACCEPTED, lvl);
        if (!SeptState.allowed(SeptState.ALLOW_ACCEPT, s)) {
            exit(v);
            return TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION;
        }
        long pfn = SeptTree.hpa(e) >>> 12;
        for (long i = 0; i < levelPages(lvl); i++)
            if (frames.read(pfn + i) != 0) // a page that reads zero already needs no store
                frames.write(pfn + i, 0);
        sept.set(posPage(pos), posIndex(pos), SeptTree.withState(e, MAPPED));
        acceptedHpa[v] = SeptTree.hpa(e);
        return TDX_SUCCESS;
    }

    /** The HPA of the page vCPU {@code v} last accepted (the guest-side output of a successful ACCEPT). */
    public synchronized long acceptedHpa(int v) {
        return acceptedHpa[v];
    }

    /** For the host's kick: each vCPU's entry count if it is inside the TD, else -1. */
    public synchronized void snapshotEntries(long[] snapshot) {
        for (int v = 0; v < numVcpus; v++)
            snapshot[v] = inGuest[v] ? enterSeq[v] : -1;
    }

    /**
     * After a kick ({@code KVM_REQ_OUTSIDE_GUEST_MODE} returned): every vCPU that was inside at the snapshot and has
     * not entered again since left the TD.
     */
    public synchronized void exitedSince(long[] snapshot) {
        for (int v = 0; v < numVcpus; v++)
            if (inGuest[v] && snapshot[v] == enterSeq[v])
                exit(v);
    }

    /** Every vCPU leaves the TD (teardown). */
    public synchronized void exitAll() {
        for (int v = 0; v < numVcpus; v++)
            exit(v);
    }

    /**
     * The module marks a TD fatal on an unrecoverable condition in it (e.g. a machine check while it ran); every
     * TD-scoped leaf then answers {@code TDX_TD_FATAL}. Nothing in KVM's flows causes it.
     */
    public synchronized void markFatal() {
        fatal = true;
    }

    // ==== inspection ============================================================================================

    public synchronized int opState() {
        return opState;
    }

    public synchronized int lifecycle() {
        return lifecycle;
    }

    public static String lifecycleName(int lc) {
        return LIFECYCLE_NAMES[lc];
    }

    public synchronized int hkid() {
        return hkid;
    }

    public synchronized long tdEpoch() {
        return tdEpoch;
    }

    public synchronized long chldcnt() {
        return chldcnt;
    }

    public synchronized long mrtd() {
        return mrtd;
    }

    public synchronized boolean inGuest(int v) {
        return inGuest[v];
    }

    public synchronized long vcpuEpoch(int v) {
        return vcpuEpoch[v];
    }

    public synchronized int refcount(int parity) {
        return refcount[parity];
    }

    /** How many times vCPUs entered the TD. */
    public synchronized long vpEnters() {
        return vpEnters;
    }

    /** How many entries found a stale vCPU epoch and flushed the TD's EPT TLB contexts. */
    public synchronized long eptFlushes() {
        return eptFlushes;
    }

    public int eptLevels() {
        return eptLevels;
    }

    public Version version() {
        return version;
    }

    /** The PAMT entry of a frame (for checks and tests). */
    public synchronized long pamtEntry(long pfn) {
        return pamt.get(pfn);
    }

    /** The KeyID a freed frame's cache lines may still be dirty with, or -1 (see {@link Pamt}). */
    public synchronized int dirtyKeyId(long pfn) {
        return pamt.dirtyKeyId(pfn);
    }

    /** Whether the module holds nothing any more: no owned page, no page waiting for its WBINVD. */
    public synchronized boolean pamtEmpty() {
        return pamt.isEmpty();
    }

    /** SEPT.RD's view without the SEAMCALL: the entry of {@code level} for {@code gfn} as {@code state | hpa}, or -1. */
    public synchronized long lookup(long gfn, int level) {
        if (rootPage == 0 || lifecycle != LC_KEYS_CONFIGURED)
            return -1;
        long pos = walk(gfn, level);
        if (failed(pos))
            return -1;
        long e = sept.get(posPage(pos), posIndex(pos));
        return SeptTree.state(e) | SeptTree.hpa(e);
    }

    public static int stateOf(long looked) {
        return SeptTree.state(looked);
    }

    public static long hpaOf(long looked) {
        return SeptTree.hpa(looked);
    }

    /** Whether the S-EPT page in that frame still has a present entry (leaf-before-table checks). */
    public synchronized boolean septPageInUse(long framePfn) {
        int page = sept.pageAt(framePfn);
        if (page == 0)
            return false;
        for (int i = 0; i < 512; i++) {
            int s = SeptTree.state(sept.get(page, i));
            // a leaf, or a link to a page not reclaimed yet
            if (SeptState.isPresent(s) && (!SeptState.isNonLeaf(s) || sept.isLive(sept.child(page, i))))
                return true;
        }
        return false;
    }

    /** A visitor of present S-EPT entries: GFN, TDX level, state, HPA. */
    @FunctionalInterface
    public interface EntryVisitor {
        void visit(long gfn, int level, int state, long hpa);
    }

    /** Visits every present entry of the live tree, top-down. */
    public synchronized void forEachPresent(EntryVisitor visitor) {
        if (rootPage == 0 || lifecycle != LC_KEYS_CONFIGURED)
            return;
        visit(rootPage, visitor);
    }

    private void visit(int page, EntryVisitor visitor) {
        int l = sept.level(page);
        for (int i = 0; i < 512; i++) {
            long e = sept.get(page, i);
            int s = SeptTree.state(e);
            if (!SeptState.isPresent(s))
                continue;
            visitor.visit(sept.baseGfn(page) + i * levelPages(l), l, s, SeptTree.hpa(e));
            if (SeptState.isNonLeaf(s))
                visit(sept.child(page, i), visitor);
        }
    }

    /**
     * The module's own invariants (hardware spec A.9 and the epoch rules), one line per violation: I1/I2 tree shape,
     * I3 every leaf's page REG owned at the leaf's size and no aliasing, I2 every S-EPT page EPT-owned, I4
     * {@code chldcnt}, no blocked entry outside a removal in progress, I6 epochs.
     */
    public synchronized void check(List<String> out) {
        if (tdEpoch < maxEpochChecked)
            out.add(String.format("tdx I6: the TD epoch went back from %d to %d", maxEpochChecked, tdEpoch));
        maxEpochChecked = Math.max(maxEpochChecked, tdEpoch);
        int[] inEpoch = new int[2];
        for (int v = 0; v < numVcpus; v++) {
            if (!inGuest[v])
                continue;
            inEpoch[(int) (vcpuEpoch[v] & 1)]++;
            if (vcpuEpoch[v] != tdEpoch && vcpuEpoch[v] != tdEpoch - 1)
                out.add(String.format("tdx I6: vCPU %d runs in epoch %d, the TD epoch is %d", v, vcpuEpoch[v],
                        tdEpoch));
        }
        for (int p = 0; p < 2; p++)
            if (refcount[p] != inEpoch[p])
                out.add(String.format("tdx I6: refcount[%d] = %d but %d vCPUs run in epochs of that parity", p,
                        refcount[p], inEpoch[p]));
        if (lifecycle != LC_KEYS_CONFIGURED || rootPage == 0)
            return;
        long[] counted = new long[2]; // REG 4K units, S-EPT pages
        java.util.Set<Long> seen = new java.util.HashSet<>();
        checkPage(rootPage, out, counted, seen);
        long[] owned = new long[Pamt.PT_TDVPR + 1];
        pamt.forEachAssigned(pfn -> owned[Pamt.type(pamt.get(pfn))]++);
        if (owned[Pamt.PT_REG] != counted[0])
            out.add(String.format("tdx I3: the PAMT holds %d REG 4K pages, the S-EPT maps %d", owned[Pamt.PT_REG],
                    counted[0]));
        if (owned[Pamt.PT_EPT] != counted[1])
            out.add(String.format("tdx I2: the PAMT holds %d EPT pages, the S-EPT links %d", owned[Pamt.PT_EPT],
                    counted[1]));
        long expect = owned[Pamt.PT_REG] + owned[Pamt.PT_EPT] + owned[Pamt.PT_TDCX] + owned[Pamt.PT_TDVPR];
        if (chldcnt != expect)
            out.add(String.format("tdx I4: chldcnt = %d, the TD owns %d 4K units", chldcnt, expect));
    }

    private void checkPage(int page, List<String> out, long[] counted, java.util.Set<Long> seen) {
        int l = sept.level(page);
        for (int i = 0; i < 512; i++) {
            long e = sept.get(page, i);
            int s = SeptTree.state(e);
            if (!SeptState.isPresent(s))
                continue;
            long gfn = sept.baseGfn(page) + i * levelPages(l);
            long pfn = SeptTree.hpa(e) >>> 12;
            if (SeptState.anyBlocked(s))
                out.add(String.format("tdx: gpa 0x%x level %d is %s outside a removal in progress", gfn << 12, l,
                        SeptState.name(s)));
            if (SeptState.isNonLeaf(s)) {
                int child = sept.child(page, i);
                if (l == 0 || !sept.isLive(child) || sept.level(child) != l - 1 || sept.framePfn(child) != pfn)
                    out.add(String.format("tdx I2: gpa 0x%x level %d links no S-EPT page of level %d", gfn << 12, l,
                            l - 1));
                else {
                    long pe = pamt.get(pfn);
                    if (Pamt.type(pe) != Pamt.PT_EPT || Pamt.owner(pe) != TD_ID)
                        out.add(String.format("tdx I2: S-EPT page 0x%x is PAMT %s", pfn << 12,
                                Pamt.typeName(Pamt.type(pe))));
                    counted[1]++;
                    checkPage(child, out, counted, seen);
                }
                continue;
            }
            long pe = pamt.get(pfn);
            if (Pamt.type(pe) != Pamt.PT_REG || Pamt.owner(pe) != TD_ID || Pamt.size(pe) != l)
                out.add(String.format("tdx I3: gpa 0x%x maps page 0x%x whose PAMT is %s size %d, not REG size %d",
                        gfn << 12, pfn << 12, Pamt.typeName(Pamt.type(pe)), Pamt.size(pe), l));
            if (!seen.add(pfn))
                out.add(String.format("tdx I3: page 0x%x is mapped twice", pfn << 12));
            counted[0] += levelPages(l);
        }
    }
}
