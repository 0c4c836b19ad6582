package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.List;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The VMM's ioctls on one VM's memory beyond the memslots — attributes, guest_memfd holes, MMU-notifier events,
 * memory-type zaps and aging — serialized by {@code slots_lock}, with the kernel's zap and invalidation rules.
 */
final class HostOps {
    private final VmStatus status;
    private final VmMemory mem;
    private final TdpMmu mmu;
    private final BackendSlot gate;

    HostOps(VmStatus status, VmMemory mem, TdpMmu mmu, BackendSlot gate) {
        this.status = status;
        this.mem = mem;
        this.mmu = mmu;
        this.gate = gate;
    }

    // ---- attributes and guest_memfd ----------------------------------------------------------------------

    void setMemoryAttributes(long gpa, long size, boolean toPrivate) {
        if (!mmu.caps.privateMem())
            throw new MmuException(Errno.EINVAL, "VM '%s' (type %s) has no private memory", status.name, status.type);
        long[] r = Ranges.gfnRange("attr.set", gpa, size, mmu.caps.maxGfn());
        mem.lockSlots(status);
        try {
            // kvm_vm_set_mem_attributes: nothing to do when the whole range has them already (no zap, no flush)
            if (mem.attributes.rangeIs(r[0], r[1], toPrivate))
                return;
            // the attribute bitmap holds a word per 64 private pages (shared ones cost nothing): a private range too
            // large for the heap is refused whole (KVM's per-page xarray stores would fail with ENOMEM), not half set
            if (toPrivate)
                HeapExhausted.require((r[1] - r[0] + 63) / 64 * 8,
                        String.format("attr.set gpa=0x%x size=0x%x", gpa, size));
            preSetMemoryAttributes(r[0], r[1], toPrivate);
            // faults must not build a huge page across GFNs whose attribute is changing
            long[] straddles = new long[16];
            int n = mem.attributes.straddlingHugeRanges(r[0], r[1], straddles);
            straddles = java.util.Arrays.copyOf(straddles, 2 * n);
            long lo = r[0], hi = r[1];
            for (int i = 0; i + 1 < straddles.length && straddles[i] < straddles[i + 1]; i += 2) {
                lo = Math.min(lo, straddles[i]);
                hi = Math.max(hi, straddles[i + 1]);
            }
            // unmap the old kind: becoming private drops shared mappings and vice versa; the window covers the
            // straddling huge pages too, so no racing fault builds a huge page across the change
            mmu.zap.invalidateBegin(lo, hi, r[0], r[1], !toPrivate, toPrivate);
            mmu.lock.writeLock();
            try {
                mem.attributes.set(r[0], r[1], toPrivate);
                gate.backend().postSetMemoryAttributes(r[0], r[1] - r[0], toPrivate);
            } finally {
                // the window closes whatever happened: one left open would make every fault in it retry forever
                mmu.invalidation.end();
                mmu.lock.writeUnlock();
            }
        } finally {
            mem.unlockSlots();
        }
    }

    /** {@code kvm_arch_pre_set_memory_attributes} under the write lock: a refusal fails the ioctl, nothing changed. */
    private void preSetMemoryAttributes(long start, long end, boolean toPrivate) {
        HookStatus s;
        mmu.lock.writeLock();
        try {
            s = gate.backend().preSetMemoryAttributes(start, end - start, toPrivate);
        } finally {
            mmu.lock.writeUnlock();
        }
        if (!s.isOk())
            throw new MmuException(s.errno(), "attributes of gpa=0x%x..0x%x to %s refused by the backend: %s",
                    start << 12, end << 12, toPrivate ? "private" : "shared", s.reason());
    }

    void punchHole(long gpa, long size) {
        long[] r = Ranges.gfnRange("gmem.punch", gpa, size, mmu.caps.maxGfn());
        mem.lockSlots(status);
        try {
            punch(r[0], r[1], true);
        } finally {
            mem.unlockSlots();
        }
    }

