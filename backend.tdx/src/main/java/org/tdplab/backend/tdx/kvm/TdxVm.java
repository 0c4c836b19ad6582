package org.tdplab.backend.tdx.kvm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import org.tdplab.backend.tdx.module.Contention;
import org.tdplab.backend.tdx.module.ModuleState;
import org.tdplab.backend.tdx.module.PageContents;
import org.tdplab.backend.tdx.module.Pamt;
import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxAbi;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.SnapshotCodec;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.percpu.PercpuCounter;

/**
 * KVM's TDX side of one TD ({@code arch/x86/kvm/vmx/tdx.c}, 6.19 semantics): the TD and its vCPUs are built at
 * creation (TDH.MNG.CREATE … TDH.VP.INIT), the mirror hooks become S-EPT SEAMCALLs, the hardware's private
 * translations and the guest's ACCEPT go to the module, {@code tdx.init_mem_region} and {@code tdx.finalize} build
 * the initial image, and teardown releases the HKID before the S-EPT and control pages are reclaimed.
 *
 * <p>Every SEAMCALL is counted and traced under its Intel name through {@link VmContext#firmwareCall}. A status KVM
 * does not expect is a {@code TDX_BUG_ON}: the VM is bugged with the status in the reason.
 */
public final class TdxVm implements VmBackend {
    /** {@code kvm_tdx->state}. */
    static final int TD_STATE_UNINITIALIZED = 0, TD_STATE_INITIALIZED = 1, TD_STATE_RUNNABLE = 2;

    static final ThreadLocal<TdxModule.Regs> REGS = ThreadLocal.withInitial(TdxModule.Regs::new);
    static final int PG_LEVEL_4K = 1, PG_LEVEL_2M = 2;
    /**
     * The model's error-code bits of an EPT violation that came from the guest's TDG.MEM.PAGE.ACCEPT (extended exit
     * qualification type ACCEPT): bit 40, and the requested TDX level in bits 42:41. Not kernel PFERR bits (KVM reads
     * the qualification); they let a trace's {@code kvm_page_fault} carry it, so a replay honours it too.
     */
    static final long PFERR_ACCEPT = 1L << 40;
    static final int PFERR_ACCEPT_LEVEL_SHIFT = 41;

    final VmContext ctx;
    final TdxOptions options;
    final HkidPool hkids;
    final TdxModule module;
    final int sharedBit;
    /** The verbs a TD takes ({@code tdx.init_mem_region}, {@code tdx.finalize}, {@code tdx.fail}), for the service. */
    public static final List<org.tdplab.mmu.api.backend.VerbSpec> VERBS = TdxVerbs.SPECS;
    final TdxVerbs verbs = new TdxVerbs(this);
    final TdxSeptHooks sept = new TdxSeptHooks(this);
    final TdxAccept guest = new TdxAccept(this);
    final TdxTeardown end = new TdxTeardown(this);

    volatile int state = TD_STATE_UNINITIALIZED;
    volatile boolean hkidAssigned;
    /** The key release failed ({@code tdx_mmu_release_hkid}): the HKID, and every page the TD holds, are leaked. */
    volatile boolean keyLeaked;
    int hkid;
    long tdrPfn = -1;
    final long[] tdcsPfns = new long[TdxAbi.TDCS_PAGES];
    /** Per vCPU: the TDVPR frame and its TDCX frames. */
    final long[][] vcpuPages;

    /** {@code sp->external_spt}: the S-EPT page the module was given for each mirror table, by (gfn, level). */
    final SeptPages septPages = new SeptPages();
    /** A page kept from a SEPT.ADD that came back busy ({@code mmu_external_spt_cache}). */
    final AtomicLong sparePage = new AtomicLong(-1);
    /** The frames this TD's TDX side holds from the host, and their Dynamic PAMT pairs. */
    final HostFrames frames = new HostFrames(this);
    /** Dynamic PAMT's counts ({@code tdx_pamt_get}), or null with a static PAMT. */
    final PamtRefs pamtRefs;
    /** The pages Dynamic PAMT's pairs come from on the fault and split paths, or null with a static PAMT. */
    final PamtCaches pamtCaches;

