package org.tdplab.mmu.tdp.vm;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.CheckReport;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.Remaining;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.SpteInfo;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mem.HostMemory;
import org.tdplab.mmu.tdp.mmu.Stats;
import org.tdplab.mmu.tdp.mmu.TdpMmu;
import org.tdplab.mmu.tdp.pt.Rcu;
import org.tdplab.mmu.tdp.pt.TablePool;
import org.tdplab.mmu.tdp.vcpu.Vcpu;

/**
 * A VM as the core holds it: the {@link Vm} facade. Every ioctl is one line that records the operation, enters the
 * backend gate and hands the work to the collaborator that does it — memslots, dirty log, memory, guest accesses,
 * conversions, faults, teardown, inspection — each of which gets only the parts of the VM it needs. Long because
 * {@link Vm} has that many methods; none holds more than the call it forwards.
 */
public final class CoreVm implements Vm {
    private final VmCapabilities caps;
    final TdpMmu mmu;
    private final VmStatus status;
    final Vcpus vcpus;
    final VmMemory mem;
    private final Tracer trace;
    /** The VMM's operations as the trace records them, for replays. */
    private final OperationStream ops;
    /** Which backend serves the VM, and the hot-swap gate every ioctl passes. */
    private final BackendSlot gate;
    private final CoreVmContext context;
    private final MemslotOps memslots;
    private final DirtyLog dirtyLog;
    private final HostOps host;
    private final FaultHandler faults;
    private final PreFaultMemory preFault;
    private final GuestOps guest;
    private final Conversions conversions;
    private final Teardown teardown;
    private final Inspection inspection;
    private final Consumer<CoreVm> onDestroy;
    private final VmStats stats;
    /** The simulated host (session) the VM belongs to. */
    final HostScope hostScope;

    CoreVm(int id, String name, String type, int nvcpus, VmCapabilities caps, HostMemory memory, Backend backend,
            Map<String, String> options, List<MmuObserver> observers, Consumer<CoreVm> onDestroy) {
        this(id, name, type, nvcpus, caps, memory, backend, options, observers, onDestroy, new HostScope(0));
    }

    CoreVm(int id, String name, String type, int nvcpus, VmCapabilities caps, HostMemory memory, Backend backend,
            Map<String, String> options, List<MmuObserver> observers, Consumer<CoreVm> onDestroy, HostScope hostScope) {
        this.caps = caps;
        this.hostScope = hostScope;
        this.onDestroy = onDestroy;
        this.trace = new Tracer(name, observers);
        this.ops = new OperationStream(trace);
        if (trace.on())
            trace.operation(OperationStream.createVm(type, nvcpus, caps.gpaw(), caps.sharedBit(), options));
        TablePool pool = new TablePool(VmMemory.tableFrames(memory, id));
        Stats counters = new Stats();
        this.vcpus = new Vcpus(nvcpus, pool, counters);
        this.status = new VmStatus(name, type, vcpus.guestMode, caps.preFaultAllowed());
        this.gate = new BackendSlot(status, options);
        this.mmu = new TdpMmu(caps, pool, new CoreMmuHost(status, vcpus, trace, gate), counters);
        ExpectedMemory expected = new ExpectedMemory();
        this.mem = new VmMemory(id, memory, caps, new Rcu(pool), expected, new GmemEvents(mmu, gate, expected));
        this.faults = new FaultHandler(status, mem, mmu, gate, trace);
        this.preFault = new PreFaultMemory(status, mem, mmu, faults);
        this.guest = new GuestOps(status, vcpus, mem, mmu, vcpus.guestMode, gate, faults, trace);
        this.host = new HostOps(status, mem, mmu, gate);
        this.conversions = new Conversions(status, mem, mmu, gate, host, guest, trace, ops);
        this.memslots = new MemslotOps(status, mem, mmu);
        this.dirtyLog = new DirtyLog(status, mem, mmu);
        this.teardown = new Teardown(status, vcpus, mem, mmu, gate);
        this.inspection = new Inspection(status, mmu, vcpus, mem, gate);
        this.context = new CoreVmContext(status, mmu, vcpus, mem, faults, guest, host, trace,
                this::recoverNxHugePages, hostScope, gate);
        this.stats = new VmStats(mmu, context, gate);
        try {
            gate.attach(backend, context);
        } catch (MmuException e) {
            if (trace.on())
                trace.operationFailed(e.errno().name());
            throw e;
        }
    }