    /** Punches the guest_memfd behind every gmem slot overlapping the range; slots lock held. */
    void punch(long start, long end, boolean mustExist) {
        boolean any = false;
        for (Memslot slot : mem.overlapping(start, end)) {
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
        for (Memslot slot : mem.overlapping(start, end)) {
            long pages = Spte.pagesPerHpage(slot.backingLevel());
            long base = slot.baseGfn();
            lo = Math.min(lo, Math.max(base, base + ((Math.max(start, base) - base) & -pages)));
            hi = Math.max(hi,
                    Math.min(slot.endGfn(), base + ((Math.min(end, slot.endGfn()) - base + pages - 1) & -pages)));
        }
        return new long[] { lo, hi };
    }

    /** Userspace drops the shared pages behind a range (madvise DONTNEED): the notifier zaps, frames are freed. */
    void discardShared(long start, long end) {
        long[] window = hostInvalidationRange(start, end);
        mmu.zap.invalidateBegin(window[0], window[1], false, true);
        try {
            for (Memslot slot : mem.overlapping(start, end))
                slot.discardShared(Math.max(start, slot.baseGfn()), Math.min(end, slot.endGfn()));
            mem.expected.discard(start, end, false);
        } finally {
            mmu.zap.invalidateEnd();
        }
    }

    /**
     * {@code kvm_zap_gfn_range} for a memory-type change: every valid root, mirror included. A backend that
     * cannot take it has the VM bugged instead, as the kernel's {@code KVM_BUG_ON} does.
     */
    void zapGfnRange(long gpa, long size) {
        long[] r = Ranges.gfnRange("zap", gpa, size, mmu.caps.maxGfn());
        status.requireAlive();
        if (!mmu.caps.memtypeZapSupported()) {
            status.bug("kvm_zap_gfn_range for a memory-type change on a VM of type " + status.type
                    + ", whose backend does not support it");
            throw new MmuException(Errno.EIO, "zap gpa=0x%x size=0x%x: VM '%s' of type %s cannot take memory-type "
                    + "zaps; the VM is now bugged", gpa, size, status.name, status.type);
        }
        mmu.zap.zapGfnRange(r[0], r[1]);
    }

    /**
     * An MMU-notifier invalidation of the host mapping (modelled as the host migrating the pages): the shared
     * mappings are zapped and flushed, then each present host page moves to a new frame with its contents. A
     * translation that survived the zap would now reach a freed frame.
     */
    void notifyUnmap(long gpa, long size) {
        long[] r = Ranges.gfnRange("notify.unmap", gpa, size, mmu.caps.maxGfn());
        mem.lockSlots(status);
        try {
            long[] window = hostInvalidationRange(r[0], r[1]);
            mmu.zap.invalidateBegin(window[0], window[1], false, true);
            try {
                for (Memslot slot : mem.overlapping(r[0], r[1]))
                    migrateShared(slot, Math.max(r[0], slot.baseGfn()), Math.min(r[1], slot.endGfn()));
            } finally {
                mmu.zap.invalidateEnd();
            }
        } finally {
            mem.unlockSlots();
        }
    }

    private void migrateShared(Memslot slot, long start, long end) {
        List<long[]> contents = new ArrayList<>();
        for (long gfn = start; gfn < end; gfn++) {
            long pfn = slot.hvaPfnIfPresent(gfn);
            if (pfn >= 0)
                contents.add(new long[] { gfn, mem.host.read(pfn) });
        }
        slot.discardShared(start, end);
        for (long[] c : contents)
            mem.host.write(slot.hvaPfn(c[0]), c[1]);
    }

    /** MMU-notifier age / test-young over the shared-kind roots: counts young 4K pages; aging clears A. */
    long age(long gpa, long size, boolean clear) {
        long[] r = Ranges.gfnRange(clear ? "age" : "test_age", gpa, size, mmu.caps.maxGfn());
        status.requireAlive();
        return mmu.aging.age(r[0], r[1], clear);
    }

    /**
     * {@code kvm_recover_nx_huge_pages}: one pass of the recovery worker, inside the memslots' SRCU section (a
     * table in a dirty-logged slot is only unaccounted).
     */
    int recoverNxHugePages() {
        status.requireAlive();
        mem.srcu.readLock();
        try {
            return mmu.nx.recover(mem::dirtyLogged);
        } finally {
            mem.srcu.readUnlock();
        }
    }
}
