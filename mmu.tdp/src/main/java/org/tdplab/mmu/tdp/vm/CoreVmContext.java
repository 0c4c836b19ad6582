package org.tdplab.mmu.tdp.vm;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

import org.tdplab.mmu.api.backend.FirmwareLatency;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mem.Levels;
import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/** The core as one VM's backend sees it. */
final class CoreVmContext implements VmContext {
    private final CoreVm vm;
    /** Firmware calls by name, as the hardware names them. */
    final Map<String, LongAdder> firmwareCalls = new ConcurrentHashMap<>();
    /** Projected firmware time: each call priced with {@link #latency}, counted, never slept. */
    final LongAdder projectedFirmwareNanos = new LongAdder();
    /** The table the backend set at attach; it stays with the VM across backend swaps. */
    volatile FirmwareLatency latency = FirmwareLatency.NONE;

    CoreVmContext(CoreVm vm) {
        this.vm = vm;
    }

    @Override
    public String name() {
        return vm.name();
    }

    @Override
    public VmCapabilities capabilities() {
        return vm.caps;
    }

    @Override
    public int vcpus() {
        return vm.vcpus.length;
    }

    @Override
    public long allocFirmwareFrame() {
        return vm.memory.alloc(Spte.PG_LEVEL_4K, HostMemory.FIRMWARE, vm.id);
    }

    @Override
    public void freeFirmwareFrame(long pfn) {
        vm.memory.free(pfn, Spte.PG_LEVEL_4K);
    }

    @Override
    public long readToken(long pfn) {
        return vm.memory.read(pfn);
    }

    @Override
    public void writeToken(long pfn, long token) {
        vm.memory.write(pfn, token);
    }

    @Override
    public long sharedToken(long gfn) {
        Memslot slot = vm.memslots.find(gfn);
        long pfn = slot == null ? -1 : slot.hvaPfnIfPresent(gfn);
        return pfn < 0 ? 0 : vm.memory.read(pfn);
    }

    @Override
    public void guestDataChanged(long gfn, boolean isPrivate, long token) {
        vm.expected.wrote(gfn, isPrivate, token);
    }

    @Override
    public void handBack(long gpa, long size) {
        vm.handBack(gpa, size);
    }

    @Override
    public void bug(String reason) {
        vm.bug(reason);
    }

    @Override
    public boolean bugged() {
        return vm.bugged();
    }

    /** {@code kvm_tdp_mmu_map_private_pfn}: a synthetic private prefetch fault at 4K on vCPU 0, until not RETRY. */
    @Override
    public boolean mapPrivate(long gfn) {
        Vcpu v = vm.vcpus[0];
        v.mutex.lock();
        try {
            return mapPrivate(v, gfn);
        } finally {
            v.mutex.unlock();
        }
    }

    private boolean mapPrivate(Vcpu v, long gfn) {
        for (int tries = 0; tries < 1 << 20; tries++) {
            if (vm.dead())
                return false;
            vm.loadRoots(v);
            int r = vm.faults.handle(v, gfn << 12, 0, true, true);
            if (r == PageFault.RET_PF_FIXED || r == PageFault.RET_PF_SPURIOUS)
                return true;
            if (r != PageFault.RET_PF_RETRY)
                return false;
        }
        return false;
    }

    @Override
    public long gmemPfn(long gfn) {
        Memslot slot = vm.memslots.find(gfn);
        return slot == null || !slot.isGmem() ? -1 : slot.gmemPfn(gfn);
    }

    @Override
    public boolean isPrivate(long gfn) {
        return vm.attributes.isPrivate(gfn);
    }

    @Override
    public long nestedWalk(int vcpu, long gfn, boolean isPrivate) {
        Vcpu v = vm.vcpu(vcpu);
        v.mutex.lock(); // reentrant: the guest hooks run with it held already
        try {
            vm.loadRoots(v);
            v.operandGfn = gfn;
            return vm.guest.nestedWalk(v, gfn, isPrivate);
        } finally {
            v.mutex.unlock();
        }
    }

    /**
     * Splitting keeps every translation, so nothing is flushed. From a hook that already runs under the write lock
     * it splits in place; from one under the read lock it cannot (the kernel would deadlock): the VM is bugged.
     */
    @Override
    public boolean splitCrossBoundaryLeafs(long gfn, long npages) {
        if (vm.mmu.lock.isWriteLockedByMe())
            return vm.mmu.splitCrossBoundaryLeafs(gfn, gfn + npages) && !vm.bugged();
        if (vm.mmu.lock.isReadLockedByMe()) {
            vm.bug(String.format("kvm_split_cross_boundary_leafs at gfn 0x%x with the MMU lock held for read", gfn));
            return false;
        }
        vm.mmu.lock.writeLock();
        try {
            return vm.mmu.splitCrossBoundaryLeafs(gfn, gfn + npages) && !vm.bugged();
        } finally {
            vm.mmu.lock.writeUnlock();
        }
    }

    @Override
    public void hugepageSetGuestInhibit(long gfn, int level) {
        Memslot slot = vm.memslots.find(gfn);
        if (slot != null && level >= Levels.L2M && level <= Levels.MAX_HUGE)
            slot.setGuestInhibit(gfn, level);
    }

    @Override
    public boolean hugepageTestGuestInhibit(long gfn, int level) {
        Memslot slot = vm.memslots.find(gfn);
        return slot != null && level >= Levels.L2M && level <= Levels.MAX_HUGE && slot.guestInhibited(gfn, level);
    }

    @Override
    public void zapGfnRange(long gfn, long npages) {
        vm.host().zapLeafs(gfn, gfn + npages);
    }

    @Override
    public void kickAllVcpus() {
        vm.guestMode.kickAll();
    }

    @Override
    public void allowPreFault() {
        vm.allowPreFault();
    }

    @Override
    public void firmwareCall(String name, long gfn, int level, String status) {
        firmwareCalls.computeIfAbsent(name, n -> new LongAdder()).increment();
        long ns = latency.nanos(name);
        if (ns != 0)
            projectedFirmwareNanos.add(ns);
        vm.trace.firmwareCall(name, gfn, level, status);
    }

    @Override
    public void firmwareLatency(FirmwareLatency table) {
        latency = table == null ? FirmwareLatency.NONE : table;
    }

    @Override
    public int recoverNxHugePages() {
        return vm.recoverNxHugePages();
    }
}
