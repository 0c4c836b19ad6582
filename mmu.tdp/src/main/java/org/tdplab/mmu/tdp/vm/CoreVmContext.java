package org.tdplab.mmu.tdp.vm;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Remaining;
import org.tdplab.mmu.api.backend.FirmwareLatency;
import org.tdplab.mmu.api.backend.OperandInstruction;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mem.Levels;
import org.tdplab.mmu.tdp.mmu.PageFault;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.sync.Backoff;
import org.tdplab.mmu.tdp.vcpu.Vcpu;
import org.tdplab.percpu.PercpuCounters;

/** The core as one VM's backend sees it. */
final class CoreVmContext implements VmContext {
    private final VmStatus status;
    private final TdpMmu mmu;
    private final Vcpus vcpus;
    private final VmMemory mem;
    private final FaultHandler faults;
    private final GuestOps guest;
    private final HostOps hostOps;
    private final Tracer trace;
    /** {@code kvm_recover_nx_huge_pages} as the VM runs it (an operation of its own). */
    private final IntSupplier nxRecovery;
    /** The simulated host the VM belongs to, and the gate that says which service asks for its state. */
    private final HostScope host;
    private final BackendSlot gate;
    /**
     * Firmware calls by name, as the hardware names them: each name's tally, kept by the thread of its first call;
     * other threads count in {@link #firmwareCounts}.
     */
    final Map<String, FirmwareTally> firmwareCalls = new ConcurrentHashMap<>();
    /**
     * Counter 0: the projected firmware time of the calls not counted by their tally's owner, each call priced with
     * {@link #latency}, counted, never slept; then the names' counters for those calls.
     */
    private final PercpuCounters firmwareCounts = new PercpuCounters(8);
    private static final int PROJECTED_NANOS = 0;
    private final AtomicInteger nextCounter = new AtomicInteger(PROJECTED_NANOS + 1);
    /** The table the backend set at attach; it stays with the VM across backend swaps. */
    volatile FirmwareLatency latency = FirmwareLatency.NONE;

    CoreVmContext(VmStatus status, TdpMmu mmu, Vcpus vcpus, VmMemory mem, FaultHandler faults, GuestOps guest,
            HostOps hostOps, Tracer trace, IntSupplier nxRecovery, HostScope host, BackendSlot gate) {
        this.hostOps = hostOps;
        this.host = host;
        this.gate = gate;
        this.status = status;
        this.mmu = mmu;
        this.vcpus = vcpus;
        this.mem = mem;
        this.faults = faults;
        this.guest = guest;
        this.trace = trace;
        this.nxRecovery = nxRecovery;
    }


    @Override
    public <T> T hostState(Class<T> type, java.util.function.Supplier<? extends T> create) {
        return host.state(gate.binding(), type, create);
    }

    @Override
    public String name() {
        return status.name;
    }

    @Override
    public VmCapabilities capabilities() {
        return mmu.caps;
    }

    @Override
    public int vcpus() {
        return vcpus.count();
    }

    @Override
    public long allocFirmwareFrame() {
        return mem.host.alloc(Spte.PG_LEVEL_4K, HostMemory.FIRMWARE, mem.vmId, cpu());
    }

    @Override
    public void freeFirmwareFrame(long pfn) {
        mem.host.free(pfn, Spte.PG_LEVEL_4K, mem.vmId, cpu());
    }

    /** The CPU whose page lists a firmware frame comes from and goes to: the running vCPU's, else none. */
    private int cpu() {
        int v = runningVcpu();
        return v < 0 ? HostMemory.NO_CPU : v;
    }

    @Override
    public long readToken(long pfn) {
        return mem.host.read(pfn);
    }

    @Override
    public void writeToken(long pfn, long token) {
        mem.host.write(pfn, token);
    }

    @Override
    public long sharedToken(long gfn) {
        return mem.sharedToken(gfn);
    }

    @Override
    public void guestDataChanged(long gfn, boolean isPrivate, long token) {
        mem.expected.wrote(gfn, isPrivate, token);
    }

    /** The attribute ioctl's body, for the backend: checked the same way, not traced as an operation of its own. */
    @Override
    public void setMemoryAttributes(long gfn, long npages, boolean toPrivate) {
        if (gfn < 0 || npages <= 0 || npages > mmu.caps.maxGfn() || gfn > mmu.caps.maxGfn() - npages)
            throw new MmuException(Errno.EINVAL, "attributes gfn=0x%x npages=0x%x: not a range below gfn 0x%x", gfn,
                    npages, mmu.caps.maxGfn());
        hostOps.setMemoryAttributes(gfn << 12, npages << 12, toPrivate);
    }

    @Override
    public void bug(String reason) {
        status.bug(reason);
    }

    @Override
    public boolean bugged() {
        return status.bugged();
    }

    /** {@code kvm_tdp_mmu_map_private_pfn}: a synthetic private prefetch fault at 4K on vCPU 0, until not RETRY. */
    @Override
    public boolean mapPrivate(long gfn) {
        Vcpu v = vcpus.all[0];
        v.mutex.lock();
        try {
            return mapPrivate(v, gfn);
        } finally {
            v.mutex.unlock();
        }
    }

