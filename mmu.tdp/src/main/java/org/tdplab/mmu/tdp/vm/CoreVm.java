package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Remaining;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.check.CheckTarget;
import org.tdplab.mmu.tdp.check.InvariantChecker;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mmu.MmuHost;
import org.tdplab.mmu.tdp.mmu.Stat;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.Rcu;
import org.tdplab.mmu.tdp.pt.TableFrames;
import org.tdplab.mmu.tdp.slot.MemAttributes;
import org.tdplab.mmu.tdp.slot.Memslot;
import org.tdplab.mmu.tdp.slot.Memslots;
import org.tdplab.mmu.tdp.spte.Spte;
import org.tdplab.mmu.tdp.vcpu.GuestMode;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * A VM as the core holds it: memslots, memory attributes, the TDP MMU, vCPUs and the backend's side. Host
 * operations are serialized by {@code slots_lock}; MMU state changes take the MMU lock as the kernel does.
 */
public final class CoreVm implements Vm, MmuHost {
    private final String name;
    private final String type;
    final int id;
    final VmCapabilities caps;
    final HostMemory memory;
    final Memslots memslots;
    final MemAttributes attributes;
    final TdpMmu mmu;
    final Vcpu[] vcpus;
    final GuestMode guestMode;
    final Tracer trace;
    /** The VMM's operations as the trace records them, for replays. */
    final OperationStream ops;
    final ExpectedMemory expected = new ExpectedMemory();
    /** {@code kvm->srcu}: memslot readers (faults); a memslot change waits for them before it zaps. */
    final Rcu srcu;
    final FaultHandler faults;
    final GuestOps guest;
    private final HostOps host;
    private final DirtyLog dirtyLog;
    private volatile boolean preFaultAllowed;
    /** The backend's side now; null while suspended. Hooks read it once per call (a volatile read). */
    private volatile VmBackend backend;
    /** What serves this VM; swapped under the write side of {@link #gate}. */
    private final BackendSlot gate;
    private final Map<String, String> options;
    private final CoreVmContext context;
    private final Consumer<CoreVm> onDestroy;
    /** {@code slots_lock}: serializes the VMM's ioctls that change memslots, attributes and guest_memfd. */
    final ReentrantLock slotsLock = new ReentrantLock();
    /** Guest reads that returned something other than what was last written there. */
    final List<String> dataViolations = Collections.synchronizedList(new ArrayList<>());
    private volatile String bugReason;
    /** Why KVM marked the VM dead ({@code kvm_vm_dead}); a bug kills it too. */
    private volatile String deadReason;
    private volatile boolean destroyed;

    CoreVm(int id, String name, String type, int nvcpus, VmCapabilities caps, HostMemory memory, Backend backend,
            Map<String, String> options, List<MmuObserver> observers, Consumer<CoreVm> onDestroy) {
        this.id = id;
        this.name = name;
        this.type = type;
        this.caps = caps;
        this.memory = memory;
        this.onDestroy = onDestroy;
        this.trace = new Tracer(name, observers);
        this.ops = new OperationStream(trace);
        if (trace.on())
            trace.operation(OperationStream.createVm(type, nvcpus, caps.gpaw(), caps.sharedBit(), options));
        this.memslots = new Memslots(memory, id, caps.maxGfn() - 1, caps.privateMem(), caps.protectedState(),
                new GmemEvents(this));
        this.attributes = memslots.attributes();
        this.mmu = new TdpMmu(caps, tableFrames(), this);
        this.srcu = new Rcu(mmu.pool);
        this.vcpus = new Vcpu[nvcpus];
        for (int i = 0; i < nvcpus; i++)
            vcpus[i] = new Vcpu(i, mmu.pool);
        this.guestMode = new GuestMode(vcpus);
        this.faults = new FaultHandler(this);
        this.guest = new GuestOps(this);
        this.host = new HostOps(this);
        this.dirtyLog = new DirtyLog(this, host);
        this.preFaultAllowed = caps.preFaultAllowed();
        this.context = new CoreVmContext(this);
        this.options = Map.copyOf(options);
        this.gate = new BackendSlot(this);
        try {
            this.backend = backend.attach(context, options);
        } catch (MmuException e) {
            if (trace.on())
                trace.operationFailed(e.errno().name());
            throw e;
        }
        gate.attached(backend);
    }

