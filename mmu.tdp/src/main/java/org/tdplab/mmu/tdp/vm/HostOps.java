package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.mmu.Zapper;
import org.tdplab.mmu.tdp.pt.TdpIter;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/** The VMM's ioctls on one VM, serialized by {@code slots_lock}, with the kernel's zap and invalidation rules. */
final class HostOps {
    private final CoreVm vm;
    private final TdpMmu mmu;

    HostOps(CoreVm vm) {
        this.vm = vm;
        this.mmu = vm.mmu;
    }

    // ---- validation ---------------------------------------------------------------------------------------

    /** A GPA range of whole 4K pages below the VM's addressable limit; returns its GFN range. */
    long[] gfnRange(String what, long gpa, long size) {
        if (size == 0)
            throw new MmuException(Errno.EINVAL, "%s: size=0x%x must be positive", what, size);
        if ((gpa & 0xfff) != 0)
            throw new MmuException(Errno.EINVAL, "%s: gpa=0x%x is not 4K-aligned", what, gpa);
        if ((size & 0xfff) != 0)
            throw new MmuException(Errno.EINVAL, "%s: size=0x%x is not a multiple of 4K", what, size);
        checkRange(what, gpa, size, vm.caps.maxGfn() << 12);
        return new long[] { gpa >>> 12, (gpa + size) >>> 12 };
    }

    /**
     * {@code [gpa, gpa + size)} as unsigned 64-bit numbers, as an ioctl checks it ({@code gpa + size <= gpa} is
     * EINVAL in {@code kvm_vcpu_pre_fault_memory}, say): refused when it wraps past 2^64 or ends beyond
     * {@code limit}, before anything changes.
     */
    static void checkRange(String what, long gpa, long size, long limit) {
        long end = gpa + size;
        if (Long.compareUnsigned(end, gpa) <= 0)
            throw new MmuException(Errno.EINVAL, "%s: gpa=0x%x size=0x%x wraps past 2^64", what, gpa, size);
        if (Long.compareUnsigned(end, limit) > 0)
            throw new MmuException(Errno.EINVAL, "%s: gpa=0x%x size=0x%x reaches beyond the VM's limit 0x%x", what,
                    gpa, size, limit);
    }

    /** The slots overlapping {@code [start, end)}, in GFN order. */
    private List<Memslot> overlapping(long start, long end) {
        List<Memslot> out = new ArrayList<>();
        for (Memslot slot : vm.memslots.snapshot())
            if (slot.baseGfn() < end && slot.endGfn() > start)
                out.add(slot);
        return out;
    }

    /** A memslot the region ioctl names: KVM answers EINVAL for a slot that does not exist. */
    Memslot slot(int id) {
        return slot(id, Errno.EINVAL);
    }

    /** {@code KVM_GET_DIRTY_LOG} and {@code KVM_CLEAR_DIRTY_LOG} answer ENOENT for a missing slot. */
    Memslot dirtyLogSlot(int id) {
        return slot(id, Errno.ENOENT);
    }

    private Memslot slot(int id, Errno missing) {
        Memslot slot = vm.memslots.get(id);
        if (slot == null)
            throw new MmuException(missing, "VM '%s' has no memslot %d", vm.name(), id);
        return slot;
    }

    void lockSlots() {
        vm.requireAlive();
        vm.slotsLock.lock();
    }

    // ---- memslots ----------------------------------------------------------------------------------------

    void addMemslot(int id, long gpa, long size, Set<SlotFlag> flags, PageSize backing) {
        int f = (flags.contains(SlotFlag.GMEM) ? Memslot.GMEM : 0)
                | (flags.contains(SlotFlag.READONLY) ? Memslot.READONLY : 0)
                | (flags.contains(SlotFlag.DIRTY_LOG) ? Memslot.DIRTY_LOG : 0);
        lockSlots();
        try {
            vm.memslots.add(id, gpa, size, f, backing.level());
        } finally {
            vm.slotsLock.unlock();
        }
    }

    /**
     * {@code kvm_mmu_invalidate_begin} and the unmap of the given kinds over {@code [start, end)}, with a flush;
     * the window stays open until {@link #endInvalidation}.
     */
    void invalidate(long start, long end, boolean privateKind, boolean sharedKind) {
        invalidate(start, end, start, end, privateKind, sharedKind);
    }

