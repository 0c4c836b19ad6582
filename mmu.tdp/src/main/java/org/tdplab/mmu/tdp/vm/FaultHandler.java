package org.tdplab.mmu.tdp.vm;

import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_EMULATE;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_FIXED;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_INVALID;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_RETRY;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_SPURIOUS;

import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.tdp.mem.GuestMemfd;
import org.tdplab.mmu.tdp.mem.PfnMap;
import org.tdplab.mmu.tdp.mmu.ErrorCode;
import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.mmu.Stat;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.vcpu.HardwareWalk;
import org.tdplab.mmu.tdp.vcpu.Vcpu;
import org.tdplab.mmu.tdp.vcpu.VcpuThread;

/**
 * {@code kvm_mmu_page_fault} → {@code kvm_tdp_mmu_page_fault}: decides privateness by capability, resolves the
 * pfn from the memslot (host memory or guest_memfd), picks the mapping level and the root, and maps under the
 * read lock. Allocation-free: it fills the vCPU's {@link PageFault}.
 */
final class FaultHandler {
    /** Results beyond {@code RET_PF_*}: exits to userspace, with the GPA in the vCPU. */
    static final int EXIT_MEMORY_FAULT = -1, EXIT_MMIO = -2, EXIT_DEAD = -3;
    /**
     * A prefetch fault hit a memslot being deleted or moved: {@code -EAGAIN} to userspace instead of a retry, as
     * prefaulting does not promise KVM_RUN's forward progress (6.18, commit 3ccbf6f47098).
     */
    static final int PREFETCH_EAGAIN = -4;

    private final VmStatus status;
    private final VmMemory mem;
    private final TdpMmu mmu;
    private final BackendSlot gate;
    private final Tracer trace;

    FaultHandler(VmStatus status, VmMemory mem, TdpMmu mmu, BackendSlot gate, Tracer trace) {
        this.status = status;
        this.mem = mem;
        this.mmu = mmu;
        this.gate = gate;
        this.trace = trace;
    }

    /**
     * Handles one EPT/NPT violation of vCPU {@code v} at {@code gpa} (as the guest addressed it).
     * {@code encryptedAccess} is the guest's encrypted-access bit for VMs whose privateness comes from the error
     * code.
     */
    int handle(Vcpu v, long gpa, long errorCode, boolean encryptedAccess, boolean prefetch) {
        if (status.dead())
            return EXIT_DEAD;
        long gfn = mmu.routing.naturalGfn(gpa);
        boolean rsvd = (errorCode & ErrorCode.RSVD) != 0;
        boolean isPrivate = isPrivateFault(gpa, gfn, encryptedAccess, rsvd);
        PageFault f = v.fault;
        f.reset(gpa, gfn, (errorCode & ErrorCode.WRITE) != 0, (errorCode & ErrorCode.FETCH) != 0, isPrivate,
                prefetch);
        long traced = errorCode | (isPrivate ? ErrorCode.PRIVATE_ACCESS : 0);
        if (!prefetch)
            trace.faultEntered(v.id, gpa, traced);
        long vendorBits = ErrorCode.vendorBits(errorCode);
        if (vendorBits != 0) // the vendor's exit handling before the fault (no MMU lock held)
            gate.backend().violationEntered(v.id, gfn, vendorBits);
        int r;
        VcpuThread t = v.thread.mine();
        mem.srcu.readLock(t.srcu);
        try {
            r = handleInSrcu(v, f, errorCode, rsvd, prefetch);
        } finally {
            mem.srcu.readUnlock(t.srcu);
        }
        if (!prefetch)
            trace.pageFault(v.id, gpa, traced, r);
        return r;
    }

    /**
     * Whether the fault is private. Emulated MMIO is shared only: where the attributes tell private from shared, a
     * reserved-bit fault (a cached MMIO SPTE, which changing the attributes does not zap) is shared whatever they say
     * now; they are looked up only there (kvm_mmu_page_fault's PFERR_PRIVATE_ACCESS for software-protected VMs):
     * elsewhere the GPA or the error code tells.
     */
    private boolean isPrivateFault(long gpa, long gfn, boolean encryptedAccess, boolean rsvd) {
        return mmu.routing.isPrivateFault(gpa, encryptedAccess, mmu.caps.privateMem() && !rsvd
                && mmu.caps.privateSource() == PrivateSource.ATTRIBUTES && mem.attributes.isPrivate(gfn));
    }