    private boolean mapPrivate(Vcpu v, long gfn) {
        for (int tries = 0; tries < 1 << 20; tries++) {
            if (status.dead())
                return false;
            v.loadRoots(mmu.roots);
            int r = faults.handle(v, gfn << 12, 0, true, true);
            if (r == PageFault.RET_PF_FIXED || r == PageFault.RET_PF_SPURIOUS)
                return true;
            if (r != PageFault.RET_PF_RETRY)
                return false;
            // cond_resched() between tries: what holds the fault up (an invalidation, a flush) runs meanwhile
            Backoff.pause(tries, 64, v, 10_000);
        }
        return false;
    }

    @Override
    public long gmemPfn(long gfn) {
        Memslot slot = mem.memslots.find(gfn);
        return slot == null || !slot.isGmem() ? -1 : slot.gmemPfn(gfn);
    }

    @Override
    public long memslotGeneration() {
        return mem.memslots.generation();
    }

    @Override
    public boolean isPrivate(long gfn) {
        return mem.attributes.isPrivate(gfn);
    }

    @Override
    public long nestedWalk(int vcpu, long gfn, boolean isPrivate) {
        return executeOnOperand(vcpu, gfn, isPrivate, null);
    }

    @Override
    public long executeOnOperand(int vcpu, long gfn, boolean isPrivate, OperandInstruction insn) {
        Vcpu v = vcpus.get(vcpu, status.name);
        v.mutex.lock(); // reentrant: the guest hooks run with it held already
        try {
            v.loadRoots(mmu.roots);
            v.operandGfn = gfn;
            return guest.executeOnOperand(v, gfn, isPrivate, insn);
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
        if (mmu.lock.isWriteLockedByMe())
            return mmu.hugePages.splitCrossBoundaryLeafs(gfn, gfn + npages) && !status.bugged();
        if (mmu.lock.isReadLockedByMe()) {
            status.bug(String.format("kvm_split_cross_boundary_leafs at gfn 0x%x with the MMU lock held for read",
                    gfn));
            return false;
        }
        mmu.lock.writeLock();
        try {
            return mmu.hugePages.splitCrossBoundaryLeafs(gfn, gfn + npages) && !status.bugged();
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    @Override
    public void hugepageSetGuestInhibit(long gfn, int level) {
        Memslot slot = mem.memslots.find(gfn);
        if (slot != null && level >= Levels.L2M && level <= Levels.MAX_HUGE)
            slot.setGuestInhibit(gfn, level);
    }

    @Override
    public boolean hugepageTestGuestInhibit(long gfn, int level) {
        Memslot slot = mem.memslots.find(gfn);
        return slot != null && level >= Levels.L2M && level <= Levels.MAX_HUGE && slot.guestInhibited(gfn, level);
    }

    @Override
    public void zapGfnRange(long gfn, long npages) {
        mmu.zap.zapGfnRange(gfn, gfn + npages);
    }

    @Override
    public void kickAllVcpus() {
        vcpus.guestMode.kickAll();
    }

    /** The vCPU whose mutex this thread holds: the model's {@code vcpu_load} is an ioctl taking it. */
    @Override
    public int runningVcpu() {
        for (Vcpu v : vcpus.all)
            if (v.mutex.isHeldByCurrentThread())
                return v.id;
        return -1;
    }

    @Override
    public void allowPreFault() {
        status.allowPreFault();
    }

    /**
     * One firmware call's counter and its price in the latency table it was last priced with (immutable, so a
     * thread that reads a stale one only prices it again).
     */
    private record Counter(String name, FirmwareTally tally, FirmwareLatency table, long nanos) {
    }

    /**
     * The counters of the names called last, by the name's hash: a call site passes the same constant each time,
     * so the common call finds its counter by identity and its price without hashing the name into either map.
     */
    private final Counter[] recent = new Counter[32];
    /** Whether the calling thread runs one of the VM's vCPUs: such a thread claims a pair of a tally it calls. */
    private final java.util.function.BooleanSupplier onVcpu = () -> runningVcpu() >= 0;

    @Override
    public void firmwareCall(String name, long gfn, int level, String status) {
        FirmwareLatency table = latency;
        int i = name.hashCode() & (recent.length - 1);
        Counter c = recent[i];
        if (c == null || c.name != name || c.table != table)
            recent[i] = c = counter(name, table);
        c.tally.count(c.nanos, firmwareCounts, PROJECTED_NANOS, onVcpu);
        trace.firmwareCall(name, gfn, level, status);
    }

    private Counter counter(String name, FirmwareLatency table) {
        FirmwareTally calls = firmwareCalls.get(name); // a plain get first: every call after a name's first
        if (calls == null)
            calls = firmwareCalls.computeIfAbsent(name,
                    n -> new FirmwareTally(nextCounter.getAndIncrement()));
        long ns = table.byName().isEmpty() ? table.otherNanos() : table.nanos(name); // no hashing for an empty table
        return new Counter(name, calls, table, ns);
    }

    /** How many times the firmware was called by {@code tally}'s name. */
    long firmwareCalls(FirmwareTally tally) {
        return tally.calls(firmwareCounts);
    }

    long projectedFirmwareNanos() {
        long ns = firmwareCounts.sum(PROJECTED_NANOS);
        for (FirmwareTally t : firmwareCalls.values())
            ns += t.ownNanos();
        return ns;
    }

    @Override
    public void firmwareLatency(FirmwareLatency table) {
        latency = table == null ? FirmwareLatency.NONE : table;
    }

    @Override
    public int recoverNxHugePages() {
        return nxRecovery.getAsInt();
    }
}