    /**
     * Opens an invalidation window over {@code [windowStart, windowEnd)}, where faults retry, and unmaps the
     * given kinds over {@code [start, end)} inside it.
     */
    void invalidate(long windowStart, long windowEnd, long start, long end, boolean privateKind,
            boolean sharedKind) {
        mmu.lock.writeLock();
        try {
            mmu.invalidation.begin(Math.min(windowStart, start), Math.max(windowEnd, end));
            if (mmu.zap.unmapGfnRange(start, end, privateKind, sharedKind))
                vm.flushRemoteTlbs(start, end - start);
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    void endInvalidation() {
        mmu.lock.writeLock();
        try {
            mmu.invalidation.end();
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    void deleteMemslot(int id) {
        lockSlots();
        try {
            Memslot slot = slot(id);
            vm.memslots.delete(id, this::zapMemslot);
            vm.expected.discard(slot.baseGfn(), slot.endGfn(), false);
            vm.expected.discard(slot.baseGfn(), slot.endGfn(), true);
        } finally {
            vm.slotsLock.unlock();
        }
    }

    void moveMemslot(int id, long gpa) {
        lockSlots();
        try {
            Memslot slot = slot(id);
            long oldBase = slot.baseGfn(), npages = slot.npages();
            vm.memslots.move(id, gpa, this::zapMemslot);
            vm.expected.move(oldBase, gpa >>> 12, npages);
        } finally {
            vm.slotsLock.unlock();
        }
    }

    /**
     * {@code kvm_invalidate_memslot} + {@code kvm_arch_flush_shadow_memslot}: while the slot is invalid faults
     * retry; default VMs keep the zap-all quirk (fast zap of direct roots), every other VM zaps just the slot.
     */
    private void zapMemslot(Memslot slot) {
        // kvm_swap_active_memslots: faults that found the slot still valid finish before the zap
        vm.srcu.synchronize();
        if (mmu.caps.slotZapAll()) {
            mmu.zap.zapAllFast();
            return;
        }
        mmu.lock.writeLock();
        try {
            if (mmu.zap.unmapGfnRange(slot.baseGfn(), slot.endGfn(), true, true))
                vm.flushRemoteTlbs(slot.baseGfn(), slot.npages());
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    // ---- attributes and guest_memfd ----------------------------------------------------------------------

    void setMemoryAttributes(long gpa, long size, boolean toPrivate) {
        if (!mmu.caps.privateMem())
            throw new MmuException(Errno.EINVAL, "VM '%s' (type %s) has no private memory", vm.name(), vm.type());
        long[] r = gfnRange("attr.set", gpa, size);
        lockSlots();
        try {
            // kvm_vm_set_mem_attributes: nothing to do when the whole range has them already (no zap, no flush)
            if (vm.attributes.rangeIs(r[0], r[1], toPrivate))
                return;
            // faults must not build a huge page across GFNs whose attribute is changing
            long[] straddles = new long[16];
            int n = vm.attributes.straddlingHugeRanges(r[0], r[1], straddles);
            straddles = java.util.Arrays.copyOf(straddles, 2 * n);
            long lo = r[0], hi = r[1];
            for (int i = 0; i + 1 < straddles.length && straddles[i] < straddles[i + 1]; i += 2) {
                lo = Math.min(lo, straddles[i]);
                hi = Math.max(hi, straddles[i + 1]);
            }
            // unmap the old kind: becoming private drops shared mappings and vice versa
            invalidateAll(lo, hi, r, !toPrivate, toPrivate);
            mmu.lock.writeLock();
            try {
                vm.attributes.set(r[0], r[1], toPrivate);
                mmu.invalidation.end();
            } finally {
                mmu.lock.writeUnlock();
            }
        } finally {
            vm.slotsLock.unlock();
        }
    }

    /**
     * Opens the invalidation over {@code [lo, hi)} — the changing range plus the straddling huge pages, so no
     * racing fault builds a huge page across it — and unmaps only the changing range: that unmaps any huge page
     * overlapping it.
     */
    private void invalidateAll(long lo, long hi, long[] range, boolean privateKind, boolean sharedKind) {
        invalidate(lo, hi, range[0], range[1], privateKind, sharedKind);
    }

    void punchHole(long gpa, long size) {
        long[] r = gfnRange("gmem.punch", gpa, size);
        lockSlots();
        try {
            punch(r[0], r[1], true);
        } finally {
            vm.slotsLock.unlock();
        }
    }

    /** Punches the guest_memfd behind every gmem slot overlapping the range; slots lock held. */
    void punch(long start, long end, boolean mustExist) {
        boolean any = false;
        for (Memslot slot : overlapping(start, end)) {
            if (!slot.isGmem())
                continue;
            any = true;
            long s = Math.max(start, slot.baseGfn()), e = Math.min(end, slot.endGfn());
            slot.gmem().punchHole(slot.gmemIndex(s) << 12, (e - s) << 12);
        }
        if (!any && mustExist)
            throw new MmuException(Errno.EINVAL, "no guest_memfd backs gpa=0x%x..0x%x", start << 12, end << 12);
    }

    /**
     * The host's invalidation range for changing host pages in {@code [start, end)}: a huge host page only partly
     * inside is split first, and the split invalidates all of it (as {@code __split_huge_pmd} does).
     */
    private long[] hostInvalidationRange(long start, long end) {
        long lo = start, hi = end;
        for (Memslot slot : overlapping(start, end)) {
            long pages = Spte.pagesPerHpage(slot.backingLevel());
            long base = slot.baseGfn();
            lo = Math.min(lo, Math.max(base, base + ((Math.max(start, base) - base) & -pages)));
            hi = Math.max(hi, Math.min(slot.endGfn(), base + ((Math.min(end, slot.endGfn()) - base + pages - 1) & -pages)));
        }
        return new long[] { lo, hi };
    }

    /** Userspace drops the shared pages behind a range (madvise DONTNEED): the notifier zaps, frames are freed. */
    void discardShared(long start, long end) {
        long[] window = hostInvalidationRange(start, end);
        invalidate(window[0], window[1], false, true);
        try {
            for (Memslot slot : overlapping(start, end))
                slot.discardShared(Math.max(start, slot.baseGfn()), Math.min(end, slot.endGfn()));
            vm.expected.discard(start, end, false);
        } finally {
            endInvalidation();
        }
    }

    // ---- zaps -----------------------------------------------------------------------------------------------

    /**
     * {@code kvm_zap_gfn_range} for a memory-type change: every valid root, mirror included. A backend that
     * cannot take it has the VM bugged instead, as the kernel's {@code KVM_BUG_ON} does.
     */
    void zapGfnRange(long gpa, long size) {
        long[] r = gfnRange("zap", gpa, size);
        vm.requireAlive();
        if (!mmu.caps.memtypeZapSupported()) {
            vm.bug("kvm_zap_gfn_range for a memory-type change on a VM of type " + vm.type()
                    + ", whose backend does not support it");
            throw new MmuException(Errno.EIO, "zap gpa=0x%x size=0x%x: VM '%s' of type %s cannot take memory-type "
                    + "zaps; the VM is now bugged", gpa, size, vm.name(), vm.type());
        }
        zapLeafs(r[0], r[1]);
    }

    /** A leaf zap of every valid root, inside an invalidation window. */
    void zapLeafs(long start, long end) {
        mmu.lock.writeLock();
        try {
            mmu.invalidation.begin(start, end);
            if (mmu.zap.zapLeafsChecked(Zapper.VALID_ROOTS, start, end))
                vm.flushRemoteTlbs(start, end - start);
            mmu.invalidation.end();
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    /**
     * An MMU-notifier invalidation of the host mapping (modelled as the host migrating the pages): the shared
     * mappings are zapped and flushed, then each present host page moves to a new frame with its contents. A
     * translation that survived the zap would now reach a freed frame.
     */
    void notifyUnmap(long gpa, long size) {
        long[] r = gfnRange("notify.unmap", gpa, size);
        lockSlots();
        try {
            long[] window = hostInvalidationRange(r[0], r[1]);
            invalidate(window[0], window[1], false, true);
            try {
                for (Memslot slot : overlapping(r[0], r[1]))
                    migrateShared(slot, Math.max(r[0], slot.baseGfn()), Math.min(r[1], slot.endGfn()));
            } finally {
                endInvalidation();
            }
        } finally {
            vm.slotsLock.unlock();
        }
    }

    private void migrateShared(Memslot slot, long start, long end) {
        List<long[]> contents = new ArrayList<>();
        for (long gfn = start; gfn < end; gfn++) {
            long pfn = slot.hvaPfnIfPresent(gfn);
            if (pfn >= 0)
                contents.add(new long[] { gfn, vm.memory.read(pfn) });
        }
        slot.discardShared(start, end);
        for (long[] c : contents)
            vm.memory.write(slot.hvaPfn(c[0]), c[1]);
    }

    /**
     * MMU-notifier age / test-young over the shared-kind roots: counts young 4K pages; aging clears A atomically.
     * RCU only, no MMU lock, no TLB flush; presence and pfn never change (invariant 25).
     */
    long age(long gpa, long size, boolean clear) {
        long[] r = gfnRange(clear ? "age" : "test_age", gpa, size);
        vm.requireAlive();
        long young = 0;
        TdpIter it = new TdpIter(mmu.pool);
        mmu.rcu.readLock();
        try {
            for (int root : mmu.roots()) {
                if (mmu.pool.isInvalid(root) || (mmu.caps.mirroredPt() && mmu.pool.isMirror(root)))
                    continue;
                for (it.start(root, mmu.rootLevel, Spte.PG_LEVEL_4K, r[0], r[1], mmu.gfnBits(root)); it.valid; it.next()) {
                    long spte = it.oldSpte;
                    if (!Spte.isShadowPresent(spte) || !Spte.isLast(spte, it.level) || !Spte.isAccessed(spte))
                        continue;
                    long first = Math.max(r[0], it.gfn), last = Math.min(r[1], it.gfn + Spte.pagesPerHpage(it.level));
                    young += last - first;
                    if (clear)
                        ageSpte(it.sptep, spte);
                }
            }
        } finally {
            mmu.rcu.readUnlock();
        }
        return young;
    }

    /**
     * Ages one young leaf: with A/D bits an atomic AND of A (it always lands: retried until A is clear); without,
     * {@code mark_spte_for_access_track} with one {@code cmpxchg} whose failure is ignored. The pfn and presence never
     * change, and nothing is flushed: a TLB entry that survives only makes the page look less idle.
     */
    private void ageSpte(long sptep, long spte) {
        if (Spte.adEnabled(spte)) {
            while ((spte & Spte.ACCESSED) != 0 && !mmu.pool.cas(sptep, spte, Spte.clearAccessed(spte)))
                spte = mmu.pool.get(sptep);
            return;
        }
        mmu.pool.cas(sptep, spte, Spte.markForAccessTrack(spte)); // losing the race is fine
    }

    // ---- teardown -----------------------------------------------------------------------------------------

    void teardown() {
        mmu.lock.readLock();
        try {
            for (Vcpu v : vm.vcpus) {
                if (v.directRoot != 0)
                    mmu.putRoot(v.directRoot);
                if (v.mirrorRoot != 0)
                    mmu.putRoot(v.mirrorRoot);
                v.directRoot = v.mirrorRoot = 0;
            }
        } finally {
            mmu.lock.readUnlock();
        }
        // guest_memfd release: every private SPTE goes while the key is still assigned
        mmu.lock.writeLock();
        try {
            for (Memslot slot : vm.memslots.snapshot())
                if (slot.isGmem() && mmu.zap.unmapGfnRange(slot.baseGfn(), slot.endGfn(), true, false))
                    vm.flushRemoteTlbs(slot.baseGfn(), slot.npages());
        } finally {
            mmu.lock.writeUnlock();
        }
        vm.backend().releaseKey();
        mmu.lock.writeLock();
        try {
            mmu.zap.teardown();
        } finally {
            mmu.lock.writeUnlock();
        }
        mmu.rcu.synchronize();
        for (Memslot slot : vm.memslots.snapshot())
            vm.memslots.delete(slot.id());
        vm.backend().teardown();
    }
}
