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

    /** A live VM by name: any VM of the process for the manager itself, only its own for a {@link #session()}. */
    Optional<Vm> find(String name);

    /** The live VMs: every VM of the process for the manager itself, only its own for a {@link #session()}. */
    Collection<Vm> vms();

    /**
     * The VMs that were destroyed, in the order they were, each with its final counters: what a report shows of VMs
     * it no longer has. A {@link #session()} keeps all of its own; the manager itself the last
     * {@link #DESTROYED_KEPT} of the whole process.
     */
    List<DestroyedVm> destroyed();

    /** How many destroyed VMs the manager itself remembers ({@link #destroyed()}). */
    int DESTROYED_KEPT = 1024;

    /**
     * A new session: a manager over the same backends and host memory whose VMs form one simulated host of their
     * own, so whatever a backend shares among the VMs of a host (key pools, a reverse map, firmware-global state:
     * {@code VmContext#hostState}) starts fresh for it. {@link #find}, {@link #vms} and {@link #destroyed} of a
     * session see only its own VMs; VM names stay unique across all sessions. {@code ./tdplab run} runs each file in
     * a session of its own, and the shell is one. Observers are shared with the manager.
     */
    VmManager session();

    /** The backends discovered now, ordered by VM type. */
    List<BackendInfo> backends();

    /** The verbs the discovered backends contribute to the scenario language, e.g. {@code NAMESPACE.finalize}. */
    List<VerbSpec> verbs();

    /** The creation options of each VM type the discovered backends serve, by type ({@code vm.create k=v…}). */
    default Map<String, List<VmOption>> options() {
        return Map.of();
    }

    /**
     * The names of the guest exceptions the discovered backends declare ({@code Backend.exceptions()}), which
     * {@code expect exception NAME} accepts besides the architectural ones.
     */
    default java.util.Set<String> exceptionNames() {
        return java.util.Set.of();
    }

    /** Subscribes to trace events of every VM. */
    void addObserver(MmuObserver observer);

    void removeObserver(MmuObserver observer);
}