    private TableFrames tableFrames() {
        return new TableFrames() {
            @Override
            public long allocFrame(int tableId) {
                return memory.alloc(Spte.PG_LEVEL_4K, HostMemory.PAGE_TABLE, id);
            }

            @Override
            public void freeFrame(long pfn) {
                memory.free(pfn, Spte.PG_LEVEL_4K);
            }
        };
    }

    // ---- identity -----------------------------------------------------------------------------------------

    @Override
    public String name() {
        return name;
    }

    @Override
    public String type() {
        return type;
    }

    @Override
    public int vcpus() {
        return vcpus.length;
    }

    @Override
    public VmCapabilities capabilities() {
        return caps;
    }

    @Override
    public VmBackend backend() {
        return backend;
    }

    // ---- KVM_BUG_ON and kvm_vm_dead ---------------------------------------------------------------------------

    /** {@code kvm_vm_bugged}: marks the VM bugged, then dead. */
    @Override
    public void bug(String reason) {
        synchronized (this) {
            if (bugReason == null)
                bugReason = reason;
        }
        kill(reason);
    }

    /** {@code kvm_vm_dead}: later ioctls fail with EIO, and KVM_REQ_VM_DEAD keeps every vCPU out of the guest. */
    void kill(String reason) {
        if (deadReason == null) {
            synchronized (this) {
                if (deadReason == null)
                    deadReason = reason;
            }
            guestMode.kickAll();
        }
    }

    @Override
    public boolean bugged() {
        return bugReason != null;
    }

    @Override
    public Optional<String> bugReason() {
        return Optional.ofNullable(bugReason);
    }

    @Override
    public boolean dead() {
        return deadReason != null;
    }

    @Override
    public Optional<String> deadReason() {
        return Optional.ofNullable(deadReason);
    }

    /** Refuses an ioctl on a dead or destroyed VM. */
    void requireAlive() {
        if (destroyed)
            throw new MmuException(Errno.ENODEV, "VM '%s' was destroyed", name);
        if (deadReason != null)
            throw new MmuException(Errno.EIO, "VM '%s' is %s (%s)", name, bugReason != null ? "bugged" : "dead",
                    deadReason);
    }

    Vcpu vcpu(int index) {
        if (index < 0 || index >= vcpus.length)
            throw new MmuException(Errno.EINVAL, "vcpu=%d: VM '%s' has vCPUs 0..%d", index, name, vcpus.length - 1);
        return vcpus[index];
    }

    // ---- MmuHost ----------------------------------------------------------------------------------------------

    @Override
    public void flushRemoteTlbs(long gfn, long npages) {
        mmu.stats.inc(Stat.REMOTE_TLB_FLUSH_REQUESTS);
        mmu.stats.inc(Stat.REMOTE_TLB_FLUSH);
        trace.tlbFlush(gfn, npages);
        guestMode.flushAll();
    }

    @Override
    public void requestRootReload() {
        for (Vcpu v : vcpus)
            v.reloadRoots = true;
        // a KVM_REQUEST_WAIT request: vCPUs leave guest mode before the obsolete roots are zapped
        guestMode.kickAll();
    }

    @Override
    public void traceSpteChanged(RootKind root, long gfn, int level, long oldSpte, long newSpte) {
        trace.spteChanged(root, gfn, level, oldSpte, newSpte);
    }

    // ---- roots as vCPUs hold them -------------------------------------------------------------------------

