package org.tdplab.mmu.tdp.vm;

import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_EMULATE;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_FIXED;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_INVALID;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_RETRY;
import static org.tdplab.mmu.tdp.mmu.PageFault.RET_PF_SPURIOUS;

import org.tdplab.mmu.api.backend.PrivateSource;
import org.tdplab.mmu.tdp.mmu.ErrorCode;
import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.mmu.Stat;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.vcpu.HardwareWalk;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * {@code kvm_mmu_page_fault} → {@code kvm_tdp_mmu_page_fault}: decides privateness by capability, resolves the
 * pfn from the memslot (host memory or guest_memfd), picks the mapping level and the root, and maps under the
 * read lock. Allocation-free: it fills the vCPU's {@link PageFault}.
 */
final class FaultHandler {
    /** Results beyond {@code RET_PF_*}: exits to userspace, with the GPA in the vCPU. */
    static final int EXIT_MEMORY_FAULT = -1, EXIT_MMIO = -2, EXIT_DEAD = -3;

    private final CoreVm vm;
    private final TdpMmu mmu;

    FaultHandler(CoreVm vm) {
        this.vm = vm;
        this.mmu = vm.mmu;
    }

    /**
     * Handles one EPT/NPT violation of vCPU {@code v} at {@code gpa} (as the guest addressed it).
     * {@code encryptedAccess} is the guest's encrypted-access bit for VMs whose privateness comes from the error
     * code.
     */
    int handle(Vcpu v, long gpa, long errorCode, boolean encryptedAccess, boolean prefetch) {
        if (vm.bugged())
            return EXIT_DEAD;
        mmu.stats.inc(Stat.PF_TAKEN);
        long gfn = (gpa >>> 12) & ~mmu.directBits;
        boolean isPrivate = isPrivate(gpa, gfn, encryptedAccess);
        PageFault f = v.fault;
        f.reset(gpa, gfn, (errorCode & ErrorCode.WRITE) != 0, (errorCode & ErrorCode.FETCH) != 0, isPrivate,
                prefetch);
        long traced = errorCode | (isPrivate ? ErrorCode.PRIVATE_ACCESS : 0);
        if (!prefetch)
            vm.trace.faultEntered(v.id, gpa, traced);
        int r;
        vm.srcu.readLock();
        try {
            if ((errorCode & ErrorCode.RSVD) != 0) {
                r = mmioFault(v, f);
            } else {
                r = fastPageFault(v, f, (errorCode & ErrorCode.PRESENT) != 0);
                if (r == RET_PF_INVALID)
                    r = tdpPageFault(v, f);
            }
        } finally {
            vm.srcu.readUnlock();
        }
        if (!prefetch)
            vm.trace.pageFault(v.id, gpa, traced, r);
        count(r);
        return r;
    }

    private void count(int r) {
        switch (r) {
        case RET_PF_FIXED -> mmu.stats.inc(Stat.PF_FIXED);
        case RET_PF_SPURIOUS -> mmu.stats.inc(Stat.PF_SPURIOUS);
        case RET_PF_RETRY -> mmu.stats.inc(Stat.PF_RETRY);
        case RET_PF_EMULATE -> mmu.stats.inc(Stat.PF_EMULATE);
        default -> {
        }
        }
    }

    /** {@code PFERR_PRIVATE_ACCESS}, from the source the backend declared. */
    private boolean isPrivate(long gpa, long gfn, boolean encryptedAccess) {
        PrivateSource source = mmu.caps.privateSource();
        return switch (source) {
        case NONE -> false;
        case ATTRIBUTES -> vm.attributes.isPrivate(gfn);
        case SHARED_BIT -> (gpa & (1L << mmu.caps.sharedBit())) == 0;
        case ERROR_CODE -> encryptedAccess;
        };
    }

    /**
     * {@code handle_mmio_page_fault}, a reserved-bit fault on an MMIO SPTE (private MMIO is a bug in the guest:
     * memory fault). The SPTE is emulated only if it was made in the current memslot generation; one made before
     * the memslots last changed is stale ({@code check_mmio_spte} fails: {@code RET_PF_INVALID}), so the fault
     * takes the normal path, which replaces it with whatever the memslots say now. An entry that is no longer MMIO
     * was zapped meanwhile: the guest faults again.
     */
    private int mmioFault(Vcpu v, PageFault f) {
        if (f.isPrivate)
            return memoryFault(v, f);
        long spte;
        mmu.rcu.readLock();
        try {
            spte = HardwareWalk.lastSpte(mmu, vm.directRootOf(v), f.addr >>> 12);
        } finally {
            mmu.rcu.readUnlock();
        }
        if (!Spte.isMmio(spte, mmu.caps.mmioValue()))
            return RET_PF_RETRY;
        if (Spte.mmioGeneration(spte) != (vm.memslots.generation() & Spte.MMIO_GEN_MASK))
            return tdpPageFault(v, f);
        v.exitGpa = f.gfn << 12;
        return EXIT_MMIO;
    }