    /** The handler's body inside the memslots' SRCU section: MMIO, fast or TDP fault, and its statistics. */
    private int handleInSrcu(Vcpu v, PageFault f, long errorCode, boolean rsvd, boolean prefetch) {
        int r = RET_PF_INVALID;
        if (rsvd)
            r = mmioFault(v, f); // an MMIO SPTE made now is emulated at once, uncounted
        if (r == RET_PF_INVALID) {
            if (!prefetch)
                v.stats.inc(Stat.PF_TAKEN);
            if (!rsvd)
                r = fastPageFault(v, f, (errorCode & ErrorCode.PRESENT) != 0);
            if (r == RET_PF_INVALID)
                r = tdpPageFault(v, f);
            if (!prefetch)
                count(v, r);
        } else if (r == RET_PF_RETRY && !prefetch) {
            v.stats.inc(Stat.PF_RETRY);
        }
        return r;
    }

    /**
     * The stats of {@code kvm_mmu_page_fault} after the fault handler proper (6.11 and later: a prefetch fault of
     * {@code KVM_PRE_FAULT_MEMORY} or a populate ioctl bumps none); an emulated MMIO access counts as
     * {@code pf_emulate}, a private one that exits to userspace as nothing. {@code pf_retry} is tdplab's own.
     */
    private static void count(Vcpu v, int r) {
        switch (r) {
        case RET_PF_FIXED -> v.stats.inc(Stat.PF_FIXED);
        case RET_PF_SPURIOUS -> v.stats.inc(Stat.PF_SPURIOUS);
        case RET_PF_RETRY -> v.stats.inc(Stat.PF_RETRY);
        case RET_PF_EMULATE, EXIT_MMIO -> v.stats.inc(Stat.PF_EMULATE);
        default -> {
        }
        }
    }

    /**
     * {@code handle_mmio_page_fault}, a reserved-bit fault on an MMIO SPTE (private MMIO is a bug in the guest:
     * memory fault). The SPTE is emulated only if it was made in the current memslot generation; one made before
     * the memslots last changed is stale ({@code check_mmio_spte} fails: {@code RET_PF_INVALID}), so the fault
     * takes the normal path ({@code RET_PF_INVALID}), which replaces it with whatever the memslots say now. An entry
     * that is no longer MMIO was zapped meanwhile: the guest faults again.
     */
    private int mmioFault(Vcpu v, PageFault f) {
        if (f.isPrivate)
            return memoryFault(v, f);
        long spte;
        mmu.rcu.readLock();
        try {
            spte = HardwareWalk.lastSpte(mmu, v.roots.direct, f.addr >>> 12);
        } finally {
            mmu.rcu.readUnlock();
        }
        if (!Spte.isMmio(spte, mmu.caps.mmioValue()))
            return f.retry("the MMIO SPTE was zapped meanwhile");
        if (Spte.mmioGeneration(spte) != (mem.memslots.generation() & Spte.MMIO_GEN_MASK))
            return RET_PF_INVALID;
        v.exitGpa = f.gfn << 12;
        return EXIT_MMIO;
    }

    /**
     * {@code page_fault_can_be_fast}: never for a fault whose privateness disagrees with the attributes (the slow
     * path must exit to userspace), nor for private faults of mirrored VMs (the fast path walks only the direct
     * root). A not-present fault can only be an access-tracked SPTE; a present one must be a write (a
     * write-protected but mmu-writable SPTE) or an access the A/D-disabled tracking took away.
     */
    private boolean canBeFast(PageFault f, boolean present) {
        if (mmu.caps.privateMem() && f.isPrivate != mem.attributes.isPrivate(f.gfn))
            return false;
        if (mmu.routing.followsMirror(f.isPrivate))
            return false;
        if (!present)
            return mmu.caps.adDisabled();
        return f.write;
    }

    /** {@code fast_page_fault} on the vCPU's direct root, when the fault can be fixed that way. */
    private int fastPageFault(Vcpu v, PageFault f, boolean present) {
        if (!canBeFast(f, present))
            return RET_PF_INVALID;
        return mmu.fastPf.fix(v.roots.direct, f, mem.memslots);
    }

    private int tdpPageFault(Vcpu v, PageFault f) {
        if (mmu.caps.mirroredPt())
            topUpExternalCache(v);
        long seq = mmu.invalidation.seq();
        int r = faultinPfn(v, f, seq);
        if (r != PageFault.RET_PF_CONTINUE)
            return r;
        VcpuThread t = v.thread; // handle found the thread's records
        mmu.lock.readLock(t.mmuLock);
        try {
            r = mapUnderReadLock(v, f, seq, t);
        } finally {
            mmu.lock.readUnlock(t.mmuLock);
        }
        if (r == RET_PF_EMULATE) {
            v.exitGpa = f.gfn << 12;
            return f.isPrivate ? memoryFault(v, f) : EXIT_MMIO;
        }
        return r;
    }