    /** {@code kvm_tdx->page_add_src}: the staged source of the PAGE.ADD a {@code init_mem_region} triggers. */
    volatile long pageAddSrc = -1;
    volatile long pageAddToken;
    /** {@code kvm_tdx->wait_for_sept_zap}: vCPUs may not enter while a busy SEAMCALL is retried. */
    volatile boolean waitForSeptZap;
    /**
     * Held by {@code tdx.finalize} from TDH.MR.FINALIZE to {@link #runnable}, and by a removal that starts before the
     * TD runs from its BLOCK to its REMOVE: such a removal does no TRACK ({@code tdx_track} returns while the TD is not
     * runnable), so the module must not turn RUNNABLE in between, which would make REMOVE refuse the untracked block.
     * In the kernel {@code kvm->slots_lock} does this: {@code tdx_td_finalize} holds it, as do the callers that remove
     * private pages before the TD runs (a memslot's flush, an attribute conversion); the model's bare {@code zap}
     * ({@code kvm_zap_gfn_range}) takes no such lock, so removals take this one instead.
     */
    final Object finalizeLock = new Object();
    /** {@code KVM_REQ_OUTSIDE_GUEST_MODE}: the kick that a TRACK waits for. */
    final VcpuKicks kicks;
    /** Per vCPU, where the guest is inside an accept that made the TD exit. */
    final AcceptCursors cursors;
    /** Private pages removed so far: a removal since an accept stopped may have undone its progress. */
    final LongAdder removals = new LongAdder();

    final LongAdder busySeen = new LongAdder();
    /** Statuses tests inject in place of the module's (KVM's error paths); empty otherwise. */
    final SeamcallFaults faults = new SeamcallFaults();
    /**
     * Mirror hooks in progress, to see the lock discipline (invariant 12) from this side. Installs are counted by
     * every fault, so per thread with no atomic ({@link PercpuCounter}); removals are rare.
     */
    final PercpuCounter installsInFlight = new PercpuCounter();
    final AtomicInteger removalsInFlight = new AtomicInteger();
    /** Violations seen as they happened (invariants 10–13 and the hardware spec's I9), for {@link #check}. */
    final List<String> recorded = Collections.synchronizedList(new ArrayList<>());

    public TdxVm(VmContext ctx, TdxOptions options, HkidPool hkids) {
        this(ctx, options, hkids, null);
        try {
            TdxInit.run(this);
        } catch (RuntimeException e) {
            releaseKey();
            teardown();
            throw e;
        }
    }

    TdxVm(VmContext ctx, TdxOptions options, HkidPool hkids, ModuleState moduleState) {
        this.ctx = ctx;
        this.options = options;
        this.hkids = hkids;
        this.sharedBit = ctx.capabilities().sharedBit();
        PageContents frames = new ContextPages(ctx);
        Contention contention = new Contention(options.busyRate(), options.seed());
        this.module = moduleState == null ? new TdxModule(options.version(), ctx.vcpus(), frames, contention,
                options.dynamicPamt()) : TdxModule.loadState(moduleState, frames, contention);
        this.pamtCaches = module.view().dynamicPamt() ? new PamtCaches(this, ctx.vcpus()) : null;
        this.pamtRefs = pamtCaches != null ? new PamtRefs(this, pamtCaches) : null;
        if (pamtRefs != null && moduleState != null)
            pamtRefs.recount();
        this.vcpuPages = new long[ctx.vcpus()][];
        this.kicks = new VcpuKicks(ctx, module);
        this.cursors = new AcceptCursors(ctx.vcpus());
    }

    // ==== hot swap ===============================================================================================

    /**
     * KVM's TDX state of this TD and the TDX module's, as the typed {@link TdxSnapshot} encoded by the API's one
     * codec. The BUSY injection stream is not state: the next backend starts its own from its options.
     */
    @Override
    public Map<String, Object> snapshot() {
        return SnapshotCodec.encode(TdxSnapshot.VERSION, TdxSnapshot.of(this));
    }

