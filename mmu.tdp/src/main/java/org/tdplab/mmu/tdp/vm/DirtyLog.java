package org.tdplab.mmu.tdp.vm;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.slot.Memslot;

/**
 * Dirty logging of one VM's memslots: enabling (eager split and write protection, or nothing yet with
 * {@code initially_set}), {@code KVM_GET_DIRTY_LOG} (clearing and protecting, or with manual protect only a copy),
 * {@code KVM_CLEAR_DIRTY_LOG}, disabling (huge pages rebuilt in place), by write protection or by D bits.
 * Serialized by {@code slots_lock}, like the other memslot ioctls.
 */
final class DirtyLog {
    private final VmStatus status;
    private final VmMemory mem;
    private final TdpMmu mmu;

    DirtyLog(VmStatus status, VmMemory mem, TdpMmu mmu) {
        this.status = status;
        this.mem = mem;
        this.mmu = mmu;
    }

    /** How each logging slot was enabled: manual protect, and whether the log started all set. */
    private final Map<Integer, DirtyLogOptions> logOptions = new ConcurrentHashMap<>();

    /** {@code kvm_dirty_log_manual_protect_and_init_set}: protection is lazy, range by range at each clear. */
    private boolean manualInitSet(int id) {
        DirtyLogOptions o = logOptions.get(id);
        return o != null && o.initiallySet();
    }

    /** {@code kvm->manual_dirty_log_protect}: GET hands the log out, only CLEAR clears and protects. */
    private boolean manual(int id) {
        DirtyLogOptions o = logOptions.get(id);
        return o != null && o.manualProtect();
    }

    /** {@code KVM_GET_DIRTY_LOG} and {@code KVM_CLEAR_DIRTY_LOG} answer ENOENT for a missing or unlogged slot. */
    private Memslot loggingSlot(int id) {
        Memslot slot = mem.slot(id, Errno.ENOENT, status.name);
        if (!slot.isDirtyLogging())
            throw new MmuException(Errno.ENOENT, "memslot %d does not log dirty pages", id);
        return slot;
    }

    void setDirtyLogging(int id, boolean enable, DirtyLogOptions options) {
        mem.lockSlots(status);
        try {
            Memslot slot = mem.slot(id, Errno.EINVAL, status.name);
            if (enable && options.initiallySet() && !options.manualProtect()) // kvm_vm_ioctl_enable_cap_generic
                throw new MmuException(Errno.EINVAL, "memslot %d: KVM_DIRTY_LOG_INITIALLY_SET is allowed only with "
                        + "KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE (initially_set=on needs manual_protect=on)", id);
            if (slot.isGmem())
                throw new MmuException(Errno.EINVAL, "memslot %d is bound to guest_memfd: no dirty logging", id);
            // kvm_set_memory_region: the same flags again is "nothing to change" (no split, no protection)
            if (slot.isDirtyLogging() == enable)
                return;
            mem.memslots.setDirtyLog(id, enable, options.initiallySet());
            // kvm_swap_active_memslots: faults that read the old flags finish before the protection below
            mem.srcu.synchronize();
            if (enable)
                logOptions.put(id, options);
            else
                logOptions.remove(id);
            if (slot.isReadonly()) {
                // kvm_mmu_slot_apply_flags: "Nothing more to do for RO slots" (no split, protection or recovery)
            } else if (enable && options.initiallySet()) {
                // "Initially-all-set does not require write protecting any page, because they're all assumed to be
                // dirty": splitting and protection happen lazily, range by range, at each KVM_CLEAR_DIRTY_LOG
            } else if (enable) {
                // kvm_mmu_slot_apply_flags: eager_page_split first, then write-protect the (4K) leaves
                if (options.eagerSplit())
                    mmu.hugePages.split(slot.baseGfn(), slot.endGfn());
                // under the read lock, vCPU faults going on; then the unconditional flush
                mmu.dirtyLog.startLogging(slot.baseGfn(), slot.endGfn());
            }
            else
                // kvm_mmu_recover_huge_pages: the split tables become huge leaves again, in place
                mmu.hugePages.recover(slot.baseGfn(), slot.endGfn(),
                        gfn -> slot.maxMappingLevel(gfn, slot.hostMappingLevel(gfn), false));
        } finally {
            mem.unlockSlots();
        }
    }