    /** A VM ioctl: recorded in the operation stream, run on the read side of the backend gate. */
    private <T> T ioctl(Supplier<String> text, Supplier<T> body) {
        return ops.call(text, () -> gate.call(body));
    }

    private void ioctl(Supplier<String> text, Runnable body) {
        ops.run(text, () -> gate.run(body));
    }

    /** A vCPU ioctl: through the gate, then under {@code vcpu->mutex} once the VM is known to be able to run it. */
    private <T> T onVcpu(int index, Function<Vcpu, T> body) {
        return gate.call(() -> {
            status.requireAlive();
            return Vcpus.locked(vcpus.get(index, status.name), body);
        });
    }

    // ---- identity and state ---------------------------------------------------------------------------------

    @Override
    public String name() {
        return status.name;
    }

    @Override
    public String type() {
        return status.type;
    }

    @Override
    public int vcpus() {
        return vcpus.count();
    }

    @Override
    public VmCapabilities capabilities() {
        return caps;
    }

    @Override
    public boolean bugged() {
        return status.bugged();
    }

    @Override
    public Optional<String> bugReason() {
        return status.bugReason();
    }

    @Override
    public boolean dead() {
        return status.dead();
    }

    @Override
    public Optional<String> deadReason() {
        return status.deadReason();
    }

    // ---- host operations ------------------------------------------------------------------------------------

    @Override
    public void addMemslot(int slot, long gpa, long size, Set<SlotFlag> flags, PageSize backing) {
        ioctl(() -> OperationStream.addMemslot(slot, gpa, size, flags, backing),
                () -> memslots.add(slot, gpa, size, flags, backing));
    }

    @Override
    public void deleteMemslot(int slot) {
        ioctl(() -> OperationStream.deleteMemslot(slot), () -> memslots.delete(slot));
    }

    @Override
    public void moveMemslot(int slot, long gpa) {
        ioctl(() -> OperationStream.moveMemslot(slot, gpa), () -> memslots.move(slot, gpa));
    }

    @Override
    public void setDirtyLogging(int slot, boolean enable, DirtyLogOptions options) {
        ioctl(() -> OperationStream.dirtyLogging(slot, enable, options),
                () -> dirtyLog.setDirtyLogging(slot, enable, options));
    }

    @Override
    public long[] getDirtyLog(int slot) {
        return ioctl(() -> OperationStream.getDirtyLog(slot), () -> dirtyLog.getDirtyLog(slot));
    }

    @Override
    public void clearDirtyLog(int slot, long gpa, long size) {
        ioctl(() -> OperationStream.clearDirtyLog(slot, gpa, size), () -> dirtyLog.clearDirtyLog(slot, gpa, size));
    }

    @Override
    public void setMemoryAttributes(long gpa, long size, boolean isPrivate) {
        ioctl(() -> OperationStream.attributes(gpa, size, isPrivate),
                () -> host.setMemoryAttributes(gpa, size, isPrivate));
    }

    @Override
    public void punchHole(long gpa, long size) {
        ioctl(() -> OperationStream.ranged("FALLOC_FL_PUNCH_HOLE", gpa, size), () -> host.punchHole(gpa, size));
    }

    @Override
    public long prefault(int vcpu, long gpa, long size) {
        try {
            // untraced, the operation stream would only run the body: no lambdas then (a VMM prefaults page by page)
            return trace.on()
                    ? ops.call(() -> OperationStream.prefault(vcpu, gpa, size), () -> prefaultNow(vcpu, gpa, size))
                    : prefaultNow(vcpu, gpa, size);
        } catch (MmuException e) { // nothing done: KVM passes the range back unchanged
            throw e.remaining().isPresent() ? e : e.withRemaining(new Remaining(gpa, size));
        }
    }

