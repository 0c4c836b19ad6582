package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * {@code kvm_destroy_vm}, in the kernel's order: vCPUs drop their roots; guest_memfd release zaps every private
 * SPTE while the key is still assigned; the backend releases its key; the TDP MMU zaps and frees every root
 * (mirror tables last, after the key release); memslots and guest_memfd go; the backend's own teardown runs last.
 */
final class Teardown {
    private final VmStatus status;
    private final Vcpus vcpus;
    private final VmMemory mem;
    private final TdpMmu mmu;
    private final BackendSlot gate;

    Teardown(VmStatus status, Vcpus vcpus, VmMemory mem, TdpMmu mmu, BackendSlot gate) {
        this.status = status;
        this.vcpus = vcpus;
        this.mem = mem;
        this.mmu = mmu;
        this.gate = gate;
    }

    /** Destroys the VM once; {@code forget} then drops it from the VM list. */
    void destroy(Runnable forget) {
        mem.slotsLock.lock();
        try {
            if (status.destroyed())
                return;
            teardown();
            status.destroyed(true);
        } finally {
            mem.slotsLock.unlock();
        }
        forget.run();
    }

    private void teardown() {
        mmu.lock.readLock();
        try {
            for (Vcpu v : vcpus.all)
                mmu.roots.release(v.roots);
        } finally {
            mmu.lock.readUnlock();
        }
        // guest_memfd release: every private SPTE goes while the key is still assigned
        mmu.lock.writeLock();
        try {
            for (Memslot slot : mem.memslots.snapshot())
                if (slot.isGmem())
                    mmu.zap.unmapAndFlush(slot.baseGfn(), slot.endGfn(), true, false);
        } finally {
            mmu.lock.writeUnlock();
        }
        gate.backend().releaseKey();
        mmu.lock.writeLock();
        try {
            mmu.zap.teardown();
        } finally {
            mmu.lock.writeUnlock();
        }
        mmu.rcu.synchronize();
        for (Memslot slot : mem.memslots.snapshot())
            mem.memslots.delete(slot.id());
        gate.backend().teardown();
        mem.host.releaseCpus(mem.vmId); // what its vCPUs' frame lists still hold
    }
}