    /**
     * A TD taken over from a {@link #snapshot()} of a previous backend: the HKID stays the TD's.
     *
     * @throws MmuException EINVAL naming what differs in a snapshot of another format or version
     */
    public static TdxVm restore(VmContext ctx, TdxOptions options, HkidPool hkids, Map<String, Object> s) {
        return SnapshotCodec.decode(s, TdxSnapshot.VERSION, TdxSnapshot.class).restore(ctx, options, hkids);
    }

    // ==== SEAMCALL plumbing ======================================================================================

    long seamcall(Seamcall leaf, long gfn, int level, long status) {
        ctx.firmwareCall(leaf.intelName(), gfn, level, TdxStatus.name(status));
        if (TdxStatus.operandBusy(status))
            busySeen.increment();
        return status;
    }

    /** {@code TDX_BUG_ON}: an unexpected status bugs the VM, naming the leaf, the status and the extended outputs. */
    void tdxBug(Seamcall leaf, long gfn, long status) {
        ctx.bug(tdxError(leaf, gfn, status).reason());
    }

    /** The hook's answer to an unexpected status: EIO, naming the leaf, the status and the extended outputs. */
    static HookStatus tdxError(Seamcall leaf, long gfn, long status) {
        TdxModule.Regs r = REGS.get();
        return HookStatus.error(Errno.EIO, "SEAMCALL %s failed for gpa 0x%x: %s (0x%x), rcx 0x%x rdx 0x%x",
                leaf.intelName(), gfn << 12, TdxStatus.name(status), status, r.rcx, r.rdx);
    }

    long tdr() {
        return tdrPfn << 12;
    }

    /** {@code tdx_topup_external_pamt_cache}: the vCPU's pairs for the fault, with Dynamic PAMT only. */
    @Override
    public HookStatus topUpExternalCache(int vcpu, int minTables) {
        return pamtCaches == null ? HookStatus.OK : pamtCaches.topUp(vcpu, minTables);
    }

    /** {@code tdx_need_topup_vm_split_cache}: a 2M split takes two pairs with Dynamic PAMT, nothing without. */
    @Override
    public boolean needTopUpExternalSplitCache(int level) {
        return pamtCaches != null && pamtCaches.needSplitTopUp(level);
    }

    /** {@code tdx_topup_vm_split_cache}, without the MMU lock. */
    @Override
    public HookStatus topUpExternalSplitCache(int level) {
        return pamtCaches == null ? HookStatus.OK : pamtCaches.topUpSplit(level);
    }

    // ==== mirror hooks: TdxSeptHooks ==============================================================================

    @Override
    public HookStatus setExternalSpte(SpteChange change) {
        return sept.setExternalSpte(change);
    }

    /** A fault's install, with the fields: no {@link SpteChange} per fault (nor per page zapped, below). */
    @Override
    public HookStatus installExternalSpte(RootKind root, long gfn, int level, boolean leaf, long pfn,
            boolean readable, boolean writable, boolean executable) {
        return sept.install(gfn, level, leaf, pfn);
    }

    @Override
    public HookStatus removeExternalSpte(RootKind root, long gfn, int level, long pfn, boolean r, boolean w, boolean x) {
        return sept.removeLeaf(gfn, level, true, pfn);
    }

    @Override
    public HookStatus splitExternalSpt(SpteChange change) {
        return sept.splitExternalSpt(change);
    }

