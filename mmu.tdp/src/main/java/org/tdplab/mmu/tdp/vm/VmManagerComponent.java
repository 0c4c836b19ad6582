package org.tdplab.mmu.tdp.vm;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import org.tdplab.mmu.api.DestroyedVm;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.BackendInfo;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mem.HostMemory;

/**
 * The core service. Backends come and go as dynamic, greedy references: binding or losing one never
 * re-activates this component, so VMs of other types are undisturbed.
 */
@Component(service = VmManager.class, configurationPid = "org.tdplab.mmu.core")
public class VmManagerComponent implements VmManager {
    private final BackendRegistry backends = new BackendRegistry();
    private final ConcurrentMap<String, CoreVm> vms = new ConcurrentHashMap<>();
    /** The host of the VMs created through the manager itself; sessions have their own. */
    private final HostScope host = new HostScope(DESTROYED_KEPT);
    /** Every VM destroyed in the process, the last {@link #DESTROYED_KEPT}. */
    private final HostScope everyHost = new HostScope(DESTROYED_KEPT);
    /** Every host (session) still in use, to drop a departing service's host state. */
    private final java.util.Set<HostScope> hosts = java.util.Collections.synchronizedSet(
            java.util.Collections.newSetFromMap(new java.util.WeakHashMap<>()));
    /** Simulated host physical memory, shared by every VM as a host's RAM is; it grows up to its limit. */
    private final HostMemory memory = hostMemory(hostMemoryLimit());

    static HostMemory hostMemory(long limit) {
        return new HostMemory(Math.min(HostMemory.DEFAULT_SIZE, limit), limit);
    }
    private final List<MmuObserver> observers = new CopyOnWriteArrayList<>();
    /** Where a refused backend service is reported, one line each (the console; tests listen). */
    volatile java.util.function.Consumer<String> log = System.err::println;
    private final AtomicInteger ids = new AtomicInteger();
    private volatile long suspendTimeoutNanos = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(
            BackendSlot.DEFAULT_TIMEOUT_MS);

