package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.TdxAbi.*;

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
 * method is {@code synchronized}: SEAMCALLs and TDCALLs of one TD are serialized, and lock contention is simulated by
 * {@link Contention}; the CPU's S-EPT walk takes the lock only where it changes a vCPU's state ({@link SeptCpuWalk}).
 *
 * <p>This class is the facade and holds the state (the serialized fields, see {@link #saveState}); the leaves live in
 * one class per group — {@link LifecycleLeaves}, {@link SeptMapLeaves}, {@link TlbTracking}, {@link Measurement},
 * {@link PhymemLeaves}, {@link GuestSide} — over the shared {@link TdChecks} and {@link SeptWalk}; read-only views
 * are in {@link Inspection}.
 *
 * <p>Why this file is past ~400 lines: it is the module's whole calling interface — one {@code synchronized}
 * one-line delegation per SEAMCALL/TDCALL leaf and per read-only view, because this object's monitor is what
 * serializes one TD's SEAMCALLs, TDCALLs and hardware walks (see above). The logic is in the groups; splitting the
 * entry points over several objects would split that lock or make every caller pick the right part.
 *
 * <p>Addresses are architectural: GPA|level operands (RCX bits 2:0 = TDX level, 11:3 reserved, 51:12 GPA page, 63:52
 * reserved), HPAs with the KeyID in the bits from {@link TdxAbi#KEYID_SHIFT} up.
 */
public final class TdxModule {

    /** The contents of physical pages (one data token per 4K frame), as the module reads and writes them. */
    public interface Frames {
        long read(long pfn);

        void write(long pfn, long token);
    }

    /** Extended outputs of a SEAMCALL (RCX, RDX, R8): cleared at entry, set on the paths the spec names. */
    public static final class Regs {

        public long rcx, rdx, r8;

        void clear() {
            rcx = rdx = r8 = 0;
        }
    }

    final Version version;
    /** Callbacks into this bundle's VM and its BUSY injection: not state, re-attached after a restore. */
    final Frames frames;
    final Contention contention;
    final long tdmrLimitPfn;
    private final Regs scratch = new Regs();

    // ---- TDR -------------------------------------------------------------------------------------------------
    long tdrPfn = -1;
    int hkid;
    int lifecycle = LC_NONE;
    boolean fatal;
    /** 4K units owned by the TD: REG pages, S-EPT pages, TDCS/TDVPR/TDCX pages (not the TDR). */
    long chldcnt;

    // ---- TDCS ------------------------------------------------------------------------------------------------
    final long[] tdcsPfns = new long[TDCS_PAGES];
    int tdcsAdded;
    int opState = OP_UNINITIALIZED;
    int eptLevels;
    int sharedBit;
    long attributes;
    long tdEpoch;
    final int[] refcount = new int[2];
    long mrtd;
    int rootPage;
    long maxEpochChecked;

    // ---- vCPUs (TDVPS) ----------------------------------------------------------------------------------------
    final int maxVcpus;
    int numVcpus;
    final long[] tdvprPfn;
    final int[] tdcxAdded;
    final boolean[] vcpuInitialized, vcpuFlushed, inGuest;
    final long[] vcpuEpoch, enterSeq, acceptedHpa;
    /** Per vCPU, the extended exit qualification of its last TD exit (see {@link #extExitQualification}). */
    long[] extExitQual;
    long vpEnters, eptFlushes;

    final SeptTree sept = new SeptTree();
    final Pamt pamt = new Pamt();

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
        this.extExitQual = new long[maxVcpus];
        java.util.Arrays.fill(tdvprPfn, -1);
        wire();
    }

    /** A module whose TDMRs cover every frame below the KeyID bits. */
    public TdxModule(Version version, int maxVcpus, Frames frames, Contention contention) {
        this(version, maxVcpus, frames, contention, 1L << (KEYID_SHIFT - 12));
    }

    // The leaf groups keep no state of their own, they act on the fields above (a restored module gets new ones).
    private LifecycleLeaves lifecycleLeaves;
    private SeptMapLeaves mapLeaves;
    private TlbTracking tracking;
    private Measurement measurement;
    private PhymemLeaves phymemLeaves;
    private GuestSide guest;
    private Inspection inspection;

    private void wire() {
        TdChecks checks = new TdChecks(this);
        SeptWalk walk = new SeptWalk(this, checks);
        lifecycleLeaves = new LifecycleLeaves(this, checks);
        tracking = new TlbTracking(this, checks, walk);
        measurement = new Measurement(this, checks, walk);
        mapLeaves = new SeptMapLeaves(this, checks, walk, tracking, measurement);
        phymemLeaves = new PhymemLeaves(this);
        guest = new GuestSide(this, walk);
        inspection = new Inspection(this, walk);
    }

    // ==== hot swap ===============================================================================================

    /**
     * The module's whole state — TDR, TDCS, TDVPS, the S-EPT pages and the PAMT — as plain data, for a backend
     * that takes over the TD after a bundle swap.
     */
    public synchronized ModuleState saveState() {
        return ModuleSnapshot.write(this);
    }

    /**
     * A module with the state {@link #saveState} wrote, driving {@code frames} with {@code contention}.
     *
     * @throws IllegalArgumentException naming what does not fit (a version, an array's length, a page)
     */
    public static TdxModule loadState(ModuleState state, Frames frames, Contention contention) {
        return ModuleSnapshot.read(state, frames, contention);
    }

    /** The extended outputs a leaf writes: the caller's, or scratch ones; cleared at entry. */
    private Regs regs(Regs out) {
        Regs r = out != null ? out : scratch;
        r.clear();
        return r;
    }

    // ==== TD and vCPU lifecycle (LifecycleLeaves) ==================================================================

    public synchronized long tdhMngCreate(long tdrPa, int newHkid) {
        return lifecycleLeaves.mngCreate(tdrPa, newHkid);
    }

    public synchronized long tdhMngKeyConfig(long tdr) {
        return lifecycleLeaves.mngKeyConfig(tdr);
    }

    public synchronized long tdhMngAddcx(long page, long tdr) {
        return lifecycleLeaves.mngAddcx(page, tdr);
    }

    public synchronized long tdhMngInit(long tdr, int gpaw, long tdAttributes) {
        return lifecycleLeaves.mngInit(tdr, gpaw, tdAttributes);
    }

    public synchronized long tdhVpCreate(long tdvpr, long tdr) {
        return lifecycleLeaves.vpCreate(tdvpr, tdr);
    }

    public synchronized long tdhVpAddcx(long page, long tdvpr) {
        return lifecycleLeaves.vpAddcx(page, tdvpr);
    }

    public synchronized long tdhVpInit(long tdvpr) {
        return lifecycleLeaves.vpInit(tdvpr);
    }

    public synchronized long tdhVpFlush(long tdvpr) {
        return lifecycleLeaves.vpFlush(tdvpr);
    }

    public synchronized long tdhMngVpflushdone(long tdr) {
        return lifecycleLeaves.mngVpflushdone(tdr);
    }

    public synchronized long tdhMngKeyFreeid(long tdr) {
        return lifecycleLeaves.mngKeyFreeid(tdr);
    }

    // ==== S-EPT leaves (SeptMapLeaves, TlbTracking) and measurement (Measurement) ===================================

    public synchronized long tdhMemSeptAdd(long rcx, long rdx, long r8, Regs out) {
        return mapLeaves.septAdd(rcx, rdx, r8, regs(out));
    }

    public synchronized long tdhMemPageAdd(long rcx, long rdx, long r8, long r9, Regs out) {
        return mapLeaves.pageAdd(rcx, rdx, r8, r9, regs(out));
    }

    public synchronized long tdhMemPageAug(long rcx, long rdx, long r8, Regs out) {
        return mapLeaves.pageAug(rcx, rdx, r8, regs(out));
    }

    public synchronized long tdhMemPageRemove(long rcx, long rdx, Regs out) {
        return mapLeaves.pageRemove(rcx, rdx, regs(out));
    }

    public synchronized long tdhMemSeptRemove(long rcx, long rdx, Regs out) {
        return mapLeaves.septRemove(rcx, rdx, regs(out));
    }

    public synchronized long tdhMemRangeBlock(long rcx, long rdx, Regs out) {
        return tracking.rangeBlock(rcx, rdx, regs(out));
    }

    public synchronized long tdhMemRangeUnblock(long rcx, long rdx, Regs out) {
        return tracking.rangeUnblock(rcx, rdx, regs(out));
    }

    public synchronized long tdhMemTrack(long rcx) {
        return tracking.track(rcx);
    }

    public synchronized long tdhMemPagePromote(long rcx, long rdx, Regs out) {
        return mapLeaves.promote(rcx, rdx, regs(out));
    }

    public synchronized long tdhMemPageDemote(long rcx, long rdx, long r8, Regs out) {
        return mapLeaves.demote(rcx, rdx, r8, regs(out));
    }

    public synchronized long tdhMrExtend(long rcx, long rdx, Regs out) {
        regs(out);
        return measurement.extend(rcx, rdx);
    }

    public synchronized long tdhMrFinalize(long rcx) {
        return measurement.finalizeTd(rcx);
    }

    // ==== physical-page leaves, no TD operand (PhymemLeaves) =======================================================

    public synchronized long tdhPhymemCacheWb() {
        return phymemLeaves.cacheWb();
    }

    public synchronized long tdhPhymemPageWbinvd(long rcx) {
        return phymemLeaves.pageWbinvd(rcx);
    }

    public synchronized long tdhPhymemPageReclaim(long rcx, Regs out) {
        return phymemLeaves.pageReclaim(rcx, regs(out));
    }

    // ==== vCPUs and the guest side (GuestSide) =====================================================================

    /** A TD exit of vCPU {@code v} (any reason): it no longer counts in its epoch. */
    public synchronized void tdExit(int v) {
        guest.exit(v);
    }

    /**
     * The CPU's S-EPT walk for a guest access to the private page {@code gfn} on vCPU {@code v}, entering the TD
     * first if the vCPU is outside (and may enter). Returns {@code pfn | level << 56} (level 1 = 4K), or
     * {@link #G_EPT_VIOLATION} (a TD exit to the host: missing or blocked entry), {@link #G_VE} (a PENDING page with
     * SEPT_VE_DISABLE clear: #VE injected, no exit), {@link #G_PENDING_EXIT} (a PENDING page with SEPT_VE_DISABLE
     * set: a TD exit of type PENDING_EPT_VIOLATION), or {@link #G_NOT_ENTERED}. Allocation-free.
     */
    public synchronized long guestTranslate(int v, long gfn, boolean write, boolean mayEnter) {
        return guest.translate(v, gfn, write, mayEnter);
    }

    /** TDG.MEM.PAGE.ACCEPT (TDCALL 6) on vCPU {@code v}: RCX = GPA|level (0 or 1); see GuestSide. */
    public synchronized long tdgMemPageAccept(int v, long rcx, boolean mayEnter) {
        return guest.accept(v, rcx, mayEnter);
    }

    /**
     * The extended exit qualification of vCPU {@code v}'s last TD exit to the host ({@code EXT_EXIT_QUALIFICATION},
     * which KVM reads on an EPT violation): {@link #EEQ_ACCEPT} with the requested level when a TDG.MEM.PAGE.ACCEPT
     * made the TD exit, {@link #EEQ_PENDING_EPT_VIOLATION} for an access to a PENDING page, else {@link #EEQ_NONE}.
     * An output register of the vCPU, read by the vCPU's own thread after its exit: not under the module's lock (a
     * backend swap hands the vCPU over through the core's gate, which orders the restored value before the read).
     */
    public long extExitQualification(int v) {
        return extExitQual[v];
    }

    /**
     * The HPA of the page vCPU {@code v} last accepted (the guest-side output of a successful ACCEPT), read by the
     * vCPU's own thread after its TDCALL, like {@link #extExitQualification}.
     */
    public long acceptedHpa(int v) {
        return acceptedHpa[v];
    }

    /** For the host's kick: each vCPU's entry count if it is inside the TD, else -1. */
    public synchronized void snapshotEntries(long[] snapshot) {
        guest.snapshotEntries(snapshot);
    }

    /**
     * After a kick ({@code KVM_REQ_OUTSIDE_GUEST_MODE} returned): every vCPU that was inside at the snapshot and has
     * not entered again since left the TD.
     */
    public synchronized void exitedSince(long[] snapshot) {
        guest.exitedSince(snapshot);
    }

    /** Every vCPU leaves the TD (teardown). */
    public synchronized void exitAll() {
        guest.exitAll();
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

    /** SEPT.RD's view without the SEAMCALL: the entry of {@code level} for {@code gfn} as {@code state|hpa}, or -1. */
    public synchronized long lookup(long gfn, int level) {
        return inspection.lookup(gfn, level);
    }

    /** Whether the S-EPT page in that frame still has a present entry (leaf-before-table checks). */
    public synchronized boolean septPageInUse(long framePfn) {
        return inspection.septPageInUse(framePfn);
    }

    /** A visitor of present S-EPT entries: GFN, TDX level, state, HPA. */
    @FunctionalInterface
    public interface EntryVisitor {
        void visit(long gfn, int level, int state, long hpa);
    }

    /** Visits every present entry of the live tree, top-down. */
    public synchronized void forEachPresent(EntryVisitor visitor) {
        inspection.forEachPresent(visitor);
    }

    /**
     * The module's own invariants (hardware spec A.9 and the epoch rules), one line per violation: I1/I2 tree shape,
     * I3 every leaf's page REG owned at the leaf's size and no aliasing, I2 every S-EPT page EPT-owned, I4
     * {@code chldcnt}, no blocked entry outside a removal in progress, I6 epochs.
     */
    public synchronized void check(List<String> out) {
        inspection.check(out);
    }
}
