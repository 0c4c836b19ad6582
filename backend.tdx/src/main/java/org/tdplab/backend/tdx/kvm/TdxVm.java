package org.tdplab.backend.tdx.kvm;

import static org.tdplab.backend.tdx.module.TdxStatus.TDX_SUCCESS;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

import org.tdplab.backend.tdx.module.Contention;
import org.tdplab.backend.tdx.module.Pamt;
import org.tdplab.backend.tdx.module.Seamcall;
import org.tdplab.backend.tdx.module.TdxModule;
import org.tdplab.backend.tdx.module.TdxStatus;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

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

    private static final ThreadLocal<TdxModule.Regs> REGS = ThreadLocal.withInitial(TdxModule.Regs::new);
    private static final int PG_LEVEL_4K = 1, PG_LEVEL_2M = 2;
    /**
     * The model's error-code bits of an EPT violation that came from the guest's TDG.MEM.PAGE.ACCEPT (extended exit
     * qualification type ACCEPT): bit 40, and the requested TDX level in bits 42:41. Not kernel PFERR bits (KVM reads
     * the qualification); they let a trace's {@code kvm_page_fault} carry it, so a replay honours it too.
     */
    static final long PFERR_ACCEPT = 1L << 40;
    static final int PFERR_ACCEPT_LEVEL_SHIFT = 41;

    private final VmContext ctx;
    private final TdxOptions options;
    private final HkidPool hkids;
    final TdxModule module;
    private final int sharedBit;

    private volatile int state = TD_STATE_UNINITIALIZED;
    private volatile boolean hkidAssigned;
    private int hkid;
    private long tdrPfn = -1;
    private final long[] tdcsPfns = new long[TdxModule.TDCS_PAGES];
    /** Per vCPU: the TDVPR frame and its TDCX frames. */
    private final long[][] vcpuPages;

    /** {@code sp->external_spt}: the S-EPT page the module was given for each mirror table, by (gfn, level). */
    private final Map<Long, Long> septPages = new ConcurrentHashMap<>();
    /** A page kept from a SEPT.ADD that came back busy ({@code mmu_external_spt_cache}). */
    private final AtomicLong sparePage = new AtomicLong(-1);
    /** Frames this VM's TDX side holds from the host (control pages, S-EPT pages, staging pages). */
    private final AtomicLong framesHeld = new AtomicLong();

    /** {@code kvm_tdx->page_add_src}: the staged source of the PAGE.ADD a {@code init_mem_region} triggers. */
    private volatile long pageAddSrc = -1;
    private volatile long pageAddToken;
    /** {@code kvm_tdx->wait_for_sept_zap}: vCPUs may not enter while a busy SEAMCALL is retried. */
    private volatile boolean waitForSeptZap;
    private final Object kickLock = new Object();
    private final long[] kickSnapshot;
    /**
     * Per vCPU, where the guest is inside an accept that made the TD exit: the unit the core asked for (GFN and
     * level) and the page and size of the TDCALL to re-execute. -1: no accept in progress.
     */
    private final long[] cursorUnit, cursorGfn, cursorRemovals;
    private final int[] cursorUnitLevel, cursorLevel;
    /** Private pages removed so far: a removal since an accept stopped may have undone its progress. */
    private final LongAdder removals = new LongAdder();

    private final LongAdder busySeen = new LongAdder();
    /** Calls per leaf (the core counts them too; these also report the leaves never called, as 0). */
    private final LongAdder[] calls = new LongAdder[Seamcall.values().length];
    /** Mirror hooks in progress, to see the lock discipline (invariant 12) from this side. */
    private final AtomicInteger installsInFlight = new AtomicInteger(), removalsInFlight = new AtomicInteger();
    /** Violations seen as they happened (invariants 10–13 and the hardware spec's I9), for {@link #check}. */
    private final List<String> recorded = Collections.synchronizedList(new ArrayList<>());

    public TdxVm(VmContext ctx, TdxOptions options, HkidPool hkids) {
        this(ctx, options, hkids, null);
        try {
            tdInit();
        } catch (RuntimeException e) {
            releaseKey();
            teardown();
            throw e;
        }
    }

    private TdxVm(VmContext ctx, TdxOptions options, HkidPool hkids, byte[] moduleState) {
        this.ctx = ctx;
        this.options = options;
        this.hkids = hkids;
        this.sharedBit = ctx.capabilities().sharedBit();
        TdxModule.Frames frames = new TdxModule.Frames() {
            @Override
            public long read(long pfn) {
                return ctx.readToken(pfn);
            }

            @Override
            public void write(long pfn, long token) {
                ctx.writeToken(pfn, token);
            }
        };
        Contention contention = new Contention(options.busyRate(), options.seed());
        this.module = moduleState == null ? new TdxModule(options.version(), ctx.vcpus(), frames, contention)
                : TdxModule.loadState(moduleState, frames, contention);
        for (int i = 0; i < calls.length; i++)
            calls[i] = new LongAdder();
        this.vcpuPages = new long[ctx.vcpus()][];
        this.kickSnapshot = new long[ctx.vcpus()];
        this.cursorUnit = new long[ctx.vcpus()];
        this.cursorGfn = new long[ctx.vcpus()];
        this.cursorRemovals = new long[ctx.vcpus()];
        this.cursorUnitLevel = new int[ctx.vcpus()];
        this.cursorLevel = new int[ctx.vcpus()];
        Arrays.fill(cursorUnit, -1);
    }

    // ==== hot swap ===============================================================================================

    /** The format of {@link #snapshot()}; a restore refuses any other. */
    public static final int SNAPSHOT_FORMAT = 1;

    /**
     * KVM's TDX state of this TD (TD state, HKID, control pages, the S-EPT pages by mirror table, the accept
     * cursors, counters) and the TDX module's (TDR/TDCS/TDVPS, S-EPT, PAMT as {@code module} bytes), all plain data.
     * The BUSY injection stream is not state: the next backend starts its own from its options.
     */
    @Override
    public Map<String, Object> snapshot() {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put(Backend.SNAPSHOT_VERSION, SNAPSHOT_FORMAT);
        s.put("module", module.saveState());
        s.put("state", state);
        s.put("hkidAssigned", hkidAssigned);
        s.put("hkid", hkid);
        s.put("tdrPfn", tdrPfn);
        s.put("tdcsPfns", tdcsPfns.clone());
        List<Object> vp = new ArrayList<>();
        for (long[] pages : vcpuPages)
            vp.add(pages == null ? new long[0] : pages.clone());
        s.put("vcpuPages", vp);
        long[] keys = new long[septPages.size()], values = new long[keys.length];
        int i = 0;
        for (Map.Entry<Long, Long> e : septPages.entrySet()) {
            if (i == keys.length)
                break;
            keys[i] = e.getKey();
            values[i++] = e.getValue();
        }
        s.put("septKeys", Arrays.copyOf(keys, i));
        s.put("septValues", Arrays.copyOf(values, i));
        s.put("sparePage", sparePage.get());
        s.put("framesHeld", framesHeld.get());
        s.put("pageAddSrc", pageAddSrc);
        s.put("pageAddToken", pageAddToken);
        s.put("waitForSeptZap", waitForSeptZap);
        s.put("kickSnapshot", kickSnapshot.clone());
        s.put("cursorUnit", cursorUnit.clone());
        s.put("cursorGfn", cursorGfn.clone());
        s.put("cursorRemovals", cursorRemovals.clone());
        s.put("cursorUnitLevel", cursorUnitLevel.clone());
        s.put("cursorLevel", cursorLevel.clone());
        s.put("removals", removals.sum());
        s.put("busySeen", busySeen.sum());
        long[] counts = new long[calls.length];
        for (int c = 0; c < calls.length; c++)
            counts[c] = calls[c].sum();
        s.put("calls", counts);
        s.put("recorded", List.copyOf(recorded));
        return s;
    }

    /** A TD taken over from a {@link #snapshot()} of a previous backend: the HKID stays the TD's. */
    public static TdxVm restore(VmContext ctx, TdxOptions options, HkidPool hkids, Map<String, Object> s) {
        Object version = s.get(Backend.SNAPSHOT_VERSION);
        if (!Integer.valueOf(SNAPSHOT_FORMAT).equals(version))
            throw new MmuException(Errno.EINVAL, "TDX snapshot version %s is incompatible (this backend restores "
                    + "version %d)", version, SNAPSHOT_FORMAT);
        TdxVm vm = new TdxVm(ctx, options, hkids, (byte[]) s.get("module"));
        vm.state = (Integer) s.get("state");
        vm.hkidAssigned = (Boolean) s.get("hkidAssigned");
        vm.hkid = (Integer) s.get("hkid");
        if (vm.hkidAssigned)
            hkids.reserve(vm.hkid);
        vm.tdrPfn = (Long) s.get("tdrPfn");
        System.arraycopy((long[]) s.get("tdcsPfns"), 0, vm.tdcsPfns, 0, vm.tdcsPfns.length);
        List<?> vp = (List<?>) s.get("vcpuPages");
        for (int v = 0; v < vm.vcpuPages.length; v++) {
            long[] pages = (long[]) vp.get(v);
            vm.vcpuPages[v] = pages.length == 0 ? null : pages.clone();
        }
        long[] keys = (long[]) s.get("septKeys"), values = (long[]) s.get("septValues");
        for (int i = 0; i < keys.length; i++)
            vm.septPages.put(keys[i], values[i]);
        vm.sparePage.set((Long) s.get("sparePage"));
        vm.framesHeld.set((Long) s.get("framesHeld"));
        vm.pageAddSrc = (Long) s.get("pageAddSrc");
        vm.pageAddToken = (Long) s.get("pageAddToken");
        vm.waitForSeptZap = (Boolean) s.get("waitForSeptZap");
        copy((long[]) s.get("kickSnapshot"), vm.kickSnapshot);
        copy((long[]) s.get("cursorUnit"), vm.cursorUnit);
        copy((long[]) s.get("cursorGfn"), vm.cursorGfn);
        copy((long[]) s.get("cursorRemovals"), vm.cursorRemovals);
        System.arraycopy((int[]) s.get("cursorUnitLevel"), 0, vm.cursorUnitLevel, 0, vm.cursorUnitLevel.length);
        System.arraycopy((int[]) s.get("cursorLevel"), 0, vm.cursorLevel, 0, vm.cursorLevel.length);
        vm.removals.add((Long) s.get("removals"));
        vm.busySeen.add((Long) s.get("busySeen"));
        long[] counts = (long[]) s.get("calls");
        for (int c = 0; c < Math.min(counts.length, vm.calls.length); c++)
            vm.calls[c].add(counts[c]);
        for (Object line : (List<?>) s.get("recorded"))
            vm.recorded.add((String) line);
        return vm;
    }

    private static void copy(long[] from, long[] to) {
        System.arraycopy(from, 0, to, 0, to.length);
    }

    // ==== SEAMCALL plumbing ======================================================================================

    private long seamcall(Seamcall leaf, long gfn, int level, long status) {
        calls[leaf.ordinal()].increment();
        ctx.firmwareCall(leaf.intelName(), gfn, level, TdxStatus.name(status));
        if (TdxStatus.operandBusy(status))
            busySeen.increment();
        return status;
    }

    /** {@code TDX_BUG_ON}: an unexpected status bugs the VM, naming the leaf, the status and the extended outputs. */
    private void tdxBug(Seamcall leaf, long gfn, long status) {
        ctx.bug(tdxError(leaf, gfn, status).reason());
    }

    /** The hook's answer to an unexpected status: EIO, naming the leaf, the status and the extended outputs. */
    private static HookStatus tdxError(Seamcall leaf, long gfn, long status) {
        TdxModule.Regs r = REGS.get();
        return HookStatus.error(Errno.EIO, "SEAMCALL %s failed for gpa 0x%x: %s (0x%x), rcx 0x%x rdx 0x%x",
                leaf.intelName(), gfn << 12, TdxStatus.name(status), status, r.rcx, r.rdx);
    }

    private long tdr() {
        return tdrPfn << 12;
    }

    private long allocFrame() {
        long pfn = ctx.allocFirmwareFrame();
        framesHeld.incrementAndGet();
        return pfn;
    }

    private void freeFrame(long pfn) {
        ctx.writeToken(pfn, 0); // tdx_quirk_reset_page: the page goes back to the kernel cleared
        ctx.freeFirmwareFrame(pfn);
        framesHeld.decrementAndGet();
    }

    /** Runs a TD-lifecycle SEAMCALL that KVM cannot do without: any failure aborts with EIO ({@code TDX_BUG_ON}). */
    private void mustSucceed(Seamcall leaf, long status) {
        seamcall(leaf, 0, 0, status);
        if (status != TDX_SUCCESS)
            throw new MmuException(Errno.EIO, "%s failed: %s (0x%x)", leaf.intelName(), TdxStatus.name(status),
                    status);
    }

    // ==== creation: KVM_CREATE_VM + KVM_TDX_INIT_VM + KVM_TDX_INIT_VCPU =========================================

    private void tdInit() {
        hkid = hkids.alloc();
        hkidAssigned = true;
        tdrPfn = allocFrame();
        mustSucceed(Seamcall.TDH_MNG_CREATE, module.tdhMngCreate(tdr(), hkid));
        mustSucceed(Seamcall.TDH_MNG_KEY_CONFIG, module.tdhMngKeyConfig(tdr()));
        for (int i = 0; i < tdcsPfns.length; i++) {
            tdcsPfns[i] = allocFrame();
            mustSucceed(Seamcall.TDH_MNG_ADDCX, module.tdhMngAddcx(tdcsPfns[i] << 12, tdr()));
        }
        long attributes = options.septVeDisable() ? TdxModule.ATTR_SEPT_VE_DISABLE : 0;
        mustSucceed(Seamcall.TDH_MNG_INIT, module.tdhMngInit(tdr(), ctx.capabilities().gpaw(), attributes));
        state = TD_STATE_INITIALIZED;
        for (int v = 0; v < vcpuPages.length; v++) {
            long[] pages = new long[1 + TdxModule.VP_TDCX_PAGES];
            Arrays.fill(pages, -1);
            vcpuPages[v] = pages;
            pages[0] = allocFrame();
            mustSucceed(Seamcall.TDH_VP_CREATE, module.tdhVpCreate(pages[0] << 12, tdr()));
            for (int i = 1; i < pages.length; i++) {
                pages[i] = allocFrame();
                mustSucceed(Seamcall.TDH_VP_ADDCX, module.tdhVpAddcx(pages[i] << 12, pages[0] << 12));
            }
            mustSucceed(Seamcall.TDH_VP_INIT, module.tdhVpInit(pages[0] << 12));
        }
    }

    // ==== mirror hooks ===========================================================================================

    /** The key of the S-EPT page behind the mirror table of {@code tableLevel} (1 = a PT) covering {@code gfn}. */
    private static long septKey(long gfn, int tableLevel) {
        return (gfn & -(1L << (9 * tableLevel))) | ((long) tableLevel << 58);
    }

    /** {@code tdx_sept_set_private_spte}: link (SEPT.ADD), leaf (PAGE.AUG or PAGE.ADD), or removal. */
    @Override
    public HookStatus setExternalSpte(SpteChange change) {
        long gfn = change.gfn();
        int level = change.level();
        if (change.before().present())
            return removeLeaf(change);
        if (!change.after().present())
            return HookStatus.error(Errno.EIO, "mirror hook for gfn 0x%x: neither the old nor the new SPTE is present",
                    gfn);
        installsInFlight.incrementAndGet();
        try {
            if (removalsInFlight.get() > 0)
                record("inv 12: a mirror install at gfn 0x%x ran while a removal was in progress", gfn);
            if (!change.after().leaf())
                return linkTable(gfn, level);
            return setLeaf(gfn, level, change.after().pfn());
        } finally {
            installsInFlight.decrementAndGet();
        }
    }

    /** {@code tdx_sept_map_nonleaf_spte}: TDH.MEM.SEPT.ADD of a new S-EPT page for the table below the entry. */
    private HookStatus linkTable(long gfn, int level) {
        int septLevel = level - 1; // TDX level of the entry = level of the new mirror table
        long base = gfn & -(1L << (9 * septLevel));
        long page = sparePage.getAndSet(-1);
        if (page < 0)
            page = allocFrame();
        TdxModule.Regs regs = REGS.get();
        long st = seamcall(Seamcall.TDH_MEM_SEPT_ADD, base, level,
                module.tdhMemSeptAdd((base << 12) | septLevel, tdr(), page << 12, regs));
        if (st == TDX_SUCCESS) {
            septPages.put(septKey(base, septLevel), page);
            return HookStatus.OK;
        }
        if (!sparePage.compareAndSet(-1, page))
            freeFrame(page);
        if (TdxStatus.operandBusy(st))
            return HookStatus.BUSY;
        return tdxError(Seamcall.TDH_MEM_SEPT_ADD, base, st);
    }

    /** The largest private leaf KVM may map now: 2M once the TD runs with huge pages, else 4K. */
    private int maxLeafLevel() {
        return options.hugePages() && state == TD_STATE_RUNNABLE ? PG_LEVEL_2M : PG_LEVEL_4K;
    }

    /**
     * {@code tdx_sept_map_leaf_spte}: PAGE.AUG (at 4K, or 2M with huge pages) once runnable, PAGE.ADD (4K only) of
     * the staged source before.
     */
    private HookStatus setLeaf(long gfn, int level, long pfn) {
        if (level > maxLeafLevel()) {
            record("inv 13: a private leaf at level %d for gfn 0x%x (TDX maps private memory at %s here)", level, gfn,
                    maxLeafLevel() == PG_LEVEL_2M ? "4K or 2M" : "4K only");
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(level != PG_LEVEL_4K%s): private leaf at level %d, gfn "
                    + "0x%x", options.hugePages() ? " && !RUNNABLE" : "", level, gfn);
        }
        TdxModule.Regs regs = REGS.get();
        if (state == TD_STATE_RUNNABLE) {
            long st = seamcall(Seamcall.TDH_MEM_PAGE_AUG, gfn, level,
                    module.tdhMemPageAug((gfn << 12) | (level - 1), tdr(), pfn << 12, regs));
            if (st == TDX_SUCCESS)
                return HookStatus.OK;
            if (TdxStatus.operandBusy(st))
                return HookStatus.BUSY;
            return tdxError(Seamcall.TDH_MEM_PAGE_AUG, gfn, st);
        }
        // tdx_mem_page_add: only from KVM_TDX_INIT_MEM_REGION, with its source staged
        long src = pageAddSrc;
        if (src < 0)
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(!kvm_tdx->page_add_src): private fault at gfn 0x%x before "
                    + "the TD is finalized", gfn);
        long st = seamcall(Seamcall.TDH_MEM_PAGE_ADD, gfn, level,
                module.tdhMemPageAdd(gfn << 12, tdr(), pfn << 12, src << 12, regs));
        if (st == TDX_SUCCESS) {
            ctx.guestDataChanged(gfn, true, pageAddToken);
            return HookStatus.OK;
        }
        if (TdxStatus.operandBusy(st))
            return HookStatus.BUSY;
        return tdxError(Seamcall.TDH_MEM_PAGE_ADD, gfn, st);
    }

    /**
     * {@code tdh_do_no_vcpus}: a SEAMCALL that may lose to a vCPU (zero-step VP.ENTER, a guest TDCALL) is retried
     * once with every vCPU kicked out and kept out; the retry is expected to succeed.
     */
    private long noVcpus(LongSupplier call) {
        long st = call.getAsLong();
        if (TdxStatus.operandBusy(st)) {
            waitForSeptZap = true;
            try {
                kick();
                st = call.getAsLong();
            } finally {
                waitForSeptZap = false;
            }
        }
        return st;
    }

    /**
     * {@code kvm_make_all_cpus_request(KVM_REQ_OUTSIDE_GUEST_MODE)}: returns once every vCPU left guest mode once;
     * the module then counts each vCPU that was inside (and did not enter again) as having exited the TD.
     */
    private void kick() {
        synchronized (kickLock) {
            module.snapshotEntries(kickSnapshot);
            ctx.kickAllVcpus();
            module.exitedSince(kickSnapshot);
        }
    }

    /** {@code tdx_track}: TDH.MEM.TRACK and a kick, once the TD runs (before, no vCPU has run). */
    private HookStatus track(long gfn) {
        if (state != TD_STATE_RUNNABLE)
            return HookStatus.OK;
        long st = noVcpus(() -> seamcall(Seamcall.TDH_MEM_TRACK, gfn, 0, module.tdhMemTrack(tdr())));
        if (st != TDX_SUCCESS)
            return tdxError(Seamcall.TDH_MEM_TRACK, gfn, st);
        kick();
        return HookStatus.OK;
    }

    /**
     * {@code tdx_sept_remove_leaf_spte}, write lock held: BLOCK, TRACK + kick, REMOVE, then WBINVD with the HKID and
     * a clear before the page may go back to guest_memfd. The data is gone: re-adding gives a zero page.
     */
    private HookStatus removeLeaf(SpteChange change) {
        long gfn = change.gfn();
        int level = change.level();
        removalsInFlight.incrementAndGet();
        try {
            if (installsInFlight.get() > 0 || removalsInFlight.get() > 1)
                record("inv 12: the removal of gfn 0x%x ran concurrently with another mirror change", gfn);
            if (!change.isLeafRemoval())
                return HookStatus.error(Errno.EIO, "mirror hook for gfn 0x%x level %d: not a present leaf becoming "
                        + "non-present", gfn, level);
            if (!septPages.containsKey(septKey(gfn, level)))
                record("inv 10: the leaf at gfn 0x%x is removed after the table holding it was freed", gfn);
            if (!hkidAssigned) {
                return HookStatus.error(Errno.EIO, "KVM_BUG_ON(!is_hkid_assigned): removing gfn 0x%x after the HKID was "
                        + "released", gfn);
            }
            if (level > (options.hugePages() ? PG_LEVEL_2M : PG_LEVEL_4K)) {
                record("inv 13: a private leaf at level %d for gfn 0x%x", level, gfn);
                return HookStatus.error(Errno.EIO, "KVM_BUG_ON(level != PG_LEVEL_4K): removing gfn 0x%x at level %d",
                        gfn, level);
            }
            long pfn = change.before().pfn();
            long rcx = (gfn << 12) | (level - 1);
            TdxModule.Regs regs = REGS.get();
            long st = noVcpus(() -> seamcall(Seamcall.TDH_MEM_RANGE_BLOCK, gfn, level,
                    module.tdhMemRangeBlock(rcx, tdr(), regs)));
            if (st != TDX_SUCCESS) {
                return tdxError(Seamcall.TDH_MEM_RANGE_BLOCK, gfn, st);
            }
            HookStatus tracked = track(gfn);
            if (!tracked.isOk())
                return tracked;
            st = noVcpus(() -> seamcall(Seamcall.TDH_MEM_PAGE_REMOVE, gfn, level,
                    module.tdhMemPageRemove(rcx, tdr(), regs)));
            if (st != TDX_SUCCESS) {
                return tdxError(Seamcall.TDH_MEM_PAGE_REMOVE, gfn, st);
            }
            // tdh_phymem_page_wbinvd_hkid writes back one 4K page per SEAMCALL: a 2M page takes 512
            long pages = 1L << (9 * (level - 1));
            for (long i = 0; i < pages; i++) {
                st = seamcall(Seamcall.TDH_PHYMEM_PAGE_WBINVD, gfn + i, PG_LEVEL_4K, module.tdhPhymemPageWbinvd(
                        ((pfn + i) << 12) | ((long) hkid << TdxModule.KEYID_SHIFT)));
                if (st != TDX_SUCCESS)
                    return tdxError(Seamcall.TDH_PHYMEM_PAGE_WBINVD, gfn + i, st);
            }
            for (long i = 0; i < pages; i++) { // tdx_quirk_reset_folio
                ctx.writeToken(pfn + i, 0);
                ctx.guestDataChanged(gfn + i, true, 0);
            }
            removals.increment();
            return HookStatus.OK;
        } finally {
            removalsInFlight.decrementAndGet();
        }
    }

    /**
     * {@code tdx_sept_split_private_spte} (v3 08/24 = RFC v5 39/45), write lock held: the huge private leaf at
     * {@code gfn} becomes a table of 512 smaller leaves — TDH.MEM.RANGE.BLOCK at its level, {@code tdx_track} (TRACK
     * and a kick), then TDH.MEM.PAGE.DEMOTE with a new S-EPT page for the mirror's new table. No UNBLOCK follows: the
     * pieces are unblocked already. BLOCK and DEMOTE retry a BUSY once with every vCPU kept out
     * ({@code tdh_do_no_vcpus}); anything else bugs the VM. The pages and their data stay where they are.
     */
    @Override
    public HookStatus splitExternalSpt(SpteChange change) {
        long gfn = change.gfn();
        int level = change.level();
        if (!change.isSplit() || state != TD_STATE_RUNNABLE || level != PG_LEVEL_2M || !options.hugePages())
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(state != RUNNABLE || level != PG_LEVEL_2M): splitting gfn "
                    + "0x%x level %d", gfn, level);
        removalsInFlight.incrementAndGet();
        try {
            if (installsInFlight.get() > 0 || removalsInFlight.get() > 1)
                record("inv 12: the split of gfn 0x%x ran concurrently with another mirror change", gfn);
            long rcx = (gfn << 12) | (level - 1);
            TdxModule.Regs regs = REGS.get();
            long st = noVcpus(() -> seamcall(Seamcall.TDH_MEM_RANGE_BLOCK, gfn, level,
                    module.tdhMemRangeBlock(rcx, tdr(), regs)));
            if (st != TDX_SUCCESS)
                return tdxError(Seamcall.TDH_MEM_RANGE_BLOCK, gfn, st);
            HookStatus tracked = track(gfn);
            if (!tracked.isOk())
                return tracked;
            long page = sparePage.getAndSet(-1);
            if (page < 0)
                page = allocFrame();
            long newPage = page;
            st = noVcpus(() -> seamcall(Seamcall.TDH_MEM_PAGE_DEMOTE, gfn, level,
                    module.tdhMemPageDemote(rcx, tdr(), newPage << 12, regs)));
            if (st != TDX_SUCCESS) {
                freeFrame(page);
                return tdxError(Seamcall.TDH_MEM_PAGE_DEMOTE, gfn, st);
            }
            septPages.put(septKey(gfn, level - 1), page);
            return HookStatus.OK;
        } finally {
            removalsInFlight.decrementAndGet();
        }
    }

    /**
     * {@code tdx_sept_free_private_spt}: only after the HKID is released (else {@code KVM_BUG_ON}, and the page is
     * leaked); TDH.PHYMEM.PAGE.RECLAIM, then the page is cleared and freed. A failed reclaim leaks it.
     */
    @Override
    public HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
        if (installsInFlight.get() > 0)
            record("inv 12: mirror table 0x%x level %d freed while an install was in progress", gfn, level);
        if (hkidAssigned) {
            record("inv 11: mirror table at gfn 0x%x level %d freed while the HKID is assigned", gfn, level);
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(is_hkid_assigned): freeing the S-EPT page of gfn 0x%x "
                    + "level %d", gfn, level);
        }
        Long page = septPages.remove(septKey(gfn, level));
        if (page == null)
            return HookStatus.error(Errno.EIO, "KVM_BUG_ON(!sp->external_spt): no S-EPT page for the mirror table at "
                    + "gfn 0x%x level %d", gfn, level);
        if (module.septPageInUse(page))
            record("inv 10: the S-EPT page of gfn 0x%x level %d is freed while entries below it are present", gfn,
                    level);
        reclaim(page, gfn, level);
        return HookStatus.OK;
    }

    /** {@code tdx_reclaim_page}: RECLAIM, then clear and free; a failure leaks the page (and is recorded). */
    private boolean reclaim(long pfn, long gfn, int level) {
        TdxModule.Regs regs = REGS.get();
        long st = seamcall(Seamcall.TDH_PHYMEM_PAGE_RECLAIM, gfn, level, module.tdhPhymemPageReclaim(pfn << 12, regs));
        if (st != TDX_SUCCESS) {
            record("tdx: page 0x%x leaked: TDH.PHYMEM.PAGE.RECLAIM returned %s", pfn << 12, TdxStatus.name(st));
            return false;
        }
        freeFrame(pfn);
        return true;
    }

    // ==== private memory =========================================================================================

    /**
     * {@code tdx_gmem_max_mapping_level}: private memory is mapped at 4K; with huge pages at up to 2M once the TD
     * runs (the TD build stays 4K: TDH.MEM.PAGE.ADD adds 4K pages only).
     */
    @Override
    public int privateMaxLevel(long gfn, long pfn) {
        return maxLeafLevel();
    }

    /** guest_memfd frees a folio: none of its pages may still belong to the TD or hold its dirty lines (I9). */
    @Override
    public void gmemInvalidate(long pfn, int order) {
        for (long p = pfn; p < pfn + (1L << order); p++) {
            long e = module.pamtEntry(p);
            if (Pamt.type(e) != Pamt.PT_NDA)
                record("tdx I9: guest_memfd frees page 0x%x while the TD owns it (PAMT %s)", p << 12,
                        Pamt.typeName(Pamt.type(e)));
            int key = module.dirtyKeyId(p);
            if (key >= 0)
                record("tdx I9: guest_memfd frees page 0x%x before a WBINVD with KeyID %d", p << 12, key);
        }
    }

    // ==== hardware and guest ====================================================================================

    /** The virtualization exception's vector (#VE). */
    static final int VE_VECTOR = 20;

    @Override
    public String exceptionName(int vector) {
        return vector == VE_VECTOR ? "VE" : VmBackend.super.exceptionName(vector);
    }

    /**
     * The CPU walks the S-EPT for a private GPA. A missing or blocked entry is an EPT violation (KVM maps it, the
     * access retries); a PENDING page is a #VE, or with SEPT_VE_DISABLE a TD exit KVM answers by killing the VM
     * ("Guest access before accepting"). Allocation-free.
     *
     * <p>Before finalize KVM refuses KVM_RUN; the model lets guest accesses run then, because a shared write is how
     * a scenario puts the VMM's image into shared memory. A private access cannot enter the TD: it becomes an EPT
     * violation, and the leaf hook finds no PAGE.ADD source staged — the KVM_BUG_ON KVM would hit.
     */
    @Override
    public long translatePrivate(int vcpu, long gfn, Access access) {
        long r = module.guestTranslate(vcpu, gfn, access == Access.WRITE, !waitForSeptZap);
        if (r >= 0)
            return Walk.translated(r & ((1L << 56) - 1), (int) (r >>> 56));
        if (r == TdxModule.G_VE)
            return Walk.exception(VE_VECTOR);
        if (r == TdxModule.G_PENDING_EXIT)
            return Walk.fatal(); // tdx_handle_ept_violation: kvm_vm_dead
        return Walk.violation(0);
    }

    /**
     * The guest's accept of the {@code level}-sized unit at {@code gfn}, as Linux's {@code tdx_accept_memory} does
     * it: TDG.MEM.PAGE.ACCEPT at the largest size that fits, the next smaller size after
     * {@code TDX_PAGE_SIZE_MISMATCH} (KVM maps private memory at 4K, so a 2M accept ends as 512 4K ones). A missing
     * page makes the TD exit; KVM maps it (PAGE.AUG) and the guest re-executes that same TDCALL: the vCPU's place in
     * the unit is kept ({@link #cursorGfn}, until a private page is removed) as the guest's registers would keep
     * it, and the exit is taken at that page (the operand of its last {@link VmContext#nestedWalk}). Accepted pages
     * read zero. Allocation-free.
     */
    @Override
    public long accept(int vcpu, long gfn, int level) {
        long end = gfn + (1L << (9 * (level - 1)));
        long g;
        int l;
        if (cursorUnit[vcpu] == gfn && cursorUnitLevel[vcpu] == level && cursorRemovals[vcpu] == removals.sum()) {
            g = cursorGfn[vcpu];
            l = cursorLevel[vcpu];
        } else {
            g = gfn;
            l = level;
        }
        while (g < end) {
            int septLevel = l - 1;
            long st = module.tdgMemPageAccept(vcpu, (g << 12) | septLevel, !waitForSeptZap);
            calls[Seamcall.TDG_MEM_PAGE_ACCEPT.ordinal()].increment();
            ctx.firmwareCall(Seamcall.TDG_MEM_PAGE_ACCEPT.intelName(), g, l, TdxStatus.name(st));
            long cls = TdxStatus.classOf(st);
            if (st == TDX_SUCCESS || cls == TdxStatus.TDX_PAGE_ALREADY_ACCEPTED) {
                if (st == TDX_SUCCESS)
                    for (long i = 0; i < 1L << (9 * septLevel); i++)
                        ctx.guestDataChanged(g + i, true, 0);
                g += 1L << (9 * septLevel);
                l = largestFit(g, end, level);
                continue;
            }
            if (l > PG_LEVEL_4K && (cls == TdxStatus.TDX_PAGE_SIZE_MISMATCH || cls == TdxStatus.TDX_OPERAND_INVALID)) {
                l--; // try_accept_one failed at this size: the next smaller one (TDX has no 1G ACCEPT)
                continue;
            }
            if (st == TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION || st == TdxStatus.MODEL_NOT_ENTERED
                    || cls == TdxStatus.TDX_OPERAND_BUSY || cls == TdxStatus.TDX_OPERAND_BUSY_HOST_PRIORITY) {
                // the TDCALL is re-executed after the exit (busy: the model lets the host run before the retry)
                cursorUnit[vcpu] = gfn;
                cursorUnitLevel[vcpu] = level;
                cursorGfn[vcpu] = g;
                cursorLevel[vcpu] = l;
                cursorRemovals[vcpu] = removals.sum();
                if (g != gfn)
                    ctx.nestedWalk(vcpu, g, true); // the operand the instruction faulted on
                return Walk.violation(st == TdxStatus.MODEL_TD_EXIT_EPT_VIOLATION ? acceptExitBits(vcpu) : 0);
            }
            cursorUnit[vcpu] = -1;
            return Walk.fatal(); // a Linux guest panics when it cannot accept its memory
        }
        cursorUnit[vcpu] = -1;
        return Walk.translated(module.acceptedHpa(vcpu) >>> 12, level);
    }

    /**
     * The exit's error-code bits for KVM's exit handler: with huge pages, an ACCEPT exit carries the requested level
     * ({@link #PFERR_ACCEPT}; KVM reads it from the extended exit qualification, a trace from these bits).
     */
    private long acceptExitBits(int vcpu) {
        long eeq = module.extExitQualification(vcpu);
        if (!options.hugePages() || TdxModule.eeqType(eeq) != TdxModule.EEQ_ACCEPT)
            return 0;
        return PFERR_ACCEPT | ((long) TdxModule.eeqAcceptLevel(eeq) << PFERR_ACCEPT_LEVEL_SHIFT);
    }

    /**
     * {@code tdx_honor_guest_accept_level} (v3 13/24; {@code tdx_handle_mismatched_accept} in RFC v5 41/45), in the
     * EPT-violation exit handler before the fault: an exit from the guest's ACCEPT at {@code level} splits any
     * private mapping larger than that over the accepted unit (BLOCK, TRACK, kick, DEMOTE under the write lock), then
     * sets the guest-inhibit bit above it (2M, and 1G for a 4K accept), so this and later faults map at the guest's
     * level. The bit is tested first without the lock: it is only ever set, after the split.
     */
    @Override
    public void violationEntered(int vcpu, long gfn, long errorBits) {
        if ((errorBits & PFERR_ACCEPT) == 0 || !options.hugePages())
            return;
        int level = (int) ((errorBits >>> PFERR_ACCEPT_LEVEL_SHIFT) & 3) + 1;
        if (level > PG_LEVEL_2M || ctx.hugepageTestGuestInhibit(gfn, level + 1))
            return;
        long pages = 1L << (9 * (level - 1));
        // no TLB flush after it: the BLOCK + TRACK + kick of the split is one
        if (!ctx.splitCrossBoundaryLeafs(gfn & -pages, pages))
            return; // the VM is bugged
        ctx.hugepageSetGuestInhibit(gfn, level + 1);
        if (level == PG_LEVEL_4K)
            ctx.hugepageSetGuestInhibit(gfn, level + 2);
    }

    /** The largest accept size ({@code <= max}) whose page at {@code g} is aligned and ends by {@code end}. */
    private static int largestFit(long g, long end, int max) {
        for (int l = max; l > PG_LEVEL_4K; l--) {
            long pages = 1L << (9 * (l - 1));
            if ((g & (pages - 1)) == 0 && g + pages <= end)
                return l;
        }
        return PG_LEVEL_4K;
    }

    // ==== verbs ==================================================================================================

    @Override
    public void invoke(String verb, Map<String, String> options, Set<String> flags) {
        switch (verb) {
        case "init_mem_region" -> initMemRegion(options, flags);
        case "finalize" -> finalizeTd(options, flags);
        default -> throw new MmuException(Errno.ENOTSUP, "VM type tdx has no verb '%s' (init_mem_region, finalize)",
                verb);
        }
    }

    private static void requireOnly(String verb, Map<String, String> options, Set<String> flags, Set<String> keys,
            Set<String> allowedFlags) {
        for (String k : options.keySet())
            if (!keys.contains(k))
                throw new MmuException(Errno.EINVAL, "tdx.%s: unknown option '%s'", verb, k);
        for (String f : flags)
            if (!allowedFlags.contains(f))
                throw new MmuException(Errno.EINVAL, "tdx.%s: unknown flag '%s'", verb, f);
    }

    private static long number(String verb, Map<String, String> options, String key) {
        String text = options.get(key);
        if (text == null)
            throw new MmuException(Errno.EINVAL, "tdx.%s needs %s=", verb, key);
        try {
            return Numbers.parse(text);
        } catch (NumberFormatException e) {
            throw new MmuException(Errno.EINVAL, "tdx.%s: %s=%s is not a number", verb, key, text);
        }
    }

    private boolean privateGpa(long gpa) {
        return (gpa >>> sharedBit) == 0;
    }

    /**
     * {@code KVM_TDX_INIT_MEM_REGION} ({@code tdx_vcpu_init_mem_region} → {@code kvm_gmem_populate} →
     * {@code tdx_gmem_post_populate}), one 4K page at a time: the source (the shared page at the same GPA, standing
     * for userspace's image buffer) is staged, the page is mapped through the mirror (SEPT.ADD as needed, then
     * PAGE.ADD with the staged source), and with {@code measure} extended into MRTD 256 bytes at a time. The region
     * advances page by page and is written back whether or not a page fails (6.16–6.18): a failure after some pages
     * fails the ioctl with the rest handed back.
     */
    private void initMemRegion(Map<String, String> options, Set<String> flags) {
        requireOnly("init_mem_region", options, flags, Set.of("gpa", "size"), Set.of("measure"));
        long gpa = number("init_mem_region", options, "gpa"), size = number("init_mem_region", options, "size");
        if (!hkidAssigned || state == TD_STATE_RUNNABLE)
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: TD '%s' is finalized: its initial memory is "
                    + "fixed", ctx.name());
        if ((gpa & 0xFFF) != 0 || size == 0 || (size & 0xFFF) != 0 || Long.compareUnsigned(gpa + size, gpa) <= 0)
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: gpa=0x%x size=0x%x must be 4K-aligned, "
                    + "non-empty and not wrap past 2^64", gpa, size);
        if (!privateGpa(gpa) || !privateGpa(gpa + size - 1))
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: gpa=0x%x size=0x%x is not a private GPA range "
                    + "(the shared bit is %d)", gpa, size, sharedBit);
        boolean measure = flags.contains("measure");
        long gfn = gpa >>> 12, end = (gpa + size) >>> 12;
        try {
            for (; gfn < end; gfn++)
                populate(gfn, measure);
        } finally {
            ctx.handBack(gfn << 12, (end - gfn) << 12); // copy_to_user(region), also after a failure
        }
    }

    private void populate(long gfn, boolean measure) {
        // kvm_gmem_populate, in its order: a guest_memfd slot, a folio not yet prepared, a private page
        if (ctx.gmemPfn(gfn) < 0)
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: no guest_memfd backs gpa 0x%x", gfn << 12);
        if (module.lookup(gfn, 0) >= 0 && TdxModule.stateOf(module.lookup(gfn, 0)) != 0)
            throw new MmuException(Errno.EEXIST, "tdx.init_mem_region: gpa 0x%x is already populated", gfn << 12);
        if (!ctx.isPrivate(gfn))
            throw new MmuException(Errno.EINVAL, "tdx.init_mem_region: gpa 0x%x is not private (attr.set … private "
                    + "first)", gfn << 12);
        long src = allocFrame();
        boolean mapped;
        try {
            pageAddToken = ctx.sharedToken(gfn);
            ctx.writeToken(src, pageAddToken);
            pageAddSrc = src;
            mapped = ctx.mapPrivate(gfn); // kvm_tdp_mmu_map_private_pfn
        } finally {
            pageAddSrc = -1;
            freeFrame(src);
        }
        if (!mapped)
            throw new MmuException(Errno.EIO, "tdx.init_mem_region: gpa 0x%x could not be mapped%s", gfn << 12,
                    ctx.bugged() ? " (the VM is bugged)" : "");
        if (!measure)
            return;
        TdxModule.Regs regs = REGS.get();
        for (long off = 0; off < 4096; off += 256) {
            long st = seamcall(Seamcall.TDH_MR_EXTEND, gfn, PG_LEVEL_4K,
                    module.tdhMrExtend((gfn << 12) + off, tdr(), regs));
            if (st != TDX_SUCCESS) {
                tdxBug(Seamcall.TDH_MR_EXTEND, gfn, st);
                throw new MmuException(Errno.EIO, "tdx.init_mem_region: TDH.MR.EXTEND of gpa 0x%x failed: %s",
                        (gfn << 12) + off, TdxStatus.name(st));
            }
        }
    }

    /** {@code KVM_TDX_FINALIZE_VM}: TDH.MR.FINALIZE; the TD is runnable and pre-faulting is allowed. */
    private void finalizeTd(Map<String, String> options, Set<String> flags) {
        requireOnly("finalize", options, flags, Set.of(), Set.of());
        if (!hkidAssigned || state == TD_STATE_RUNNABLE)
            throw new MmuException(Errno.EINVAL, "tdx.finalize: TD '%s' is already finalized", ctx.name());
        long st = seamcall(Seamcall.TDH_MR_FINALIZE, 0, 0, module.tdhMrFinalize(tdr()));
        if (TdxStatus.operandBusy(st))
            throw new MmuException(Errno.EBUSY, "tdx.finalize: TDH.MR.FINALIZE is busy: %s", TdxStatus.name(st));
        if (st != TDX_SUCCESS) {
            tdxBug(Seamcall.TDH_MR_FINALIZE, 0, st);
            throw new MmuException(Errno.EIO, "tdx.finalize: TDH.MR.FINALIZE failed: %s", TdxStatus.name(st));
        }
        state = TD_STATE_RUNNABLE;
        ctx.allowPreFault();
    }

    // ==== teardown ===============================================================================================

    /**
     * {@code tdx_mmu_release_hkid} (vm_pre_destroy): after every private leaf is gone, flush the vCPUs, block the
     * TD (VPFLUSHDONE), write back the caches and free the key; from now on only RECLAIM works.
     */
    @Override
    public void releaseKey() {
        if (!hkidAssigned)
            return;
        if (tdrPfn >= 0 && module.lifecycle() == TdxModule.LC_KEYS_CONFIGURED) {
            kick(); // no vCPU runs any more
            module.exitAll();
            for (long[] pages : vcpuPages)
                if (pages != null && pages[0] >= 0)
                    seamcall(Seamcall.TDH_VP_FLUSH, 0, 0, module.tdhVpFlush(pages[0] << 12));
            long st = seamcall(Seamcall.TDH_MNG_VPFLUSHDONE, 0, 0, module.tdhMngVpflushdone(tdr()));
            if (st != TDX_SUCCESS) {
                // the HKID cannot be freed: KVM leaks it (pr_err) and the TD's pages with it
                record("tdx: TDH.MNG.VPFLUSHDONE failed (%s): the HKID and the TD's pages are leaked",
                        TdxStatus.name(st));
                return;
            }
        }
        seamcall(Seamcall.TDH_PHYMEM_CACHE_WB, 0, 0, module.tdhPhymemCacheWb());
        if (tdrPfn >= 0 && module.lifecycle() == TdxModule.LC_BLOCKED)
            seamcall(Seamcall.TDH_MNG_KEY_FREEID, 0, 0, module.tdhMngKeyFreeid(tdr()));
        hkids.free(hkid);
        hkidAssigned = false;
    }

    /**
     * {@code tdx_vcpu_free} + {@code tdx_vm_destroy}: reclaim the vCPUs' TDCX and TDVPR pages, the TDCS pages, then
     * the TDR, which is written back with the global KeyID before it is freed.
     */
    @Override
    public void teardown() {
        for (Map.Entry<Long, Long> e : new ArrayList<>(septPages.entrySet())) {
            record("tdx: the S-EPT page of mirror table key 0x%x was never freed by the MMU", e.getKey());
            septPages.remove(e.getKey());
            reclaim(e.getValue(), 0, 0);
        }
        long spare = sparePage.getAndSet(-1);
        if (spare >= 0)
            freeFrame(spare);
        if (hkidAssigned) // creation failed half way
            return;
        for (long[] pages : vcpuPages) {
            if (pages == null)
                continue;
            for (int i = pages.length - 1; i >= 0; i--)
                if (pages[i] >= 0 && (module.pamtEntry(pages[i]) == 0 ? release(pages[i]) : reclaim(pages[i], 0, 0)))
                    pages[i] = -1;
        }
        for (int i = 0; i < tdcsPfns.length; i++)
            if (tdcsPfns[i] > 0 && (module.pamtEntry(tdcsPfns[i]) == 0 ? release(tdcsPfns[i])
                    : reclaim(tdcsPfns[i], 0, 0)))
                tdcsPfns[i] = 0;
        if (tdrPfn >= 0) {
            long pfn = tdrPfn;
            boolean owned = module.pamtEntry(pfn) != 0;
            if (owned) {
                long st = seamcall(Seamcall.TDH_PHYMEM_PAGE_RECLAIM, 0, 0,
                        module.tdhPhymemPageReclaim(pfn << 12, REGS.get()));
                if (st != TDX_SUCCESS) {
                    record("tdx: the TDR 0x%x is leaked: TDH.PHYMEM.PAGE.RECLAIM returned %s", pfn << 12,
                            TdxStatus.name(st));
                    return;
                }
                seamcall(Seamcall.TDH_PHYMEM_PAGE_WBINVD, 0, 0, module.tdhPhymemPageWbinvd(
                        (pfn << 12) | ((long) TdxModule.GLOBAL_KEYID << TdxModule.KEYID_SHIFT)));
            }
            freeFrame(pfn);
            tdrPfn = -1;
        }
    }

    /** A page the module never took (creation stopped before): straight back to the host. */
    private boolean release(long pfn) {
        freeFrame(pfn);
        return true;
    }

    // ==== accounting and checks =================================================================================

    private void record(String format, Object... args) {
        if (recorded.size() < 100)
            recorded.add(String.format(format, args));
    }

    /**
     * Every leaf's count (so a leaf never called reads 0), TD entries, and the busy statuses KVM retried. The
     * counts equal the ones the core keeps from {@link VmContext#firmwareCall}.
     */
    @Override
    public Map<String, Long> stats() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Seamcall leaf : Seamcall.values())
            out.put(leaf.intelName(), calls[leaf.ordinal()].sum());
        out.put(Seamcall.TDH_VP_ENTER.intelName(), module.vpEnters());
        out.put("TDX_OPERAND_BUSY", busySeen.sum());
        return out;
    }

    @Override
    public List<String> check(MmuView view) {
        List<String> out = new ArrayList<>();
        if (installsInFlight.get() > 0 || removalsInFlight.get() > 0)
            out.add("inv 12: a mirror hook is in progress while the checker holds the MMU write lock");
        MirrorInvariants.check(view, module, options.hugePages() ? PG_LEVEL_2M : PG_LEVEL_4K, out);
        synchronized (recorded) {
            out.addAll(recorded);
        }
        return out;
    }

    // ==== for tests ==============================================================================================

    /** Frames this side holds from the host right now (0 after teardown). */
    public long framesHeld() {
        return framesHeld.get();
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
}