    long[] getDirtyLog(int id) {
        mem.lockSlots(status);
        try {
            Memslot slot = loggingSlot(id);
            if (manual(id))
                return slot.snapshotDirty(); // kvm_get_dirty_log_protect, manual protect: no clearing, no protection
            // kvm_get_dirty_log_protect: xchg the words and protect under the write lock, so no fault (which marks
            // under the read lock) falls between the harvest and the protection
            mmu.lock.writeLock();
            try {
                long[] bitmap = slot.getAndClearDirty();
                // it flushes when any page was dirty, whether or not a leaf changed
                boolean any = false;
                for (long word : bitmap)
                    any |= word != 0;
                mmu.dirtyLog.writeProtect(slot.baseGfn(), slot.endGfn(), bitmap, any);
                return bitmap;
            } finally {
                mmu.lock.writeUnlock();
            }
        } finally {
            mem.unlockSlots();
        }
    }

    /**
     * {@code KVM_CLEAR_DIRTY_LOG} of no pages: kvm_clear_dirty_log_protect checks the slot and the first page (a
     * multiple of 64 pages into the slot, inside it) and then has nothing to clear.
     */
    private void clearNothing(int id, long gpa) {
        mem.lockSlots(status);
        try {
            Memslot slot = loggingSlot(id);
            long gfn = gpa >>> 12;
            if ((gpa & 0xfff) != 0 || gfn < slot.baseGfn() || gfn >= slot.endGfn()
                    || (gfn - slot.baseGfn()) % 64 != 0)
                throw new MmuException(Errno.EINVAL, "dirty.clear gpa=0x%x size=0x0: the first page must be a "
                        + "multiple of 64 pages into memslot %d", gpa, id);
        } finally {
            mem.unlockSlots();
        }
    }

    void clearDirtyLog(int id, long gpa, long size) {
        if (size == 0) {
            clearNothing(id, gpa);
            return;
        }
        long[] r = Ranges.gfnRange("dirty.clear", gpa, size, mmu.caps.maxGfn());
        mem.lockSlots(status);
        try {
            Memslot slot = loggingSlot(id);
            if (r[0] < slot.baseGfn() || r[1] > slot.endGfn())
                throw new MmuException(Errno.EINVAL, "gpa=0x%x size=0x%x is not inside memslot %d", gpa, size, id);
            long first = r[0] - slot.baseGfn(), npages = r[1] - r[0];
            if ((first & 63) != 0)
                throw new MmuException(Errno.EINVAL, "dirty.clear gpa=0x%x: the first page must be a multiple of 64 "
                        + "pages into memslot %d (it is %d)", gpa, id, first);
            if ((npages & 63) != 0 && r[1] != slot.endGfn())
                throw new MmuException(Errno.EINVAL, "dirty.clear size=0x%x: must be a multiple of 64 pages unless "
                        + "it reaches the end of memslot %d", size, id);
            // KVM_CLEAR_DIRTY_LOG works on 64-page words of the bitmap, from a first page that is a multiple of 64
            // kvm_clear_dirty_log_protect: clear and protect under the write lock, as GET does
            mmu.lock.writeLock();
            try {
                boolean any = false;
                long[] cleared = new long[(int) ((npages + 63) >>> 6)];
                for (long gfn = r[0]; gfn < r[1]; gfn += 64) {
                    long pages = Math.min(64, r[1] - gfn);
                    long word = slot.getAndClearDirty(gfn, pages == 64 ? -1L : (1L << pages) - 1);
                    cleared[(int) ((gfn - r[0]) >>> 6)] = word;
                    any |= word != 0;
                }
                // kvm_arch_mmu_enable_log_dirty_pt_masked with initially-set: the huge pages of the range are split
                // (eager splitting) now, the first time they are cleared; the protection covers what stays huge
                if (any && manualInitSet(id) && logOptions.get(id).eagerSplit())
                    mmu.hugePages.split(r[0], r[1]);
                mmu.dirtyLog.writeProtect(r[0], r[1], cleared, any, manualInitSet(id));
            } finally {
                mmu.lock.writeUnlock();
            }
        } finally {
            mem.unlockSlots();
        }
    }
}