    /** {@code KVM_PRE_FAULT_MEMORY} through the gate and under {@code vcpu->mutex}, as {@link #onVcpu} runs it. */
    private long prefaultNow(int vcpu, long gpa, long size) {
        Vcpu v = guest.enterVcpu(vcpu);
        try {
            return preFault.prefault(v, gpa, size);
        } catch (OutOfMemoryError e) {
            throw HeapExhausted.enomem(e);
        } finally {
            guest.exitVcpu(v);
        }
    }

    @Override
    public void zapGfnRange(long gpa, long size) {
        ioctl(() -> OperationStream.ranged("kvm_zap_gfn_range", gpa, size), () -> host.zapGfnRange(gpa, size));
    }

    @Override
    public void notifyUnmap(long gpa, long size) {
        ioctl(() -> OperationStream.ranged("mmu_notifier_invalidate_range", gpa, size),
                () -> host.notifyUnmap(gpa, size));
    }

    @Override
    public long age(long gpa, long size) {
        return ioctl(() -> OperationStream.ranged("clear_young", gpa, size), () -> host.age(gpa, size, true));
    }

    @Override
    public long testAge(long gpa, long size) {
        return ioctl(() -> OperationStream.ranged("test_young", gpa, size), () -> host.age(gpa, size, false));
    }

    @Override
    public int recoverNxHugePages() {
        return ops.call(() -> "kvm_recover_nx_huge_pages", host::recoverNxHugePages);
    }

    @Override
    public VerbResult invoke(String verb, VerbArgs args) {
        return ioctl(() -> OperationStream.verb(verb, args), () -> invokeNow(verb, args));
    }

    /** A backend verb, under {@code slots_lock}; its result (and a range it hands back) goes to the caller. */
    private VerbResult invokeNow(String verb, VerbArgs args) {
        mem.lockSlots(status);
        try {
            VerbResult r = gate.backend().invoke(verb, args);
            return r == null ? VerbResult.NONE : r;
        } finally {
            mem.unlockSlots();
        }
    }

    @Override
    public void destroy() {
        ioctl(() -> "kvm_destroy_vm", () -> teardown.destroy(() -> {
            stats.freeze();
            onDestroy.accept(this);
        }));
    }

    // ---- guest ---------------------------------------------------------------------------------------------

    @Override
    public AccessResult access(int vcpu, Access access, long gpa, long size, Encoding encoding, long value) {
        AccessResult r = guest.run(vcpu, access, gpa, size, encoding, value);
        return r != null ? r : guest.written(gpa, size, value);
    }

    @Override
    public AccessResult convert(int vcpu, boolean toPrivate, long gpa, long size) {
        return onVcpu(vcpu, v -> conversions.convert(v, toPrivate, gpa, size));
    }

    @Override
    public AccessResult accept(int vcpu, long gpa, long size, PageSize level) {
        Vcpu v = guest.enterVcpu(vcpu);
        try {
            return conversions.accept(v, gpa, size, level);
        } catch (OutOfMemoryError e) {
            throw HeapExhausted.enomem(e);
        } finally {
            guest.exitVcpu(v);
        }
    }

    @Override
    public AccessResult mapGpaRange(int vcpu, boolean toPrivate, long gpa, long size) {
        return onVcpu(vcpu, v -> conversions.mapGpaRange(v, toPrivate, gpa, size));
    }

    @Override
    public FaultResult fault(int vcpu, long gpa, long errorCode) {
        return onVcpu(vcpu, v -> guest.exits.fault(v, gpa, errorCode));
    }

    // ---- inspection -----------------------------------------------------------------------------------------

    @Override
    public CheckReport check() {
        return gate.call(inspection::check);
    }

    @Override
    public Optional<SpteInfo> lookup(long gpa, RootKind root) {
        return new CoreMmuView(mmu, mem).lookup(gpa, root);
    }

    @Override
    public List<SpteInfo> walk(long gpa, RootKind root) {
        return new CoreMmuView(mmu, mem).walk(gpa, root);
    }

    /** The counters now; after {@link #destroy()} the final ones, as the teardown left them. */
    @Override
    public Map<String, Long> stats() {
        Map<String, Long> last = stats.finalStats();
        return last != null ? last : gate.call(stats::now);
    }

    @Override
    public Set<String> firmwareCalls() {
        return stats.firmwareCalls();
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
}