    /** The fault's checks and its map under the MMU lock for read ({@code kvm_tdp_mmu_map} and what precedes it). */
    private int mapUnderReadLock(Vcpu v, PageFault f, long seq, VcpuThread t) {
        if (status.dead())
            return EXIT_DEAD;
        int root = mmu.roots.forFault(v.roots, f.isPrivate);
        long first = Spte.gfnRoundForLevel(f.gfn, f.goalLevel);
        if (mmu.pool.isInvalid(v.roots.direct))
            return f.retry("the vCPU's root is obsolete"); // is_page_fault_stale
        if (mmu.invalidation.retry(seq, first, first + Spte.pagesPerHpage(f.goalLevel)))
            return f.waitFor("an invalidation overlapped the fault (under the MMU lock)");
        // make_spte: a prefetch without A/D bits is made access-tracked, with W saved away, and only a leaf
        // left writable is logged dirty
        if (f.logDirty && !(f.prefetch && mmu.caps.adDisabled()))
            markDirtyInSlot(f.gfn);
        if (trace.on())
            trace.spteRequested(v.id, f.gfn, f.pfn | (f.gfn & (Spte.pagesPerHpage(f.goalLevel) - 1)),
                    f.goalLevel);
        return mmu.map.map(f, root, t.rcu);
    }

    /**
     * {@code mmu_topup_memory_caches}' call of {@code topup_external_cache} on a VM with mirrored tables, for as
     * many tables as a walk from the largest root may make; before the MMU lock, for every fault.
     *
     * @throws MmuException the backend's errno and reason, nothing changed
     */
    private void topUpExternalCache(Vcpu v) {
        HookStatus s = gate.backend().topUpExternalCache(v.id, Spte.PT64_ROOT_MAX_LEVEL);
        if (!s.isOk())
            throw new MmuException(s.errno(), "%s", s.reason());
    }

    /**
     * {@code mark_page_dirty_in_slot} from {@code make_spte}: under the read lock, so a {@code KVM_GET_DIRTY_LOG},
     * which harvests the bitmap and write-protects under the write lock, sees the dirty bit and the writable SPTE
     * together or neither.
     */
    private void markDirtyInSlot(long gfn) {
        Memslot slot = mem.memslots.find(gfn);
        if (slot != null && slot.isDirtyLogging())
            slot.markDirty(gfn);
    }

    /** {@code kvm_mmu_faultin_pfn}. */
    private int faultinPfn(Vcpu v, PageFault f, long seq) {
        if (f.isPrivate != mem.attributes.isPrivate(f.gfn))
            return memoryFault(v, f);
        Memslot slot = mem.memslots.find(f.gfn);
        if (slot == null)
            return noSlot(v, f);
        if (slot.isInvalid())
            return f.prefetch ? PREFETCH_EAGAIN : f.waitFor("the memslot is being deleted or moved");
        if (mmu.invalidation.inProgress(f.gfn))
            return f.waitFor("an invalidation is in progress over the GFN");
        f.hasSlot = true;
        // the shared path, with what follows it, first in the bytecode: the JIT inlines in that order, and the
        // private path other VM types made hot (guest_memfd's) inlined first left the rest of a shared fault calls
        if (!f.isPrivate) {
            int r = sharedPfn(v, f, slot);
            return r != PageFault.RET_PF_CONTINUE ? r : afterPfn(f, slot, seq);
        }
        int r = privatePfn(v, f, slot);
        return r != PageFault.RET_PF_CONTINUE ? r : afterPfn(f, slot, seq);
    }

    /** The rest of {@link #faultinPfn} once the pfn is found: the invalidation's check, the mapping level. */
    private int afterPfn(PageFault f, Memslot slot, long seq) {
        if (mmu.invalidation.retry(seq, f.gfn))
            return f.waitFor("an invalidation overlapped the pfn lookup");
        hugepageAdjust(f, slot);
        return PageFault.RET_PF_CONTINUE;
    }

    /** {@code kvm_handle_noslot_fault}: private → memory fault; shared → an MMIO SPTE, then emulation. */
    private int noSlot(Vcpu v, PageFault f) {
        if (f.isPrivate)
            return memoryFault(v, f);
        f.hasSlot = false;
        f.mmioGeneration = mem.memslots.generation();
        f.goalLevel = Spte.PG_LEVEL_4K;
        return PageFault.RET_PF_CONTINUE;
    }

