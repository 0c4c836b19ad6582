package org.tdplab.backend.tdx.module;

import static org.tdplab.backend.tdx.module.TdxAbi.*;

import org.tdplab.percpu.PercpuCounters;

/**
 * A simulated Intel TDX module serving one TD: its TDR/TDCS (lifecycle, HKID, OP_STATE, epochs, MRTD), its vCPUs'
 * TDVPS epoch state, its Secure-EPT ({@link SeptTree}) and the PAMT entries of every physical page it was given
 * ({@link Pamt}). The real module is one per platform with a global PAMT; one instance per TD is equivalent here
 * because the host allocator never hands one frame to two TDs.
 *
 * <p>Each leaf is a check-then-commit function following hardware spec A.6: the common TD checks of A.2 first, then
 * the leaf's preconditions in the table's order, so the first failing row decides the status; a failed leaf changes
 * nothing except the host-priority bit (I10). Extended error outputs (RCX/RDX) go to a {@link Regs}. Every public
 * method takes the module's {@link ModuleLock}: a fault's TDH.MEM.SEPT.ADD, TDH.MEM.PAGE.AUG and TDG.MEM.PAGE.ACCEPT
 * shared (they exclude each other per S-EPT entry), everything else exclusively; contention of the locks the model
 * does not take is simulated by {@link Contention}; the CPU's S-EPT walk takes the lock only where it changes a vCPU's
 * state ({@link SeptCpuWalk}).
 *
 * <p>This class is the facade and holds the state (the serialized fields, see {@link #saveState}); the leaves live in
 * one class per group — {@link LifecycleLeaves}, {@link SeptMapLeaves}, {@link TlbTracking}, {@link Measurement},
 * {@link PhymemLeaves}, {@link GuestSide} — over the shared {@link TdChecks} and {@link SeptWalk}; the read-only
 * views are {@link #view()} ({@link ModuleView}, over {@link Inspection}).
 *
 * <p>Every SEAMCALL/TDCALL leaf has its one locked delegation here, because this object's lock is what orders one
 * TD's SEAMCALLs, TDCALLs and hardware walks (see above); the logic is in the groups.
 *
 * <p>Addresses are architectural: GPA|level operands (RCX bits 2:0 = TDX level, 11:3 reserved, 51:12 GPA page, 63:52
 * reserved), HPAs with the KeyID in the bits from {@link TdxAbi#KEYID_SHIFT} up.
 */
public final class TdxModule {
    /** Extended outputs of a SEAMCALL (RCX, RDX, R8): cleared at entry, set on the paths the spec names. */
    public static final class Regs {
        public long rcx, rdx, r8;

        void clear() {
            rcx = rdx = r8 = 0;
        }
    }

    final Version version;
    /** Callbacks into this bundle's VM and its BUSY injection: not state, re-attached after a restore. */
    final PageContents frames;
    final Contention contention;
    final long tdmrLimitPfn;
    private final Regs scratch = new Regs();
    /** The module's lock: shared for a fault's SEPT.ADD, AUG and ACCEPT, else exclusive ({@link ModuleLock}). */
    public final ModuleLock lock;

    // ---- TDR -------------------------------------------------------------------------------------------------
    long tdrPfn = -1;
    int hkid;
    int lifecycle = LC_NONE;
    /** Blocked, and no TDH.PHYMEM.CACHE.WB since: KEY.FREEID waits (teardown only, so not in a snapshot). */
    boolean wbPending;
    boolean fatal;
    /** 4K units owned by the TD: REG pages, S-EPT pages, TDCS/TDVPR/TDCX pages (not the TDR). */
    final ChildCount chldcnt;

    // ---- TDCS ------------------------------------------------------------------------------------------------
    final long[] tdcsPfns = new long[TDCS_PAGES];
    int tdcsAdded;
    int opState = OP_UNINITIALIZED;
    int eptLevels;
    int sharedBit;
    long attributes;
    long tdEpoch;
    // the epoch refcounts (TD_EPOCH_REFCOUNT) are counted in each vCPU's line: see VcpuLines#refcount
    long mrtd;
    int rootPage;
    long maxEpochChecked;

    // ---- vCPUs (TDVPS) ----------------------------------------------------------------------------------------
    /** Each vCPU created, its TDCX pages, initialized, flushed ({@link VcpuLifecycle}). */
    final VcpuLifecycle vcpus;
    /** What entries, exits and accepts write per vCPU: inside the TD, epoch, entry count, accepted HPA, exit info. */
    final VcpuLines lines;

    final SeptTree sept = new SeptTree();
    final Pamt pamt;