    /** {@code fast_page_fault} gives up after this many lost {@code cmpxchg} races. */
    static final int FAST_PF_MAX_RETRIES = 4;

    /**
     * {@code page_fault_can_be_fast}: never for a fault whose privateness disagrees with the attributes (the slow
     * path must exit to userspace), nor for private faults of mirrored VMs (the fast path walks only the direct
     * root). A not-present fault can only be an access-tracked SPTE; a present one must be a write (a
     * write-protected but mmu-writable SPTE) or an access the A/D-disabled tracking took away.
     */
    private boolean canBeFast(PageFault f, boolean present) {
        if (mmu.caps.privateMem() && f.isPrivate != vm.attributes.isPrivate(f.gfn))
            return false;
        if (f.isPrivate && mmu.caps.mirroredPt())
            return false;
        if (!present)
            return mmu.caps.adDisabled();
        return f.write;
    }

    /**
     * {@code fast_page_fault}: fixes a write-protected (mmu-writable) or access-tracked leaf of the direct root
     * without the MMU lock, inside RCU only, with {@code cmpxchg} — up to {@value #FAST_PF_MAX_RETRIES} retries.
     * Refuses (→ {@code RET_PF_INVALID}, the slow path) a huge page in a dirty-logged slot (it must be split) and a
     * leaf that is not mmu-writable. Marks the page dirty when it makes a leaf writable.
     */
    private int fastPageFault(Vcpu v, PageFault f, boolean present) {
        if (!canBeFast(f, present))
            return RET_PF_INVALID;
        int ret = RET_PF_INVALID;
        int retries = 0;
        long indexGfn = f.gfn | mmu.directBits;
        mmu.rcu.readLock();
        try {
            while (true) {
                int root = vm.directRootOf(v);
                long sptep = mmu.fastPfGetLastSptep(root, indexGfn, f);
                long spte = f.fastSpte;
                int level = f.fastLevel;
                if (!Spte.isShadowPresent(spte) || !Spte.isLast(spte, level))
                    break;
                if (org.tdplab.mmu.tdp.mmu.TdpMap.accessAllowed(f, spte)) {
                    ret = RET_PF_SPURIOUS;
                    break;
                }
                long newSpte = spte;
                if (Spte.isAccessTracked(spte))
                    newSpte = Spte.restoreAccessTrack(newSpte);
                if (f.write && Spte.isMmuWritable(spte)) {
                    newSpte = Spte.makeWritable(newSpte);
                    // a huge page in a dirty-logged slot must be split by the slow path, not made writable
                    if (level > Spte.PG_LEVEL_4K) {
                        Memslot slot = vm.memslots.find(f.gfn);
                        if (slot != null && slot.isDirtyLogging())
                            break;
                    }
                }
                if (newSpte == spte || !org.tdplab.mmu.tdp.mmu.TdpMap.accessAllowed(f, newSpte))
                    break;
                if (mmu.fastPfFixDirectSpte(sptep, f.gfn, level, spte, newSpte)) {
                    if (Spte.isWritable(newSpte) && !Spte.isWritable(spte)) {
                        Memslot slot = vm.memslots.find(f.gfn);
                        if (slot != null && slot.isDirtyLogging())
                            slot.markDirty(f.gfn); // mark_page_dirty_in_slot
                    }
                    ret = RET_PF_FIXED;
                    break;
                }
                if (++retries > FAST_PF_MAX_RETRIES)
                    break;
            }
        } finally {
            mmu.rcu.readUnlock();
        }
        if (ret == RET_PF_FIXED)
            mmu.stats.inc(Stat.PF_FAST);
        return ret;
    }