    /** {@code kvm_mmu_faultin_pfn_private}: the slot must be bound to guest_memfd. */
    private int privatePfn(Vcpu v, PageFault f, Memslot slot) {
        if (!slot.isGmem())
            return memoryFault(v, f);
        long got = slot.gmemPfnAndOrder(f.gfn, v.id); // the pfn and max_order, as kvm_gmem_get_pfn gives them
        long pfn = GuestMemfd.pfnOf(got);
        if (pfn < 0)
            return memoryFault(v, f);
        f.pfn = pfn;
        // private faults are always treated as writes: the page is mapped writable (no CoW aliasing)
        f.hostWritable = true;
        f.mapWritable = true;
        int folioLevel = levelOfOrder(GuestMemfd.maxOrderOf(got));
        int backendLevel = Math.min(mmu.caps.privateMaxLevel(), gate.backend().privateMaxLevel(f.gfn, pfn));
        f.maxLevel = Math.min(folioLevel, backendLevel);
        return PageFault.RET_PF_CONTINUE;
    }

    private int sharedPfn(Vcpu v, PageFault f, Memslot slot) {
        if (f.write && slot.isReadonly()) {
            v.exitGpa = f.gfn << 12;
            return RET_PF_EMULATE; // KVM_PFN_ERR_RO_FAULT: the write is emulated as MMIO
        }
        if (mmu.caps.sharedInPlace() && slot.isGmem())
            return sharedInPlacePfn(v, f, slot);
        long host = slot.hvaPfnAndLevel(f.gfn); // GUP's page and host_pfn_mapping_level, in one look-up
        f.pfn = PfnMap.pfnOf(host);
        f.hostWritable = !slot.isReadonly();
        // make_spte maps a host-writable page writable even on a read fault, and then logs it dirty (under the lock)
        f.mapWritable = f.hostWritable;
        f.logDirty = f.mapWritable && slot.isDirtyLogging();
        f.maxLevel = PfnMap.levelOf(host);
        return PageFault.RET_PF_CONTINUE;
    }

    /**
     * A shared fault of a VM that shares in place, in a guest_memfd memslot: the guest_memfd page itself is the
     * shared page (guest_memfd memory the host may map), so the mapping is as large as its folio allows.
     */
    private int sharedInPlacePfn(Vcpu v, PageFault f, Memslot slot) {
        long got = slot.gmemPfnAndOrder(f.gfn, v.id);
        long pfn = GuestMemfd.pfnOf(got);
        if (pfn < 0)
            return memoryFault(v, f);
        f.pfn = pfn;
        f.hostWritable = !slot.isReadonly();
        f.mapWritable = f.hostWritable;
        f.logDirty = f.mapWritable && slot.isDirtyLogging();
        f.maxLevel = Math.min(levelOfOrder(GuestMemfd.maxOrderOf(got)), slot.hostMappingLevel(f.gfn));
        return PageFault.RET_PF_CONTINUE;
    }

    /** {@code kvm_mmu_hugepage_adjust}: the largest level the slot, attributes and backing allow; pfn aligned. */
    private void hugepageAdjust(PageFault f, Memslot slot) {
        int max = f.maxLevel;
        f.hugePageDisallowed = f.exec && mmu.caps.nxHugePages();
        if (max <= Spte.PG_LEVEL_4K || slot.isDirtyLogging()) {
            f.goalLevel = Spte.PG_LEVEL_4K;
            return;
        }
        int level = slot.maxMappingLevel(f.gfn, max, f.isPrivate);
        f.reqLevel = level;
        if (f.hugePageDisallowed) {
            f.goalLevel = Spte.PG_LEVEL_4K; // the NX huge page mitigation: executable mappings are 4K
            return;
        }
        f.goalLevel = level;
        f.pfn &= ~(Spte.pagesPerHpage(level) - 1);
    }

    private int memoryFault(Vcpu v, PageFault f) {
        v.exitGpa = f.gfn << 12;
        v.exitPrivate = f.isPrivate;
        return EXIT_MEMORY_FAULT;
    }

    private static int levelOfOrder(int order) {
        if (order >= 18)
            return Spte.PG_LEVEL_1G;
        if (order >= 9)
            return Spte.PG_LEVEL_2M;
        return Spte.PG_LEVEL_4K;
    }
}
