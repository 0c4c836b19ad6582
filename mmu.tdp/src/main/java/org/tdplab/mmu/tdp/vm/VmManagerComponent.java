package org.tdplab.mmu.tdp.vm;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.BackendInfo;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmCapabilities;
import org.tdplab.mmu.tdp.mem.HostMemory;

/**
 * The core service. Backends come and go as dynamic, greedy references: binding or losing one never
 * re-activates this component, so VMs of other types are undisturbed.
 */
@Component(service = VmManager.class)
public class VmManagerComponent implements VmManager {
    private final BackendRegistry backends = new BackendRegistry();
    private final ConcurrentMap<String, CoreVm> vms = new ConcurrentHashMap<>();
    /** Simulated host physical memory, shared by every VM as a host's RAM is. */
    private final HostMemory memory = new HostMemory();
    private final List<MmuObserver> observers = new CopyOnWriteArrayList<>();
    private final AtomicInteger ids = new AtomicInteger();

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void bindBackend(ServiceReference<Backend> ref, Backend backend) {
        backends.add(ref, backend);
    }

    /** Outside a container (tests, benchmarks): binds a backend the way the service reference would. */
    void bindStandalone(Backend backend, long id) {
        backends.add(backend, new BackendInfo(backend.vmType(), Map.of(), "standalone", "0", id), 0);
    }

    void unbindBackend(ServiceReference<Backend> ref) {
        backends.remove(ref);
    }

    @Override
    public Vm create(String name, String type, int vcpus, int gpaw, Map<String, String> options) {
        if (name == null || name.isBlank())
            throw new MmuException(Errno.EINVAL, "a VM needs a name");
        if (vcpus < 1 || vcpus > 1024)
            throw new MmuException(Errno.EINVAL, "vcpus=%d: must be 1..1024", vcpus);
        Backend backend = backends.forType(type).orElseThrow(() -> new MmuException(Errno.ENODEV,
                "no backend serves VM type '%s'; available: %s", type, String.join(", ", backends.types())));
        Map<String, String> opts = options == null ? Map.of() : options;
        VmCapabilities caps = backend.capabilities(gpaw, opts);
        if (vms.containsKey(name))
            throw new MmuException(Errno.EEXIST, "VM '%s' exists already", name);
        CoreVm vm = new CoreVm(ids.incrementAndGet(), name, type, vcpus, caps, memory, backend, opts, observers,
                this::forget);
        if (vms.putIfAbsent(name, vm) != null) {
            vm.destroy();
            throw new MmuException(Errno.EEXIST, "VM '%s' exists already", name);
        }
        return vm;
    }

    private void forget(CoreVm vm) {
        vms.remove(vm.name(), vm);
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
    public void addObserver(MmuObserver observer) {
        observers.add(observer);
    }

    @Override
    public void removeObserver(MmuObserver observer) {
        observers.remove(observer);
    }
}