    /** {@code kvm_mmu_reload}: before entering the guest a vCPU drops obsolete roots and loads valid ones. */
    void loadRoots(Vcpu v) {
        if (v.directRoot != 0 && (v.reloadRoots || mmu.pool.isInvalid(v.directRoot))) {
            v.reloadRoots = false;
            int old = v.directRoot;
            v.directRoot = 0;
            mmu.lock.readLock();
            try {
                mmu.putRoot(old);
            } finally {
                mmu.lock.readUnlock();
            }
        }
        v.reloadRoots = false;
        if (caps.mirroredPt() && v.mirrorRoot == 0)
            v.mirrorRoot = withReadLock(() -> mmu.getRoot(true));
        if (v.directRoot == 0) {
            v.directRoot = withReadLock(() -> mmu.getRoot(false));
            v.tlb.flush(); // a newly loaded root is flushed locally (kvm_mmu_load)
        }
    }

    private int withReadLock(java.util.function.IntSupplier op) {
        mmu.lock.readLock();
        try {
            return op.getAsInt();
        } finally {
            mmu.lock.readUnlock();
        }
    }

    /** {@code tdp_mmu_get_root_for_fault}: the mirror root for private GPAs of mirrored VMs. */
    int rootForFault(Vcpu v, boolean isPrivate) {
        return caps.mirroredPt() && isPrivate ? v.mirrorRoot : v.directRoot;
    }

    int directRootOf(Vcpu v) {
        return v.directRoot;
    }

    /** The guest_memfd pfn for a private GFN of a gmem slot (allocating and preparing the folio), or -1. */
    long gmemPfn(Memslot slot, long gfn) {
        return slot.gmemPfn(gfn);
    }

    // ---- host operations ------------------------------------------------------------------------------------

    @Override
    public void addMemslot(int slot, long gpa, long size, Set<SlotFlag> flags, PageSize backing) {
        ops.run(() -> OperationStream.addMemslot(slot, gpa, size, flags, backing),
                () -> gate.run(() -> host.addMemslot(slot, gpa, size, flags, backing)));
    }

    @Override
    public void deleteMemslot(int slot) {
        ops.run(() -> OperationStream.deleteMemslot(slot), () -> gate.run(() -> host.deleteMemslot(slot)));
    }

    @Override
    public void moveMemslot(int slot, long gpa) {
        ops.run(() -> OperationStream.moveMemslot(slot, gpa), () -> gate.run(() -> host.moveMemslot(slot, gpa)));
    }

    @Override
    public void setDirtyLogging(int slot, boolean enable, DirtyLogOptions options) {
        ops.run(() -> OperationStream.dirtyLogging(slot, enable, options),
                () -> gate.run(() -> dirtyLog.setDirtyLogging(slot, enable, options)));
    }

    @Override
    public long[] getDirtyLog(int slot) {
        return ops.call(() -> OperationStream.getDirtyLog(slot), () -> gate.call(() -> dirtyLog.getDirtyLog(slot)));
    }

    @Override
    public void clearDirtyLog(int slot, long gpa, long size) {
        ops.run(() -> OperationStream.clearDirtyLog(slot, gpa, size),
                () -> gate.run(() -> dirtyLog.clearDirtyLog(slot, gpa, size)));
    }

    @Override
    public void setMemoryAttributes(long gpa, long size, boolean isPrivate) {
        ops.run(() -> OperationStream.attributes(gpa, size, isPrivate),
                () -> gate.run(() -> host.setMemoryAttributes(gpa, size, isPrivate)));
    }

    @Override
    public void punchHole(long gpa, long size) {
        ops.run(() -> OperationStream.ranged("FALLOC_FL_PUNCH_HOLE", gpa, size),
                () -> gate.run(() -> host.punchHole(gpa, size)));
    }

    @Override
    public long prefault(int vcpu, long gpa, long size) {
        return ops.call(() -> OperationStream.prefault(vcpu, gpa, size),
                () -> onVcpu(vcpu, v -> guest.prefault(v, gpa, size)));
    }

    @Override
    public void zapGfnRange(long gpa, long size) {
        ops.run(() -> OperationStream.ranged("kvm_zap_gfn_range", gpa, size),
                () -> gate.run(() -> host.zapGfnRange(gpa, size)));
    }

