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
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.BackendInfo;
import org.tdplab.mmu.api.backend.VmCapabilities;

/**
 * The core service. Backends come and go as dynamic, greedy references: binding or losing one never
 * re-activates this component, so VMs of other types are undisturbed.
 */
@Component(service = VmManager.class)
public class VmManagerComponent implements VmManager {
    private final BackendRegistry backends = new BackendRegistry();
    private final ConcurrentMap<String, CoreVm> vms = new ConcurrentHashMap<>();

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void bindBackend(ServiceReference<Backend> ref, Backend backend) {
        backends.add(ref, backend);
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
        VmCapabilities caps = backend.capabilities(gpaw, options == null ? Map.of() : options);
        CoreVm vm = new CoreVm(name, type, vcpus, caps, this::forget);
        if (vms.putIfAbsent(name, vm) != null)
            throw new MmuException(Errno.EEXIST, "VM '%s' exists already", name);
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
}
