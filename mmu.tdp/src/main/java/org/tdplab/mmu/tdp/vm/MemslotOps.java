package org.tdplab.mmu.tdp.vm;

import java.util.Set;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.slot.Memslot;

/** {@code KVM_SET_USER_MEMORY_REGION2}: adding, deleting and moving memslots, with the zap a change needs. */
final class MemslotOps {
    private final VmStatus status;
    private final VmMemory mem;
    private final TdpMmu mmu;

    MemslotOps(VmStatus status, VmMemory mem, TdpMmu mmu) {
        this.status = status;
        this.mem = mem;
        this.mmu = mmu;
    }

    /** A memslot the region ioctl names: KVM answers EINVAL for a slot that does not exist. */
    private Memslot slot(int id) {
        return mem.slot(id, Errno.EINVAL, status.name);
    }

    void add(int id, long gpa, long size, Set<SlotFlag> flags, PageSize backing) {
        int f = (flags.contains(SlotFlag.GMEM) ? Memslot.GMEM : 0)
                | (flags.contains(SlotFlag.READONLY) ? Memslot.READONLY : 0)
                | (flags.contains(SlotFlag.DIRTY_LOG) ? Memslot.DIRTY_LOG : 0);
        mem.lockSlots(status);
        try {
            mem.memslots.add(id, gpa, size, f, backing.level());
        } finally {
            mem.unlockSlots();
        }
    }

    void delete(int id) {
        mem.lockSlots(status);
        try {
            Memslot slot = slot(id);
            mem.memslots.delete(id, this::zapMemslot);
            mem.expected.discard(slot.baseGfn(), slot.endGfn(), false);
            mem.expected.discard(slot.baseGfn(), slot.endGfn(), true);
        } finally {
            mem.unlockSlots();
        }
    }

    void move(int id, long gpa) {
        mem.lockSlots(status);
        try {
            Memslot slot = slot(id);
            long oldBase = slot.baseGfn(), npages = slot.npages();
            mem.memslots.move(id, gpa, this::zapMemslot);
            mem.expected.move(oldBase, gpa >>> 12, npages);
        } finally {
            mem.unlockSlots();
        }
    }

    /**
     * {@code kvm_invalidate_memslot} + {@code kvm_arch_flush_shadow_memslot}: while the slot is invalid faults
     * retry; default VMs keep the zap-all quirk (fast zap of direct roots), every other VM zaps just the slot.
     */
    private void zapMemslot(Memslot slot) {
        // kvm_swap_active_memslots: faults that found the slot still valid finish before the zap
        mem.srcu.synchronize();
        if (mmu.caps.slotZapAll())
            mmu.zap.zapAllFast();
        else
            mmu.zap.unmapAndFlushLocked(slot.baseGfn(), slot.endGfn(), true, true);
    }
}