    /** {@code -Dtdplab.host.memory.max=SIZE} (bytes, or with K, M, G, T): how far host memory may grow. */
    static long hostMemoryLimit() {
        String v = System.getProperty(HostMemory.LIMIT_PROPERTY);
        if (v == null || v.isBlank())
            return HostMemory.DEFAULT_LIMIT;
        String t = v.strip().toUpperCase(java.util.Locale.ROOT);
        int shift = switch (t.charAt(t.length() - 1)) {
        case 'K' -> 10;
        case 'M' -> 20;
        case 'G' -> 30;
        case 'T' -> 40;
        default -> 0;
        };
        try {
            long n = Long.parseLong(shift == 0 ? t : t.substring(0, t.length() - 1));
            long bytes = n << shift;
            if (n > 0 && bytes >>> shift == n && bytes >= 1L << 30)
                return bytes >>> 30 << 30; // whole gigabytes: the memory grows 1G at a time
        } catch (NumberFormatException e) {
            // fall through: the default, as for a value that makes no sense
        }
        return HostMemory.DEFAULT_LIMIT;
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void bindBackend(ServiceReference<Backend> ref, Backend backend) {
        Optional<String> refused = backends.add(ref, backend);
        if (refused.isPresent()) {
            log.accept("tdplab: " + refused.get());
            return;
        }
        resumeSuspended(backend.vmType());
        upgradeTo(backend);
    }

    /**
     * A newer version of the bundle serving live VMs arrived next to it (a jar dropped into {@code load/} beside the
     * running one): those VMs move to it the way a swap moves them — drained, snapshotted, restored.
     */
    private void upgradeTo(Backend newer) {
        BackendInfo info = backends.infoOf(newer).orElse(null);
        if (info == null)
            return;
        for (CoreVm vm : vms.values()) {
            Backend current = vm.gate().serving();
            if (current == null || current == newer || !vm.type().equals(info.vmType()))
                continue;
            BackendInfo old = backends.infoOf(current).orElse(null);
            if (old == null || !old.bundle().equals(info.bundle())
                    || BackendRegistry.version(old.version()).compareTo(BackendRegistry.version(info.version())) >= 0)
                continue;
            if (vm.gate().suspend(current))
                resumeSuspended(vm.type());
        }
    }

    /**
     * {@code suspend.timeout.ms} (component property or ConfigAdmin, PID {@code org.tdplab.mmu.core}; else the
     * framework property {@code tdplab.suspend.timeout.ms}; default 3000): how long an operation of a suspended VM
     * waits for a backend of its type.
     */
    @Activate
    @Modified
    void configure(BundleContext context, Map<String, Object> properties) {
        Object v = properties.get("suspend.timeout.ms");
        if (v == null && context != null)
            v = context.getProperty("tdplab.suspend.timeout.ms");
        long ms = v == null ? BackendSlot.DEFAULT_TIMEOUT_MS : Long.parseLong(v.toString().trim());
        suspendTimeoutNanos = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(ms);
        vms.values().forEach(vm -> vm.gate().timeoutNanos = suspendTimeoutNanos);
    }

    /** Outside a container (tests, benchmarks): binds a backend the way the service reference would. */
    void unbindStandalone(Backend backend) {
        backends.remove(backend);
        forgetHostState(backend);
        for (CoreVm vm : vms.values())
            vm.gate().suspend(backend);
        resumeSuspended(backend.vmType());
    }

    void bindStandalone(Backend backend, long id, String version) {
        bindStandalone(backend, id, version, Map.of());
    }

    /** As a bind of a service with these {@code mmu.cap.*} properties (without the prefix, as text). */
    boolean bindStandalone(Backend backend, long id, String version, Map<String, String> caps) {
        Optional<String> refused = backends.add(backend, new BackendInfo(backend.vmType(), caps, "standalone", version,
                id), 0);
        if (refused.isPresent()) {
            log.accept("tdplab: " + refused.get());
            return false;
        }
        resumeSuspended(backend.vmType());
        upgradeTo(backend);
        return true;
    }

    void setSuspendTimeoutMillis(long ms) {
        configure(null, Map.of("suspend.timeout.ms", ms));
    }

    void bindStandalone(Backend backend, long id) {
        bindStandalone(backend, id, "0");
    }

    /**
     * The service goes away: the VMs it serves are suspended (their operations drain first, then its snapshot is
     * taken), and handed to another backend of their type when one is bound. Other VMs are not touched.
     */
    void unbindBackend(ServiceReference<Backend> ref, Backend backend) {
        backends.remove(ref);
        forgetHostState(backend);
        for (CoreVm vm : vms.values())
            vm.gate().suspend(backend);
        resumeSuspended(backend.vmType());
    }

    private void forgetHostState(Backend backend) {
        host.forget(backend);
        synchronized (hosts) {
            hosts.forEach(h -> h.forget(backend));
        }
    }

    private void resumeSuspended(String type) {
        for (CoreVm vm : vms.values()) {
            if (!vm.type().equals(type) || vm.gate().serving() != null)
                continue;
            for (BackendRegistry.Bound b : backends.ranked(type)) // the first that accepts the snapshot
                if (vm.gate().resume(b.backend(), b.info().bundle() + " " + b.info().version()))
                    break;
        }
    }

    @Override
    public Vm create(String name, String type, int vcpus, int gpaw, Map<String, String> options) {
        return create(host, name, type, vcpus, gpaw, options);
    }

    Vm create(HostScope in, String name, String type, int vcpus, int gpaw, Map<String, String> options) {
        if (name == null || name.isBlank())
            throw new MmuException(Errno.EINVAL, "a VM needs a name");
        // the type first, as KVM_CREATE_VM takes it before any vCPU is made: an unknown type is ENODEV whatever else
        Backend backend = backends.forType(type).orElseThrow(() -> new MmuException(Errno.ENODEV,
                "no backend serves VM type '%s'; available: %s", type, String.join(", ", backends.types())));
        if (vcpus < 1 || vcpus > 1024)
            throw new MmuException(Errno.EINVAL, "vcpus=%d: must be 1..1024", vcpus);
        Map<String, String> opts = options == null ? Map.of() : options;
        VmCapabilities caps = backend.capabilities(gpaw, VerbArgs.creation(type, backend.options(), opts));
        if (caps == null || !type.equals(caps.vmType()))
            throw new MmuException(Errno.EIO, "the backend serving VM type '%s' described a VM of type '%s'", type,
                    caps == null ? "none" : caps.vmType());
        if (vms.containsKey(name))
            throw new MmuException(Errno.EEXIST, "VM '%s' exists already", name);
        CoreVm vm = new CoreVm(ids.incrementAndGet(), name, type, vcpus, caps, memory, backend, opts, observers,
                this::forget, in);
        vm.gate().timeoutNanos = suspendTimeoutNanos;
        backends.infoOf(backend).ifPresent(i -> vm.gate().describe(i.bundle() + " " + i.version()));
        if (vms.putIfAbsent(name, vm) != null) {
            vm.destroy();
            throw new MmuException(Errno.EEXIST, "VM '%s' exists already", name);
        }
        return vm;
    }

    /** A destroyed VM leaves the list; its final counters stay with its host and the manager. */
    private void forget(CoreVm vm) {
        if (!vms.remove(vm.name(), vm))
            return; // never listed: it lost a race for its name at creation
        DestroyedVm last = new DestroyedVm(vm.name(), vm.type(), vm.stats(), vm.firmwareCalls(), vm.bugged(),
                vm.deadReason().orElse(""));
        vm.hostScope.destroyed(last);
        everyHost.destroyed(last);
    }

    /** The live VMs of one host. */
    Collection<Vm> vms(HostScope of) {
        return vms.values().stream().filter(v -> v.hostScope == of).map(v -> (Vm) v).toList();
    }

    Optional<Vm> find(HostScope of, String name) {
        return Optional.ofNullable(vms.get(name)).filter(v -> v.hostScope == of).map(v -> v);
    }

    /** Every VM destroyed in the process (the last {@link #DESTROYED_KEPT}). */
    @Override
    public List<DestroyedVm> destroyed() {
        return everyHost.destroyed();
    }

    @Override
    public VmManager session() {
        HostScope h = new HostScope(Integer.MAX_VALUE);
        hosts.add(h);
        return new HostSession(this, h);
    }

    @Override
    public Optional<Vm> find(String name) {
        return Optional.ofNullable(vms.get(name));
    }

    @Override
    public Collection<Vm> vms() {
        return List.copyOf(vms.values());
    }

    @Override
    public List<BackendInfo> backends() {
        return backends.all();
    }

    @Override
    public List<VerbSpec> verbs() {
        return backends.verbs();
    }

    @Override
    public Map<String, List<VmOption>> options() {
        return backends.options();
    }

    @Override
    public Set<String> exceptionNames() {
        return backends.exceptionNames();
    }

    @Override
    public void addObserver(MmuObserver observer) {
        observers.add(observer);
    }

    @Override
    public void removeObserver(MmuObserver observer) {
        observers.remove(observer);
    }
}
