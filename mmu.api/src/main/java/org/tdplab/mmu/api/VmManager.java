package org.tdplab.mmu.api;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;
import org.tdplab.mmu.api.backend.BackendInfo;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmOption;

/** The core service: creates VMs of the types the discovered backends serve (the {@code KVM_CREATE_VM} analogue). */
@ProviderType
public interface VmManager {
    /**
     * Creates a VM served by the backend for {@code type}.
     *
     * @param name a unique name for the VM
     * @param type the VM type, e.g. {@code default}
     * @param vcpus number of vCPUs, at least 1
     * @param gpaw guest physical address width (48 or 52)
     * @param options backend options ({@code k=v} of {@code vm.create})
     * @throws MmuException {@code ENODEV} for a type no backend serves, naming the types available;
     *     {@code EEXIST} for a name in use; {@code EINVAL} for bad values
     */
    Vm create(String name, String type, int vcpus, int gpaw, Map<String, String> options);

    Optional<Vm> find(String name);

    Collection<Vm> vms();

    /** The backends discovered now, ordered by VM type. */
    List<BackendInfo> backends();

    /** The verbs the discovered backends contribute to the scenario language, e.g. {@code NAMESPACE.finalize}. */
    List<VerbSpec> verbs();

    /** The creation options of each VM type the discovered backends serve, by type ({@code vm.create k=v…}). */
    default Map<String, List<VmOption>> options() {
        return Map.of();
    }

    /** Subscribes to trace events of every VM. */
    void addObserver(MmuObserver observer);

    void removeObserver(MmuObserver observer);
}