    /**
     * @param version the status codes to use
     * @param maxVcpus the TD's MAX_VCPUS
     * @param frames the contents of physical pages
     * @param contention busy injection
     * @param tdmrLimitPfn frames below this are convertible memory (inside a TDMR)
     * @param dynamicPamt Dynamic PAMT configured (TDH.SYS.CONFIG): 4K entries need a pair of pages per 2M range
     */
    public TdxModule(Version version, int maxVcpus, PageContents frames, Contention contention, long tdmrLimitPfn,
            boolean dynamicPamt) {
        this.version = version;
        this.lock = new ModuleLock(maxVcpus);
        this.chldcnt = new ChildCount(lock);
        this.pamt = new Pamt(dynamicPamt);
        this.frames = frames;
        this.contention = contention;
        this.tdmrLimitPfn = tdmrLimitPfn;
        this.vcpus = new VcpuLifecycle(maxVcpus);
        this.lines = new VcpuLines(maxVcpus);
        wire();
    }

    public TdxModule(Version version, int maxVcpus, PageContents frames, Contention contention, long tdmrLimitPfn) {
        this(version, maxVcpus, frames, contention, tdmrLimitPfn, false);
    }

    /** A module whose TDMRs cover every frame below the KeyID bits. */
    public TdxModule(Version version, int maxVcpus, PageContents frames, Contention contention) {
        this(version, maxVcpus, frames, contention, false);
    }

    /** A module whose TDMRs cover every frame below the KeyID bits, with Dynamic PAMT or not. */
    public TdxModule(Version version, int maxVcpus, PageContents frames, Contention contention, boolean dynamicPamt) {
        this(version, maxVcpus, frames, contention, 1L << (KEYID_SHIFT - 12), dynamicPamt);
    }

    // The leaf groups keep no state of their own, they act on the fields above (a restored module gets new ones).
    private LifecycleLeaves lifecycleLeaves;
    private SeptMapLeaves mapLeaves;
    private TlbTracking tracking;
    private Measurement measurement;
    private PhymemLeaves phymemLeaves;
    /** WBINVD's leaf, made once: it runs per page zapped, where a capturing lambda would be allocated per call. */
    private final java.util.function.LongBinaryOperator pageWbinvd = (rcx, unused) -> phymemLeaves.pageWbinvd(rcx);
    private GuestSide guest;
    private ModuleView view;

    private void wire() {
        TdChecks checks = new TdChecks(this);
        SeptWalk walk = new SeptWalk(this, checks);
        lifecycleLeaves = new LifecycleLeaves(this, checks);
        tracking = new TlbTracking(this, checks, walk);
        measurement = new Measurement(this, checks, walk);
        mapLeaves = new SeptMapLeaves(this, checks, walk, tracking, measurement);
        phymemLeaves = new PhymemLeaves(this, checks);
        guest = new GuestSide(this, walk);
        view = new ModuleView(this, new Inspection(this, walk));
    }

    // ==== hot swap ===============================================================================================

    /**
     * The module's whole state — TDR, TDCS, TDVPS, the S-EPT pages and the PAMT — as plain data, for a backend
     * that takes over the TD after a bundle swap.
     */
    public ModuleState saveState() {
        return lock.exclusiveGet(() -> ModuleSnapshot.write(this));
    }

    /**
     * A module with the state {@link #saveState} wrote, driving {@code frames} with {@code contention}.
     *
     * @throws IllegalArgumentException naming what does not fit (a version, an array's length, a page)
     */
    public static TdxModule loadState(ModuleState state, PageContents frames, Contention contention) {
        return ModuleSnapshot.read(state, frames, contention);
    }

    /** The extended outputs a leaf writes: the caller's, or scratch ones; cleared at entry. */
    private Regs regs(Regs out) {
        Regs r = out != null ? out : scratch;
        r.clear();
        return r;
    }

    // ==== TD and vCPU lifecycle (LifecycleLeaves) ==================================================================

    public long tdhMngCreate(long tdrPa, int newHkid) {
        return lock.exclusive(() -> lifecycleLeaves.mngCreate(tdrPa, newHkid));
    }

    public long tdhMngKeyConfig(long tdr) {
        return lock.exclusive(() -> lifecycleLeaves.mngKeyConfig(tdr));
    }

    public long tdhMngAddcx(long page, long tdr) {
        return lock.exclusive(() -> lifecycleLeaves.mngAddcx(page, tdr));
    }

    public long tdhMngInit(long tdr, int gpaw, long tdAttributes) {
        return lock.exclusive(() -> lifecycleLeaves.mngInit(tdr, gpaw, tdAttributes));
    }

    public long tdhVpCreate(long tdvpr, long tdr) {
        return lock.exclusive(() -> lifecycleLeaves.vpCreate(tdvpr, tdr));
    }

