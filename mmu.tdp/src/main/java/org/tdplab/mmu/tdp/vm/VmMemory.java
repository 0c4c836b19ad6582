package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mem.GmemListener;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.pt.Rcu;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.slot.MemAttributes;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.slot.Memslots;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * One VM's guest memory: its memslots and attributes (and the guest_memfd files behind them), the host memory they
 * draw frames from, the data oracle, and the locks that order changes of them against faults.
 */
final class VmMemory {
    final int vmId;
    final HostMemory host;
    final Memslots memslots;
    final MemAttributes attributes;
    /** The data oracle: what the guest last wrote to each page. */
    final ExpectedMemory expected;
    /** Guest reads that returned something other than what was last written there. */
    final List<String> dataViolations = Collections.synchronizedList(new ArrayList<>());
    /** {@code kvm->srcu}: memslot readers (faults); a memslot change waits for them before it zaps. */
    final Rcu srcu;
    /** {@code slots_lock}: serializes the VMM's ioctls that change memslots, attributes and guest_memfd. */
    final ReentrantLock slotsLock = new ReentrantLock();

    VmMemory(int vmId, HostMemory host, VmCapabilities caps, Rcu srcu, ExpectedMemory expected,
            GmemListener gmemEvents) {
        this.vmId = vmId;
        this.host = host;
        this.srcu = srcu;
        this.expected = expected;
        this.memslots = new Memslots(host, vmId, caps.maxGfn() - 1, caps.privateMem(), caps.protectedState(),
                gmemEvents);
        this.attributes = memslots.attributes();
    }

    /**
     * The data token of the host frame a slot's host map gives a shared GFN now (0: none), read as a hint only: it
     * allocates nothing, takes no lock, and a racing change of the map or the frame makes it stale, not wrong (its
     * value feeds nothing). A vCPU whose walk just ended in a violation reads it so that the token's cache line
     * misses while the walk's own miss is still pending, not after the fault when the access stores its token.
     */
    long peekSharedToken(long gfn) {
        Memslot s = memslots.find(gfn);
        long pfn = s == null ? -1 : s.hvaPfnIfPresent(gfn);
        return pfn < 0 ? 0 : host.read(pfn);
    }

    /** The frames of the VM's page tables, from host memory. */
    static TableFrames tableFrames(HostMemory host, int vmId) {
        return new TableFrames() {
            @Override
            public long allocFrame(int tableId) {
                return host.alloc(Spte.PG_LEVEL_4K, HostMemory.PAGE_TABLE, vmId);
            }

            @Override
            public void freeFrame(long pfn) {
                host.free(pfn, Spte.PG_LEVEL_4K);
            }
        };
    }

    /** Takes {@code slots_lock} for an ioctl of a VM that can still run it. */
    void lockSlots(VmStatus status) {
        status.requireAlive();
        slotsLock.lock();
    }

    void unlockSlots() {
        slotsLock.unlock();
    }

    /** A memslot an ioctl names; {@code missing} is what KVM answers when there is none. */
    Memslot slot(int id, Errno missing, String vmName) {
        Memslot slot = memslots.get(id);
        if (slot == null)
            throw new MmuException(missing, "VM '%s' has no memslot %d", vmName, id);
        return slot;
    }

    /** The slots overlapping {@code [start, end)}, in GFN order. */
    List<Memslot> overlapping(long start, long end) {
        List<Memslot> out = new ArrayList<>();
        for (Memslot slot : memslots.snapshot())
            if (slot.baseGfn() < end && slot.endGfn() > start)
                out.add(slot);
        return out;
    }

    /** Whether {@code gfn} lies in a memslot that logs dirty pages. */
    boolean dirtyLogged(long gfn) {
        Memslot slot = memslots.find(gfn);
        return slot != null && slot.isDirtyLogging();
    }

    /** The guest_memfd pfn behind a private GFN if its folio is there, or -1 (no allocation). */
    long gmemPfnIfPresent(long gfn) {
        Memslot slot = memslots.find(gfn);
        return slot == null || !slot.isGmem() ? -1 : slot.gmem().pfnIfPresent(slot.gmemIndex(gfn));
    }

    /** Whether the guest_memfd page behind a private GFN is locked ({@link org.tdplab.mmu.tdp.mem.GuestMemfd#locked}). */
    boolean gmemLocked(long gfn) {
        Memslot slot = memslots.find(gfn);
        return slot != null && slot.isGmem() && slot.gmem().locked(slot.gmemIndex(gfn));
    }

    /** The token of the shared page behind {@code gfn}, or 0 when none is there. */
    long sharedToken(long gfn) {
        Memslot slot = memslots.find(gfn);
        long pfn = slot == null ? -1 : slot.hvaPfnIfPresent(gfn);
        return pfn < 0 ? 0 : host.read(pfn);
    }
}