    @Override
    public void notifyUnmap(long gpa, long size) {
        ops.run(() -> OperationStream.ranged("mmu_notifier_invalidate_range", gpa, size),
                () -> gate.run(() -> host.notifyUnmap(gpa, size)));
    }

    @Override
    public long age(long gpa, long size) {
        return ops.call(() -> OperationStream.ranged("clear_young", gpa, size),
                () -> gate.call(() -> host.age(gpa, size, true)));
    }

    @Override
    public int recoverNxHugePages() {
        return ops.call(() -> "kvm_recover_nx_huge_pages", this::recoverNxHugePagesNow);
    }

    private int recoverNxHugePagesNow() {
        requireAlive();
        srcu.readLock();
        try {
            return mmu.recoverNxHugePages(gfn -> {
                Memslot slot = memslots.find(gfn);
                return slot != null && slot.isDirtyLogging();
            });
        } finally {
            srcu.readUnlock();
        }
    }

    @Override
    public long testAge(long gpa, long size) {
        return ops.call(() -> OperationStream.ranged("test_young", gpa, size),
                () -> gate.call(() -> host.age(gpa, size, false)));
    }

    @Override
    public CheckReport check() {
        return gate.call(this::checkNow);
    }

    private CheckReport checkNow() {
        mmu.lock.writeLock();
        try {
            CheckTarget target = new CheckTarget(mmu, memslots, attributes, vcpus, guestMode, bugged());
            List<String> violations = new ArrayList<>(new InvariantChecker(target).run());
            synchronized (dataViolations) {
                violations.addAll(dataViolations);
            }
            violations.addAll(mmu.opViolations());
            violations.addAll(backend.check(new CoreMmuView(this)));
            return new CheckReport(violations, InvariantChecker.CHECKED);
        } finally {
            mmu.lock.writeUnlock();
        }
    }

    // ---- guest ---------------------------------------------------------------------------------------------

    @Override
    public AccessResult access(int vcpu, Access access, long gpa, long size, Encoding encoding, long value) {
        Vcpu v = enterVcpu(vcpu);
        try {
            return guest.access(v, access, gpa, size, encoding, value);
        } catch (OutOfMemoryError e) {
            throw HeapExhausted.enomem(e);
        } finally {
            exitVcpu(v);
        }
    }

    @Override
    public AccessResult convert(int vcpu, boolean toPrivate, long gpa, long size) {
        return onVcpu(vcpu, v -> guest.convert(v, toPrivate, gpa, size));
    }

    @Override
    public AccessResult accept(int vcpu, long gpa, long size, PageSize level) {
        Vcpu v = enterVcpu(vcpu);
        try {
            return guest.accept(v, gpa, size, level);
        } catch (OutOfMemoryError e) {
            throw HeapExhausted.enomem(e);
        } finally {
            exitVcpu(v);
        }
    }

    @Override
    public AccessResult mapGpaRange(int vcpu, boolean toPrivate, long gpa, long size) {
        return onVcpu(vcpu, v -> guest.mapGpaRange(v, toPrivate, gpa, size));
    }

    @Override
    public FaultResult fault(int vcpu, long gpa, long errorCode) {
        return onVcpu(vcpu, v -> guest.fault(v, gpa, errorCode));
    }

    /**
     * {@link #onVcpu} without a lambda, for the guest's accesses (one per page in a workload): the gate's read side,
     * the liveness check and {@code vcpu->mutex}; {@link #exitVcpu} undoes it.
     */
    private Vcpu enterVcpu(int index) {
        gate.enter();
        try {
            requireAlive();
            Vcpu v = vcpu(index);
            v.mutex.lock();
            return v;
        } catch (RuntimeException e) {
            gate.exit();
            throw e;
        }
    }

    private void exitVcpu(Vcpu v) {
        v.mutex.unlock();
        gate.exit();
    }

    /** A vCPU ioctl: under {@code vcpu->mutex}, after checking that the VM can still run it. */
    private <T> T onVcpu(int index, java.util.function.Function<Vcpu, T> ioctl) {
        return gate.call(() -> onVcpuNow(index, ioctl));
    }