    public long tdhVpAddcx(long page, long tdvpr) {
        return lock.exclusive(() -> lifecycleLeaves.vpAddcx(page, tdvpr));
    }

    public long tdhVpInit(long tdvpr) {
        return lock.exclusive(() -> lifecycleLeaves.vpInit(tdvpr));
    }

    public long tdhVpFlush(long tdvpr) {
        return lock.exclusive(() -> lifecycleLeaves.vpFlush(tdvpr));
    }

    public long tdhMngVpflushdone(long tdr) {
        return lock.exclusive(() -> lifecycleLeaves.mngVpflushdone(tdr));
    }

    public long tdhMngKeyFreeid(long tdr) {
        return lock.exclusive(() -> lifecycleLeaves.mngKeyFreeid(tdr));
    }

    // ==== S-EPT leaves (SeptMapLeaves, TlbTracking) and measurement (Measurement) ===================================

    /** Holds the lock shared, like AUG: a fault that links a new S-EPT page does not stop the others. */
    public long tdhMemSeptAdd(long rcx, long rdx, long r8, Regs out) {
        return sharedLeaf(false, rcx, rdx, r8, out);
    }

    public long tdhMemPageAdd(long rcx, long rdx, long r8, long r9, Regs out) {
        return lock.exclusive(() -> mapLeaves.pageAdd(rcx, rdx, r8, r9, regs(out)));
    }

    /** Holds the lock shared: AUGs and ACCEPTs of other entries run at once ({@link ModuleLock}). */
    public long tdhMemPageAug(long rcx, long rdx, long r8, Regs out) {
        return sharedLeaf(true, rcx, rdx, r8, out);
    }

    /** A host leaf that holds the lock shared (AUG, SEPT.ADD); the scratch outputs are the exclusive leaves'. */
    private long sharedLeaf(boolean aug, long rcx, long rdx, long r8, Regs out) {
        Regs r = out != null ? out : new Regs();
        r.clear();
        PercpuCounters.Row held = lock.lockShared();
        try {
            return aug ? mapLeaves.pageAug(rcx, rdx, r8, r, held) : mapLeaves.septAdd(rcx, rdx, r8, r, held);
        } finally {
            lock.unlockShared(held);
        }
    }

    public long tdhMemPageRemove(long rcx, long rdx, Regs out) {
        return lock.exclusive(() -> mapLeaves.pageRemove(rcx, rdx, regs(out)));
    }

    public long tdhMemSeptRemove(long rcx, long rdx, Regs out) {
        return lock.exclusive(() -> mapLeaves.septRemove(rcx, rdx, regs(out)));
    }

    public long tdhMemRangeBlock(long rcx, long rdx, Regs out) {
        return lock.exclusive(() -> tracking.rangeBlock(rcx, rdx, regs(out)));
    }

    public long tdhMemRangeUnblock(long rcx, long rdx, Regs out) {
        return lock.exclusive(() -> tracking.rangeUnblock(rcx, rdx, regs(out)));
    }

    public long tdhMemTrack(long rcx) {
        return lock.exclusive(() -> tracking.track(rcx));
    }

    public long tdhMemPagePromote(long rcx, long rdx, Regs out) {
        return lock.exclusive(() -> mapLeaves.promote(rcx, rdx, regs(out)));
    }

    public long tdhMemPageDemote(long rcx, long rdx, long r8, Regs out) {
        return tdhMemPageDemote(rcx, rdx, r8, 0, 0, out);
    }

    /** DEMOTE with Dynamic PAMT: R12 and R13 are the pair a 2M page's range takes for its new 4K entries. */
    public long tdhMemPageDemote(long rcx, long rdx, long r8, long r12, long r13, Regs out) {
        return lock.exclusive(() -> mapLeaves.demote(rcx, rdx, r8, r12, r13, regs(out)));
    }

    public long tdhMrExtend(long rcx, long rdx, Regs out) {
        return lock.exclusive(() -> {
            regs(out);
            return measurement.extend(rcx, rdx);
        });
    }

    public long tdhMrFinalize(long rcx) {
        return lock.exclusive(() -> measurement.finalizeTd(rcx));
    }

    // ==== physical-page leaves, no TD operand (PhymemLeaves) =======================================================

    public long tdhPhymemCacheWb() {
        return lock.exclusive(() -> phymemLeaves.cacheWb());
    }

    public long tdhPhymemPageWbinvd(long rcx) {
        return lock.exclusive(rcx, 0, pageWbinvd); // one per page zapped: no lambda to allocate per call
    }

    public long tdhPhymemPageReclaim(long rcx, Regs out) {
        return lock.exclusive(() -> phymemLeaves.pageReclaim(rcx, regs(out)));
    }