    @Override
    public HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
        return sept.freeExternalSpt(root, gfn, level);
    }

    // ==== private memory =========================================================================================

    /**
     * {@code tdx_gmem_max_mapping_level}: private memory is mapped at 4K; with huge pages at up to 2M once the TD
     * runs (the TD build stays 4K: TDH.MEM.PAGE.ADD adds 4K pages only).
     */
    @Override
    public int privateMaxLevel(long gfn, long pfn) {
        return sept.maxLeafLevel();
    }

    /** guest_memfd frees a folio: none of its pages may still belong to the TD or hold its dirty lines (I9). */
    @Override
    public void gmemInvalidate(long pfn, int order) {
        for (long p = pfn; p < pfn + (1L << order); p++) {
            long w = module.view().pamtWord(p); // no leaf writes a page being freed: one load, no exclusive section
            long e = Pamt.entryOf(w);
            if (Pamt.type(e) != Pamt.PT_NDA)
                record("tdx I9: guest_memfd frees page 0x%x while the TD owns it (PAMT %s)", p << 12,
                        Pamt.typeName(Pamt.type(e)));
            int key = Pamt.dirtyKeyIdOf(w);
            if (key >= 0)
                record("tdx I9: guest_memfd frees page 0x%x before a WBINVD with KeyID %d", p << 12, key);
        }
    }

    // ==== hardware and guest: TdxAccept ==========================================================================

    /** The virtualization exception's vector (#VE), named by {@code Backend.exceptions()}. */
    public static final int VE_VECTOR = 20;

    /** {@code tdx_vcpu_pre_run}: KVM_RUN fails (EINVAL) until the TD is finalized. */
    @Override
    public String runRefusal(int vcpu) {
        return state == TD_STATE_RUNNABLE ? null : "TD '" + ctx.name() + "' is not finalized (tdx.finalize first)";
    }

    @Override
    public long translatePrivate(int vcpu, long gfn, Access access) {
        return guest.translatePrivate(vcpu, gfn, access);
    }

    @Override
    public long accept(int vcpu, long gfn, int level) {
        return guest.accept(vcpu, gfn, level);
    }

    @Override
    public void violationEntered(int vcpu, long gfn, long errorBits) {
        guest.violationEntered(vcpu, gfn, errorBits);
    }

    // ==== verbs ==================================================================================================

    @Override
    public VerbResult invoke(String verb, VerbArgs args) {
        return verbs.invoke(verb, args);
    }

    // ==== teardown: TdxTeardown =================================================================================

    @Override
    public void releaseKey() {
        end.releaseKey();
    }

    @Override
    public void teardown() {
        end.teardown();
    }

    // ==== accounting and checks =================================================================================

    void record(String format, Object... args) {
        if (recorded.size() < 100)
            recorded.add(String.format(format, args));
    }

    /**
     * What the core does not count itself: TD entries and the busy statuses KVM retried. The core counts every other
     * leaf from {@link VmContext#firmwareCall}, and reports the leaves never called (the service's
     * {@code firmwareCalls}) as 0.
     */
    @Override
    public Map<String, Long> stats() {
        Map<String, Long> out = new LinkedHashMap<>();
        out.put(Seamcall.TDH_VP_ENTER.intelName(), module.view().vpEnters());
        out.put("TDX_OPERAND_BUSY", busySeen.sum());
        if (pamtRefs != null) {
            out.put("dynamic_pamt_pairs", pamtRefs.pairs());
            out.put("dynamic_pamt_cached_pages", pamtCaches.cached());
        }
        return out;
    }

    @Override
    public List<String> check(MmuView view) {
        List<String> out = new ArrayList<>();
        if (installsInFlight.sum() > 0 || removalsInFlight.get() > 0)
            out.add("inv 12: a mirror hook is in progress while the checker holds the MMU write lock");
        MirrorInvariants.check(view, module, options.hugePages() ? PG_LEVEL_2M : PG_LEVEL_4K, sept::abandoned, out);
        if (pamtRefs != null)
            pamtRefs.check(out);
        synchronized (recorded) {
            out.addAll(recorded);
        }
        return out;
    }

    // ==== for tests ==============================================================================================

    /** Frames this side holds from the host right now (0 after teardown). */
    public long framesHeld() {
        return frames.held();
    }

    public TdxModule module() {
        return module;
    }

    public boolean hkidAssigned() {
        return hkidAssigned;
    }

    /** The TD handle (the TDR's HPA), for tests that drive the module behind KVM's back. */
    public long tdrHpa() {
        return tdr();
    }

    int tdState() {
        return state;
    }

    /** {@code KVM_TDX_FINALIZE_VM} succeeded: the TD runs. */
    void runnable() {
        state = TD_STATE_RUNNABLE;
    }
}