    private <T> T onVcpuNow(int index, java.util.function.Function<Vcpu, T> ioctl) {
        requireAlive();
        Vcpu v = vcpu(index);
        v.mutex.lock();
        try {
            return ioctl.apply(v);
        } finally {
            v.mutex.unlock();
        }
    }

    // ---- inspection -----------------------------------------------------------------------------------------

    @Override
    public Optional<SpteInfo> lookup(long gpa, RootKind root) {
        return new CoreMmuView(this).lookup(gpa, root);
    }

    @Override
    public List<SpteInfo> walk(long gpa, RootKind root) {
        return new CoreMmuView(this).walk(gpa, root);
    }

    @Override
    public Map<String, Long> stats() {
        return gate.call(this::statsNow);
    }

    private Map<String, Long> statsNow() {
        Map<String, Long> out = new LinkedHashMap<>(mmu.stats.snapshot());
        context.firmwareCalls.forEach((name, count) -> out.put(name, count.sum()));
        out.put("projected_firmware_ns", context.projectedFirmwareNanos.sum());
        out.putAll(backend.stats());
        if (gate.suspensions.sum() > 0) { // only VMs that went through a backend swap carry these
            out.put("swap_suspensions", gate.suspensions.sum());
            out.put("swap_ops_waited", gate.opsWaited.sum());
            out.put("swap_last_pause_us", gate.lastPauseNanos / 1000);
        }
        return out;
    }

    @Override
    public Optional<Remaining> invoke(String verb, Map<String, String> options, Set<String> flags) {
        return ops.call(() -> OperationStream.verb(verb, options, flags),
                () -> gate.call(() -> invokeNow(verb, options, flags)));
    }

    /** The range the verb running now handed back ({@link CoreVmContext#handBack}); under {@link #slotsLock}. */
    private Remaining handedBack;

    private Optional<Remaining> invokeNow(String verb, Map<String, String> options, Set<String> flags) {
        requireAlive();
        slotsLock.lock();
        handedBack = null;
        try {
            backend.invoke(verb, options, flags);
            return Optional.ofNullable(handedBack);
        } catch (MmuException e) {
            throw handedBack == null ? e : e.withRemaining(handedBack);
        } finally {
            handedBack = null;
            slotsLock.unlock();
        }
    }

    /** A verb running under {@link #slotsLock} hands back the rest of its range. */
    void handBack(long gpa, long size) {
        handedBack = new Remaining(gpa, size);
    }

    // ---- teardown -----------------------------------------------------------------------------------------

    /**
     * The kernel's order: vCPUs drop their roots; guest_memfd release zaps every private SPTE while the key is
     * still assigned; the backend releases its key; the TDP MMU zaps and frees every root (mirror tables last,
     * after the key release); memslots and guest_memfd go; the backend's own teardown runs last.
     */
    @Override
    public void destroy() {
        ops.run(() -> "kvm_destroy_vm", () -> gate.run(this::destroyNow));
    }

    private void destroyNow() {
        slotsLock.lock();
        try {
            if (destroyed)
                return;
            host.teardown();
            destroyed = true;
        } finally {
            slotsLock.unlock();
        }
        onDestroy.accept(this);
    }

    // ---- hot swap ---------------------------------------------------------------------------------------------

    @Override
    public Optional<String> suspension() {
        return gate.suspension();
    }

    @Override
    public String backendVersion() {
        return gate.servingVersion();
    }

    BackendSlot gate() {
        return gate;
    }

    CoreVmContext context() {
        return context;
    }

    Map<String, String> options() {
        return options;
    }

    /** Only {@link BackendSlot}, under the write side of its gate. */
    void setBackend(VmBackend b) {
        backend = b;
    }

    HostOps host() {
        return host;
    }

    boolean preFaultAllowed() {
        return preFaultAllowed;
    }

    void allowPreFault() {
        preFaultAllowed = true;
    }

    boolean destroyed() {
        return destroyed;
    }
}