    public long tdhPhymemPamtAdd(long rcx, long rdx, long r8) {
        return lock.exclusive(() -> phymemLeaves.pamtAdd(rcx, rdx, r8));
    }

    public long tdhPhymemPamtRemove(long rcx, Regs out) {
        return lock.exclusive(() -> phymemLeaves.pamtRemove(rcx, regs(out)));
    }

    // ==== vCPUs and the guest side (GuestSide) =====================================================================

    /** A TD exit of vCPU {@code v} (any reason): it no longer counts in its epoch. */
    public void tdExit(int v) {
        lock.exclusiveRun(() -> guest.exit(v));
    }

    /**
     * The CPU's S-EPT walk for a guest access to the private page {@code gfn} on vCPU {@code v}, entering the TD
     * first if the vCPU is outside (and may enter). Returns {@code pfn | level << 56} (level 1 = 4K), or
     * {@link #G_EPT_VIOLATION} (a TD exit to the host: missing or blocked entry), {@link #G_VE} (a PENDING page with
     * SEPT_VE_DISABLE clear: #VE injected, no exit), {@link #G_PENDING_EXIT} (a PENDING page with SEPT_VE_DISABLE
     * set: a TD exit of type PENDING_EPT_VIOLATION), or {@link #G_NOT_ENTERED}. Allocation-free.
     */
    public long guestTranslate(int v, long gfn, boolean write, boolean mayEnter) {
        return lock.exclusive(() -> guest.translate(v, gfn, write, mayEnter));
    }

    /** TDG.MEM.PAGE.ACCEPT (TDCALL 6) on vCPU {@code v}: RCX = GPA|level (0 or 1); see GuestSide. */
    public long tdgMemPageAccept(int v, long rcx, boolean mayEnter) {
        return tdgMemPageAccept(v, rcx, mayEnter ? () -> true : () -> false);
    }

    /**
     * {@link #tdgMemPageAccept(int, long, boolean)}, whether the vCPU may enter read holding the lock (KVM's entry).
     */
    public long tdgMemPageAccept(int v, long rcx, java.util.function.BooleanSupplier mayEnter) {
        lock.lockShared(v);
        try {
            return guest.accept(v, rcx, mayEnter.getAsBoolean());
        } finally {
            lock.unlockShared(v);
        }
    }

    /**
     * The extended exit qualification of vCPU {@code v}'s last TD exit to the host ({@code EXT_EXIT_QUALIFICATION},
     * which KVM reads on an EPT violation): {@link #EEQ_ACCEPT} with the requested level when a TDG.MEM.PAGE.ACCEPT
     * made the TD exit, {@link #EEQ_PENDING_EPT_VIOLATION} for an access to a PENDING page, else {@link #EEQ_NONE}.
     * An output register of the vCPU, read by the vCPU's own thread after its exit: not under the module's lock (a
     * backend swap hands the vCPU over through the core's gate, which orders the restored value before the read).
     */
    public long extExitQualification(int v) {
        return lines.extExitQual(v);
    }

    /**
     * The HPA of the page vCPU {@code v} last accepted (the guest-side output of a successful ACCEPT), read by the
     * vCPU's own thread after its TDCALL, like {@link #extExitQualification}.
     */
    public long acceptedHpa(int v) {
        return lines.acceptedHpa(v);
    }

    /** For the host's kick: each vCPU's entry count if it is inside the TD, else -1; whether any vCPU is. */
    public boolean snapshotEntries(long[] snapshot) {
        return lock.exclusive(() -> guest.snapshotEntries(snapshot) ? 1 : 0) != 0;
    }

    /**
     * After a kick ({@code KVM_REQ_OUTSIDE_GUEST_MODE} returned): every vCPU that was inside at the snapshot and has
     * not entered again since left the TD.
     */
    public void exitedSince(long[] snapshot) {
        lock.exclusiveRun(() -> guest.exitedSince(snapshot));
    }

    /** Every vCPU leaves the TD (teardown). */
    public void exitAll() {
        lock.exclusiveRun(() -> guest.exitAll());
    }

    /**
     * The module marks a TD fatal on an unrecoverable condition in it (e.g. a machine check while it ran); every
     * TD-scoped leaf then answers {@code TDX_TD_FATAL}. Nothing in KVM's flows causes it.
     */
    public void markFatal() {
        lock.exclusiveRun(() -> fatal = true);
    }

    // ==== inspection ============================================================================================

    /** The read-only views: the TD's fields, the PAMT, S-EPT lookups and the module's invariants. */
    public ModuleView view() {
        return view;
    }

    public int eptLevels() {
        return eptLevels;
    }

    public Version version() {
        return version;
    }
}
