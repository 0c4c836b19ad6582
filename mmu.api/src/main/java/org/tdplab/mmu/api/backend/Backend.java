package org.tdplab.mmu.api.backend;

import java.util.List;
import java.util.Map;

import org.osgi.annotation.versioning.ConsumerType;
import org.tdplab.mmu.api.MmuException;

/**
 * A VM-type backend, registered as a service with the {@link VmType} and {@link Capabilities} properties.
 * One service per VM type it serves. The core checks the {@code mmu.cap.*} properties against
 * {@link #capabilities} of a VM with no options when it binds the service, and refuses a service whose properties
 * contradict them (a log line names the property and both values); a property left out is derived.
 *
 * <p>The service object serves every VM of its type in the process, across runs and sessions: what VMs of one
 * simulated host share (key pools, a reverse map) belongs in {@link VmContext#hostState}, not in fields of the
 * service, so that each session ({@code VmManager#session}, a file of {@code ./tdplab run}) starts from a fresh host.
 */
@ConsumerType
public interface Backend {
    /** Service property naming the VM type ({@code default}, {@code sw_protected}, …). */
    String VM_TYPE = "mmu.vm.type";

    /** The VM type this service serves; equal to its {@link #VM_TYPE} property. */
    String vmType();

    /**
     * The capabilities of a VM of this type with this configuration. The options are the creation options, typed
     * by the core against {@link #options()}: only listed keys, each value of its option's type.
     *
     * @throws MmuException {@code EINVAL} for a guest physical address width or an option value (or combination)
     *     the type does not take, naming it
     */
    VmCapabilities capabilities(int gpaw, VerbArgs options);

    /**
     * Creates the backend's side of a new VM ({@code kvm_x86_ops.vm_init}). The context is how the backend
     * reaches the core for that VM; the options are those {@link #capabilities} accepted.
     */
    VmBackend attach(VmContext vm, VerbArgs options);

    /** The key of a {@link VmBackend#snapshot()} that holds its format version (an {@code Integer}). */
    String SNAPSHOT_VERSION = "snapshot.version";

    /**
     * Takes over a live VM whose previous backend of this type went away: rebuilds the backend's side from the
     * plain-data {@link VmBackend#snapshot() snapshot} the previous one left (decoded with
     * {@link SnapshotCodec#decode}, which names what differs in one it cannot take), without touching the core's state
     * (tables, memory, tokens stay as they are). The default serves stateless backends: it accepts only the default
     * snapshot (version 1 and nothing else) and attaches afresh.
     *
     * @throws MmuException {@code EINVAL} for a snapshot version (or content) this backend cannot take; the VM
     *     then stays suspended
     */
    default VmBackend restore(VmContext vm, VerbArgs options, Map<String, Object> snapshot) {
        Object version = snapshot.get(SNAPSHOT_VERSION);
        if (!Integer.valueOf(1).equals(version) || snapshot.size() != 1)
            throw new MmuException(org.tdplab.mmu.api.Errno.EINVAL,
                    "VM type '%s': snapshot version %s with %d entries is incompatible (this backend restores only "
                            + "the stateless version 1)", vmType(), version, snapshot.size());
        return attach(vm, options);
    }

    /**
     * The names of the counters its VMs' {@link VmBackend#stats()} report that count firmware calls (firmware leaf
     * functions, reverse-map instructions, firmware commands), in any spelling: what workloads, reports, the shell and
     * {@code expect stat} treat as firmware calls ({@code Vm#firmwareCalls}); a declared name a VM has not called yet
     * reads 0. A name recorded through {@link VmContext#firmwareCall} counts as a firmware call whether declared or
     * not; counters that are not calls (a status seen, a retry) must not be listed.
     */
    default java.util.Set<String> firmwareCalls() {
        return java.util.Set.of();
    }

    /**
     * The guest exceptions its VMs' hooks raise ({@link Walk#exception}) that this type names itself, by vector: a
     * virtualization exception, say ({@code 20 → "VE"}). Results and traces show an exception by this name
     * ({@code exception NAME}), and {@code expect exception NAME} accepts it; a vector not listed is named as x86
     * names it ({@link Walk#architecturalName}: {@code PF} for 14, {@code GP} for 13, {@code EXC<vector>} otherwise).
     */
    default Map<Integer, String> exceptions() {
        return Map.of();
    }

    /** The statements this backend contributes to the scenario language. */
    default List<VerbSpec> verbs() {
        return List.of();
    }

    /**
     * The {@code key=value} options a VM of this type takes at creation, typed. The core refuses any other key, and
     * any value its option's type refuses, with {@code EINVAL} before {@link #capabilities} is called; listed also
     * for help, completion and documentation.
     */
    default List<VmOption> options() {
        return List.of();
    }
}