    private int tdpPageFault(Vcpu v, PageFault f) {
        long seq = mmu.invalidation.seq();
        int r = faultinPfn(v, f, seq);
        if (r != PageFault.RET_PF_CONTINUE)
            return r;
        mmu.lock.readLock();
        try {
            if (vm.bugged())
                return EXIT_DEAD;
            int root = vm.rootForFault(v, f.isPrivate);
            long first = Spte.gfnRoundForLevel(f.gfn, f.goalLevel);
            if (mmu.pool.isInvalid(vm.directRootOf(v))
                    || mmu.invalidation.retry(seq, first, first + Spte.pagesPerHpage(f.goalLevel)))
                return RET_PF_RETRY; // is_page_fault_stale
            if (f.logDirty)
                markDirtyInSlot(f.gfn);
            if (vm.trace.on())
                vm.trace.spteRequested(v.id, f.gfn, f.pfn | (f.gfn & (Spte.pagesPerHpage(f.goalLevel) - 1)),
                        f.goalLevel);
            r = mmu.map.map(f, root);
        } finally {
            mmu.lock.readUnlock();
        }
        if (r == RET_PF_EMULATE) {
            v.exitGpa = f.gfn << 12;
            return f.isPrivate ? memoryFault(v, f) : EXIT_MMIO;
        }
        return r;
    }

    /**
     * {@code mark_page_dirty_in_slot} from {@code make_spte}: under the read lock, so a {@code KVM_GET_DIRTY_LOG},
     * which harvests the bitmap and write-protects under the write lock, sees the dirty bit and the writable SPTE
     * together or neither.
     */
    private void markDirtyInSlot(long gfn) {
        Memslot slot = vm.memslots.find(gfn);
        if (slot != null && slot.isDirtyLogging())
            slot.markDirty(gfn);
    }

    /** {@code kvm_mmu_faultin_pfn}. */
    private int faultinPfn(Vcpu v, PageFault f, long seq) {
        if (f.isPrivate != vm.attributes.isPrivate(f.gfn))
            return memoryFault(v, f);
        Memslot slot = vm.memslots.find(f.gfn);
        if (slot == null)
            return noSlot(v, f);
        if (slot.isInvalid())
            return RET_PF_RETRY;
        if (mmu.invalidation.inProgress(f.gfn))
            return RET_PF_RETRY;
        f.hasSlot = true;
        int r = f.isPrivate ? privatePfn(v, f, slot) : sharedPfn(v, f, slot);
        if (r != PageFault.RET_PF_CONTINUE)
            return r;
        if (mmu.invalidation.retry(seq, f.gfn))
            return RET_PF_RETRY;
        hugepageAdjust(f, slot);
        return PageFault.RET_PF_CONTINUE;
    }

    /** {@code kvm_handle_noslot_fault}: private → memory fault; shared → an MMIO SPTE, then emulation. */
    private int noSlot(Vcpu v, PageFault f) {
        if (f.isPrivate)
            return memoryFault(v, f);
        f.hasSlot = false;
        f.mmioGeneration = vm.memslots.generation();
        f.goalLevel = Spte.PG_LEVEL_4K;
        return PageFault.RET_PF_CONTINUE;
    }

    /** {@code kvm_mmu_faultin_pfn_private}: the slot must be bound to guest_memfd. */
    private int privatePfn(Vcpu v, PageFault f, Memslot slot) {
        if (!slot.isGmem())
            return memoryFault(v, f);
        long pfn = vm.gmemPfn(slot, f.gfn);
        if (pfn < 0)
            return memoryFault(v, f);
        f.pfn = pfn;
        // private faults are always treated as writes: the page is mapped writable (no CoW aliasing)
        f.hostWritable = true;
        f.mapWritable = true;
        int folioLevel = levelOfOrder(slot.gmem().folioOrder(slot.gmemIndex(f.gfn)));
        int backendLevel = Math.min(mmu.caps.privateMaxLevel(), vm.backend().privateMaxLevel(pfn));
        f.maxLevel = Math.min(folioLevel, backendLevel);
        return PageFault.RET_PF_CONTINUE;
    }

    private int sharedPfn(Vcpu v, PageFault f, Memslot slot) {
        if (f.write && slot.isReadonly()) {
            v.exitGpa = f.gfn << 12;
            return RET_PF_EMULATE; // KVM_PFN_ERR_RO_FAULT: the write is emulated as MMIO
        }
        f.pfn = slot.hvaPfn(f.gfn);
        f.hostWritable = !slot.isReadonly();
        // make_spte maps a host-writable page writable even on a read fault, and then logs it dirty (under the lock)
        f.mapWritable = f.hostWritable;
        f.logDirty = f.mapWritable && slot.isDirtyLogging();
        f.maxLevel = slot.hostMappingLevel(f.gfn);
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
